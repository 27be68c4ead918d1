/* Handlers of /api/v1/runs: the stored outcomes of jobs (same ids) with their head
 * statistics, curves and checkpoints. */
#include "api.h"
#include "common/errors.h"
#include "store/job_store.h"
#include "store/runs_store.h"

void hs_api_runs_list(hs_req *req, hs_resp *resp)
{
    hs_job_filter f = {.state = -1, .since_ms = -1, .started_only = true};
    if (hs_req_job_filter(req, resp, &f) != 0)
        return;
    cJSON *o = hs_job_page_json(req, resp, &f, "runs");
    if (o)
        hs_resp_stored_json(req, resp, 200, o);
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
        hs_resp_stored_json(req, resp, 200, job);
}

/* The read connection when run {id} exists; NULL after answering 404/500. */
static hs_db *existing_run_db(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    cJSON_Delete(job);
    return job ? db : NULL;
}

/* {key: rows} when the read succeeded (rc 0), else 500 with err. */
static void respond_rows(hs_req *req, hs_resp *resp, int rc, const char *err, const char *key,
                         cJSON *rows)
{
    if (rc != 0)
        return hs_resp_internal(resp, err);
    hs_resp_stored_member(req, resp, 200, key, rows);
}

void hs_api_run_heads(hs_req *req, hs_resp *resp)
{
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_heads_json(db, req->id, hs_req_query(req, "checkpoint"), &rows, err,
                                sizeof err);
    respond_rows(req, resp, rc, err, "heads", rows);
}

void hs_api_run_curves(hs_req *req, hs_resp *resp)
{
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_curves_json(db, req->id, hs_req_query(req, "name"), &rows, err, sizeof err);
    respond_rows(req, resp, rc, err, "points", rows);
}

void hs_api_run_checkpoints(hs_req *req, hs_resp *resp)
{
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_checkpoints_json(db, req->id, &rows, err, sizeof err);
    respond_rows(req, resp, rc, err, "checkpoints", rows);
}
