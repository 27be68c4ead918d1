/* DELETE of stored outcomes: a finished run, one of its checkpoints, an uploaded corpus
 * (store/run_delete.h does the checks, the rows and then the files). 409 "in use" names what
 * holds it; 404 when there is no such thing. */
#include "api.h"
#include "common/errors.h"
#include "store/job_store.h"
#include "store/run_delete.h"
#include <stdio.h>

/* Answers the outcome of a deletion; done_body (consumed) is the 200 answer. */
static void answer(hs_req *req, hs_resp *resp, int rc, hs_delete_outcome outcome,
                   const char *why, const char *err, cJSON *done_body)
{
    if (rc != 0 || outcome != HS_DELETE_DONE)
        cJSON_Delete(done_body);
    if (rc != 0)
        return hs_resp_internal(resp, err);
    if (outcome == HS_DELETE_NOT_FOUND)
        return hs_resp_error(resp, 404, "not found", NULL, "%s", why);
    if (outcome == HS_DELETE_HELD)
        return hs_resp_error(resp, 409, "in use", NULL, "%s", why);
    hs_resp_stored_json(req, resp, 200, done_body);
}

void hs_api_run_delete(hs_req *req, hs_resp *resp)
{
    char why[512] = "", err[HS_ERR_LEN] = "";
    hs_delete_outcome outcome;
    int rc = hs_run_delete(req->app->store, &req->app->env, req->id, &outcome, why, sizeof why,
                           err, sizeof err);
    cJSON *job = NULL;
    if (rc == 0 && outcome == HS_DELETE_DONE) {
        hs_db *db = hs_req_db(req, resp);
        if (!db)
            return;
        if (hs_job_get_json(db, req->id, &job, err, sizeof err) != 0 || !job)
            return hs_resp_internal(resp, err[0] ? err : "the deleted run's job vanished");
    }
    answer(req, resp, rc, outcome, why, err, job);
}

void hs_api_checkpoint_delete(hs_req *req, hs_resp *resp)
{
    char why[512] = "", err[HS_ERR_LEN] = "";
    hs_delete_outcome outcome;
    const char *name = req->names[0];
    int rc = hs_checkpoint_delete(req->app->store, &req->app->env, req->id, name, &outcome, why,
                                  sizeof why, err, sizeof err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "run", (double)req->id);
        cJSON_AddStringToObject(o, "checkpoint", name);
        cJSON_AddBoolToObject(o, "deleted", 1);
    }
    answer(req, resp, rc, outcome, why, err, o);
}

void hs_api_corpus_delete(hs_req *req, hs_resp *resp)
{
    char why[512] = "", err[HS_ERR_LEN] = "", full[200];
    hs_delete_outcome outcome;
    const char *name = req->names[0];
    int rc = hs_corpus_delete(req->app->store, &req->app->env, name, &outcome, why, sizeof why,
                              err, sizeof err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        snprintf(full, sizeof full, "upload:%s", name);
        cJSON_AddStringToObject(o, "name", full);
        cJSON_AddBoolToObject(o, "deleted", 1);
    }
    answer(req, resp, rc, outcome, why, err, o);
}
