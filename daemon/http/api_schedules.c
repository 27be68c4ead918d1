/* Handlers of /api/v1/schedules: create, list, get (with firings), patch, delete. */
#include "api.h"
#include "common/errors.h"
#include "queue/schedules.h"

static void schedules_changed(hs_req *req)
{
    if (req->app->schedules_changed)
        req->app->schedules_changed(req->app->schedules_changed_arg);
}

static void respond_status(hs_req *req, hs_resp *resp, hs_schedule_status status,
                           const hs_spec_error *serr, cJSON *out, int ok_status)
{
    switch (status) {
    case HS_SCHEDULE_OK:
        schedules_changed(req);
        return hs_resp_stored_json(req, resp, ok_status, out);
    case HS_SCHEDULE_INVALID:
        return hs_resp_error(resp, 400, "invalid schedule", serr->field, "%s", serr->detail);
    case HS_SCHEDULE_NOT_FOUND:
        return hs_resp_error(resp, 404, "not found", NULL, "no schedule %lld", (long long)req->id);
    case HS_SCHEDULE_CONFLICT:
        return hs_resp_error(resp, 409, "name taken", "name",
                             "another schedule already has this name");
    }
}

/* POST /schedules (create) and PATCH /schedules/{id}: the body, the store, the answer. */
static void write_schedule(hs_req *req, hs_resp *resp, bool create)
{
    cJSON *body = hs_req_json_object(req, resp);
    if (!body)
        return;
    cJSON *out = NULL;
    hs_schedule_status status;
    hs_spec_error serr = {{0}, {0}};
    char err[HS_ERR_LEN];
    hs_app *app = req->app;
    int rc = hs_schedule_write(app->store, &app->env, body, create, req->id, &out, &status,
                               &serr, err, sizeof err);
    cJSON_Delete(body);
    if (rc != 0)
        return hs_resp_internal(resp, err);
    respond_status(req, resp, status, &serr, out, create ? 201 : 200);
}

void hs_api_schedules_create(hs_req *req, hs_resp *resp) { write_schedule(req, resp, true); }

void hs_api_schedules_list(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *arr;
    char err[HS_ERR_LEN];
    if (hs_schedule_list_json(db, &arr, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    hs_resp_stored_member(req, resp, 200, "schedules", arr);
}

void hs_api_schedule_get(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *o;
    char err[HS_ERR_LEN];
    if (hs_schedule_get_json(db, req->id, true, &o, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!o)
        return hs_resp_error(resp, 404, "not found", NULL, "no schedule %lld", (long long)req->id);
    hs_resp_stored_json(req, resp, 200, o);
}

void hs_api_schedule_patch(hs_req *req, hs_resp *resp) { write_schedule(req, resp, false); }

void hs_api_schedule_delete(hs_req *req, hs_resp *resp)
{
    hs_schedule_status status;
    char err[HS_ERR_LEN];
    if (hs_schedule_delete(req->app->store, req->id, &status, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (status == HS_SCHEDULE_NOT_FOUND)
        return hs_resp_error(resp, 404, "not found", NULL, "no schedule %lld", (long long)req->id);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)req->id);
        cJSON_AddBoolToObject(o, "deleted", 1);
    }
    hs_resp_json(resp, 200, o);
}
