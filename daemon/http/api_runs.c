/* Handlers of /api/v1/runs: the stored outcomes of jobs (same ids) with their head
 * statistics, curves, checkpoints and (inspect runs) attention matrices. */
#include "api.h"
#include "engine/inspect/inspect.h"
#include "common/errors.h"
#include "store/data_dir.h"
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
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
    else if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(job, "run_deleted_at"))) {
        hs_resp_error(resp, 404, "not found", NULL, "run %lld was deleted (its job stays)",
                      (long long)req->id);
        cJSON_Delete(job);
        return NULL;
    }
    return job;
}

void hs_api_run_get(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    cJSON *job = db ? run_or_404(req, resp, db) : NULL;
    if (!job)
        return;
    hs_run_add_bytes_on_disk(req, job);
    char err[HS_ERR_LEN];
    if (hs_run_meta_add_json(db, req->id, job, err, sizeof err) != 0 ||
        hs_run_summary_add_json(db, req->id, job, err, sizeof err) != 0) {
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

/* {"run", "layer", "head", "T", "probs": rows} with row t holding its t + 1 causal entries. */
static cJSON *attention_json(int64_t run, int layer, int head, const float *map, int T)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *rows = cJSON_CreateArray();
    if (!o || !rows) {
        cJSON_Delete(o);
        cJSON_Delete(rows);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "run", (double)run);
    cJSON_AddNumberToObject(o, "layer", layer);
    cJSON_AddNumberToObject(o, "head", head);
    cJSON_AddNumberToObject(o, "T", T);
    for (int t = 0; t < T; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; row && j <= t; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(map[(size_t)t * T + j]));
        cJSON_AddItemToArray(rows, row);
    }
    cJSON_AddItemToObject(o, "probs", rows);
    return o;
}

/* {"run", "T", "heads": [{"layer", "head"}]}: the inspected heads in the file (none when the
 * run has no file), those of one layer or one head index when only that is given. */
static void respond_head_list(hs_req *req, hs_resp *resp, const char *path, bool exists,
                              int64_t layer, int64_t head)
{
    hs_head_target *heads = NULL;
    int n = 0, T = 0;
    char err[HS_ERR_LEN];
    if (exists && hs_inspect_list(path, &heads, &n, &T, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    cJSON *list = o ? cJSON_AddArrayToObject(o, "heads") : NULL;
    for (int k = 0; list && k < n; k++) {
        if ((layer >= 0 && heads[k].layer != layer) || (head >= 0 && heads[k].head != head))
            continue;
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "layer", heads[k].layer);
        cJSON_AddNumberToObject(h, "head", heads[k].head);
        cJSON_AddItemToArray(list, h);
    }
    free(heads);
    if (!list) {
        cJSON_Delete(o);
        return hs_resp_internal(resp, "out of memory");
    }
    cJSON_AddNumberToObject(o, "run", (double)req->id);
    cJSON_AddNumberToObject(o, "T", T);
    hs_resp_json(resp, 200, o);
}

void hs_api_run_attention(hs_req *req, hs_resp *resp)
{
    int64_t layer, head;
    if (hs_req_query_int(req, resp, "layer", 0, 100000, -1, &layer) != 0 ||
        hs_req_query_int(req, resp, "head", 0, 100000, -1, &head) != 0)
        return;
    if (!existing_run_db(req, resp))
        return;
    char path[PATH_MAX], err[HS_ERR_LEN];
    if (hs_data_run_file(req->app->env.data_dir, req->app->env.instance, req->id,
                         HS_INSPECT_FILE, path, sizeof path, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    bool exists = access(path, F_OK) == 0;
    if (layer < 0 || head < 0)
        return respond_head_list(req, resp, path, exists, layer, head);
    if (!exists)
        return hs_resp_error(resp, 404, "not found", NULL,
                             "run %lld has no attention matrices (only inspect runs do)",
                             (long long)req->id);
    float *map = NULL;
    int T = 0;
    int rc = hs_inspect_read(path, (int)layer, (int)head, &map, &T, err, sizeof err);
    if (rc < 0)
        return hs_resp_internal(resp, err);
    if (rc == 1)
        return hs_resp_error(resp, 404, "not found", NULL,
                             "run %lld did not inspect head (%lld, %lld)", (long long)req->id,
                             (long long)layer, (long long)head);
    cJSON *o = attention_json(req->id, (int)layer, (int)head, map, T);
    free(map);
    if (!o)
        return hs_resp_internal(resp, "out of memory");
    hs_resp_json(resp, 200, o);
}
