/* Handlers of /api/v1/runs: the stored outcomes of jobs (same ids) with their head
 * statistics, curves and checkpoints. */
#include "api.h"
#include "common/errors.h"
#include "store/job_store.h"
#include "store/run_summaries.h"
#include "store/runs_store.h"

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
    if (!job)
        return;
    char err[HS_ERR_LEN];
    if (hs_run_meta_add_json(db, req->id, job, err, sizeof err) != 0) {
        cJSON_Delete(job);
        return hs_resp_internal(resp, err);
    }
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

/* {key: rows} when the read succeeded (rc 0), else 500 with err; with columns (format=csv)
 * the rows as CSV. */
static void respond_rows(hs_req *req, hs_resp *resp, int rc, const char *err, const char *key,
                         cJSON *rows, const char *const *columns, int n_columns)
{
    if (rc != 0)
        return hs_resp_internal(resp, err);
    if (!columns)
        return hs_resp_stored_member(req, resp, 200, key, rows);
    hs_resp_csv(resp, rows, columns, n_columns);
    cJSON_Delete(rows);
}

/* The query check of a table route (its parameters plus format); -1 after answering 400. */
static int table_query(hs_req *req, hs_resp *resp, const char *allowed, bool *csv)
{
    if (hs_req_query_allowed(req, resp, allowed) != 0)
        return -1;
    return hs_req_format_csv(req, resp, csv);
}

void hs_api_run_heads(hs_req *req, hs_resp *resp)
{
    static const char *const columns[] = {"checkpoint", "layer",      "head", "bos_mass",
                                          "entropy",    "local_mass", "class"};
    bool csv;
    if (table_query(req, resp, "checkpoint,format", &csv) != 0)
        return;
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_heads_json(db, req->id, hs_req_query(req, "checkpoint"), &rows, err,
                                sizeof err);
    respond_rows(req, resp, rc, err, "heads", rows, csv ? columns : NULL, 7);
}

void hs_api_run_curves(hs_req *req, hs_resp *resp)
{
    static const char *const columns[] = {"step", "epoch", "name", "value"};
    bool csv;
    if (table_query(req, resp, "name,format", &csv) != 0)
        return;
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_curves_json(db, req->id, hs_req_query(req, "name"), &rows, err, sizeof err);
    respond_rows(req, resp, rc, err, "points", rows, csv ? columns : NULL, 4);
}

void hs_api_run_checkpoints(hs_req *req, hs_resp *resp)
{
    hs_db *db = existing_run_db(req, resp);
    if (!db)
        return;
    cJSON *rows;
    char err[HS_ERR_LEN];
    int rc = hs_runs_checkpoints_json(db, req->id, &rows, err, sizeof err);
    respond_rows(req, resp, rc, err, "checkpoints", rows, NULL, 0);
}
