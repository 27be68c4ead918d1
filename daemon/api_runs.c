/* Handlers of /api/v1/runs: the stored outcomes of jobs (same ids) with their head
 * statistics, curves and checkpoints. */
#include "api.h"
#include "errors.h"
#include "job_store.h"
#include "runs_store.h"

void hs_api_runs_list(hs_req *req, hs_resp *resp)
{
    hs_job_filter f = {.state = -1, .since_ms = -1, .started_only = true};
    const char *state = hs_req_query(req, "state");
    if (state) {
        f.state = hs_job_state_parse(state);
        if (f.state < 0)
            return hs_resp_error(resp, 400, "invalid query parameter", "state",
                                 "state must be queued, running, succeeded, failed or cancelled");
    }
    f.kind = hs_req_query(req, "kind");
    int64_t limit, before;
    if (hs_req_query_int(req, resp, "limit", 1, 500, 50, &limit) != 0 ||
        hs_req_query_int(req, resp, "before", 1, INT64_MAX, 0, &before) != 0)
        return;
    f.limit = (int)limit;
    f.before = before;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *runs;
    int64_t next_before;
    char err[HS_ERR_LEN];
    if (hs_job_list_json(db, &f, &runs, &next_before, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(runs);
        return hs_resp_internal(resp, "out of memory");
    }
    cJSON_AddItemToObject(o, "runs", runs);
    if (next_before)
        cJSON_AddNumberToObject(o, "next_before", (double)next_before);
    else
        cJSON_AddNullToObject(o, "next_before");
    hs_resp_json(resp, 200, o);
}

/* The run's job JSON, or NULL after answering 404/500. */
static cJSON *run_or_404(hs_req *req, hs_resp *resp, hs_db *db)
{
    cJSON *job;
    char err[HS_ERR_LEN];
    if (hs_job_get_json(db, req->id, &job, err, sizeof err) != 0) {
        hs_resp_internal(resp, err);
        return NULL;
    }
    if (!job)
        hs_resp_error(resp, 404, "not found", NULL, "no run %lld", (long long)req->id);
    return job;
}

void hs_api_run_get(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    if (job)
        hs_resp_json(resp, 200, job);
}

static void respond_rows(hs_resp *resp, const char *key, cJSON *rows)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(rows);
        return hs_resp_internal(resp, "out of memory");
    }
    cJSON_AddItemToObject(o, key, rows);
    hs_resp_json(resp, 200, o);
}

void hs_api_run_heads(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    if (!job)
        return;
    cJSON_Delete(job);
    cJSON *rows;
    char err[HS_ERR_LEN];
    if (hs_runs_heads_json(db, req->id, hs_req_query(req, "checkpoint"), &rows, err,
                           sizeof err) != 0)
        return hs_resp_internal(resp, err);
    respond_rows(resp, "heads", rows);
}

void hs_api_run_curves(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    if (!job)
        return;
    cJSON_Delete(job);
    cJSON *rows;
    char err[HS_ERR_LEN];
    if (hs_runs_curves_json(db, req->id, hs_req_query(req, "name"), &rows, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    respond_rows(resp, "points", rows);
}

void hs_api_run_checkpoints(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    if (!job)
        return;
    cJSON_Delete(job);
    cJSON *rows;
    char err[HS_ERR_LEN];
    if (hs_runs_checkpoints_json(db, req->id, &rows, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    respond_rows(resp, "checkpoints", rows);
}
