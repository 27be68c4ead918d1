/* The internal report routes of jobs run through Slurm (/api/v1/jobs/{id}/report/...): what a
 * `surgeond run --report-to` on a node sends back. Each request carries the job attempt's
 * token (Authorization: Bearer): an unknown or ended attempt's token is 401, another job's
 * 403. A batch {attempt, seq, items} is applied in one transaction, only when seq is the next
 * one, so a retried batch is applied once; the answer says whether to stop (cancel). Items:
 * progress {step, total, message}, log {line}, curve {step, epoch, name, value}, heads
 * {checkpoint, rows}, checkpoint {name, path, epoch, step, ppl, woken, best}, result {result},
 * failed {error}; an optional "node" names the runner's node. Nothing here waits on Slurm. */
#include "api.h"
#include "common/errors.h"
#include "common/sha256.h"
#include "store/cluster_jobs.h"
#include "store/data_dir.h"
#include "store/job_log.h"
#include "store/runs_store.h"
#include "store/sweep_store.h"
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD_ROWS 65536

bool hs_api_is_report_path(const char *path)
{
    const char *p = strncmp(path, "/api/v1/jobs/", 13) == 0 ? path + 13 : NULL;
    size_t digits = p ? strspn(p, "0123456789") : 0;
    return digits > 0 && strncmp(p + digits, "/report/", 8) == 0;
}

/* The attempt the request's token belongs to; 0, or -1 after answering 401/403/500. */
static int authorize(hs_req *req, hs_resp *resp, int64_t *row_id)
{
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0 || !h[7]) {
        hs_resp_error(resp, 401, "unauthorized", NULL,
                      "reports need the header Authorization: Bearer <job token>");
        return -1;
    }
    char hash[HS_SHA256_HEX_LEN], err[HS_ERR_LEN];
    hs_sha256_hex(h + 7, strlen(h + 7), hash);
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return -1;
    int found = hs_cluster_token_lookup(db, req->id, hash, row_id, err, sizeof err);
    if (found < 0)
        hs_resp_internal(resp, err);
    else if (found == 0)
        hs_resp_error(resp, 401, "unauthorized", NULL,
                      "the token is not that of a running attempt of job %lld", (long long)req->id);
    else if (found == 2)
        hs_resp_error(resp, 403, "forbidden", NULL,
                      "the token belongs to another job's attempt, not job %lld",
                      (long long)req->id);
    return found == 1 ? 0 : -1;
}

static bool num(const cJSON *o, const char *k, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return false;
    *v = x->valuedouble;
    return true;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* What a batch applies, validated before the transaction. */
typedef struct batch {
    const cJSON *items;
    int64_t job_id;
    const char *run_dir_prefix; /* checkpoints must lie below the job's run directory */
    char *result_json;          /* of a result item */
} batch;

/* Checks one item; NULL when fine, else what is wrong (static text). */
static const char *check_item(const batch *b, const cJSON *it)
{
    const char *type = str(it, "type");
    double d;
    if (!type)
        return "every item needs a type";
    if (strcmp(type, "progress") == 0)
        return num(it, "step", &d) && num(it, "total", &d) ? NULL : "progress needs step, total";
    if (strcmp(type, "log") == 0)
        return str(it, "line") ? NULL : "log needs a line";
    if (strcmp(type, "curve") == 0)
        return num(it, "step", &d) && num(it, "epoch", &d) && num(it, "value", &d) &&
                       str(it, "name") && *str(it, "name")
                   ? NULL : "curve needs step, epoch, name, value";
    if (strcmp(type, "heads") == 0) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(it, "rows");
        if (!str(it, "checkpoint") || !cJSON_IsArray(rows) ||
            cJSON_GetArraySize(rows) > MAX_HEAD_ROWS)
            return "heads needs checkpoint and rows";
        const cJSON *r;
        cJSON_ArrayForEach(r, rows) if (!num(r, "layer", &d) || !num(r, "head", &d) ||
                                        !num(r, "bos_mass", &d) || !num(r, "entropy", &d) ||
                                        !num(r, "local_mass", &d) || !str(r, "class"))
            return "a heads row needs layer, head, bos_mass, entropy, local_mass, class";
        return NULL;
    }
    if (strcmp(type, "checkpoint") == 0) {
        const char *path = str(it, "path"), *below;
        if (!str(it, "name") || !*str(it, "name") || !path || !num(it, "epoch", &d) ||
            !num(it, "step", &d))
            return "checkpoint needs name, path, epoch, step";
        below = hs_path_below(b->run_dir_prefix, path);
        return below && *below && !strstr(path, "/../") ? NULL
                                                        : "a checkpoint must lie in the job's run directory";
    }
    if (strcmp(type, "result") == 0)
        return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(it, "result"))
                   ? NULL : "result needs a result object";
    if (strcmp(type, "failed") == 0)
        return str(it, "error") ? NULL : "failed needs an error";
    return "unknown item type (progress, log, curve, heads, checkpoint, result, failed)";
}

static int apply_heads(hs_db *db, const batch *b, const cJSON *it, char *err, size_t errlen)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(it, "rows");
    int n = cJSON_GetArraySize(rows), i = 0;
    hs_head_stat_row *r = calloc((size_t)n + 1, sizeof *r);
    if (!r)
        return hs_errf(err, errlen, "out of memory storing head statistics");
    const cJSON *x;
    cJSON_ArrayForEach(x, rows)
    {
        double v = 0.0;
        num(x, "layer", &v), r[i].layer = (int)v;
        num(x, "head", &v), r[i].head = (int)v;
        num(x, "bos_mass", &r[i].bos_mass);
        num(x, "entropy", &r[i].entropy);
        num(x, "local_mass", &r[i].local_mass);
        r[i++].cls = str(x, "class");
    }
    int rc = hs_runs_store_head_stats_db(db, b->job_id, str(it, "checkpoint"), r, n, err, errlen);
    free(r);
    return rc;
}

static int apply_checkpoint(hs_db *db, const batch *b, const cJSON *it, char *err, size_t errlen)
{
    double epoch = 0, step = 0, ppl = NAN, woken = -1;
    num(it, "epoch", &epoch);
    num(it, "step", &step);
    num(it, "ppl", &ppl);
    num(it, "woken", &woken);
    hs_checkpoint_row row = {.name = str(it, "name"), .path = str(it, "path"),
                             .epoch = (int)epoch, .step = (int64_t)step, .ppl = ppl,
                             .woken = (int)woken,
                             .best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "best"))};
    return hs_runs_store_checkpoint_db(db, b->job_id, &row, err, errlen);
}

/* Inside the batch's transaction: every item but log lines (written after the commit). */
static int apply_items(hs_db *db, void *arg, char *err, size_t errlen)
{
    batch *b = arg;
    const cJSON *it;
    cJSON_ArrayForEach(it, b->items)
    {
        const char *type = str(it, "type");
        double step = 0, total = 0, epoch = 0, value = 0;
        int rc = 0;
        if (strcmp(type, "progress") == 0) {
            num(it, "step", &step), num(it, "total", &total);
            rc = hs_cluster_set_progress_db(db, b->job_id, (int64_t)step, (int64_t)total,
                                            str(it, "message"), err, errlen);
        } else if (strcmp(type, "curve") == 0) {
            num(it, "step", &step), num(it, "epoch", &epoch), num(it, "value", &value);
            rc = hs_runs_add_curve_point_db(db, b->job_id, (int64_t)step, epoch,
                                            str(it, "name"), value, err, errlen);
        } else if (strcmp(type, "heads") == 0) {
            rc = apply_heads(db, b, it, err, errlen);
        } else if (strcmp(type, "checkpoint") == 0) {
            rc = apply_checkpoint(db, b, it, err, errlen);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The outcome item (result or failed), applied last in the same transaction. */
typedef struct outcome_arg {
    batch *b;
    int64_t row_id;
} outcome_arg;

static int apply_all(hs_db *db, void *arg, char *err, size_t errlen)
{
    outcome_arg *o = arg;
    if (apply_items(db, o->b, err, errlen) != 0)
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, o->b->items)
    {
        const char *type = str(it, "type");
        if (strcmp(type, "result") == 0 &&
            hs_cluster_report_outcome_db(db, o->row_id, o->b->result_json, NULL, err, errlen) != 0)
            return -1;
        if (strcmp(type, "failed") == 0 &&
            hs_cluster_report_outcome_db(db, o->row_id, NULL, str(it, "error"), err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void append_logs(hs_req *req, const batch *b)
{
    char err[HS_ERR_LEN];
    hs_job_log *log = NULL;
    hs_roots roots = req->app->env;
    const cJSON *it;
    cJSON_ArrayForEach(it, b->items)
    {
        if (strcmp(str(it, "type"), "log") != 0)
            continue;
        if (!log && !(log = hs_job_log_open(req->app->env.data_dir, b->job_id, err, sizeof err)))
            return;
        char *shown = hs_roots_relative_text(&roots, str(it, "line"));
        hs_job_log_append(log, shown ? shown : str(it, "line"));
        free(shown);
    }
    hs_job_log_close(log);
}

/* Parses and checks the body; 0, or -1 after answering 400. */
static int read_batch(hs_req *req, hs_resp *resp, cJSON *body, batch *b, int64_t *seq)
{
    double s = 0;
    b->items = cJSON_GetObjectItemCaseSensitive(body, "items");
    if (!num(body, "seq", &s) || s < 1 || s != floor(s) || s > 9e15) {
        hs_resp_error(resp, 400, "invalid report", "seq", "seq must be a positive integer");
        return -1;
    }
    *seq = (int64_t)s;
    if (!cJSON_IsArray(b->items)) {
        hs_resp_error(resp, 400, "invalid report", "items", "items must be an array");
        return -1;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, b->items)
    {
        const char *why = check_item(b, it);
        if (why) {
            hs_resp_error(resp, 400, "invalid report", "items", "item %d: %s", i, why);
            return -1;
        }
        if (strcmp(str(it, "type"), "result") == 0 && !b->result_json &&
            !(b->result_json = cJSON_PrintUnformatted(cJSON_GetObjectItem(it, "result")))) {
            hs_resp_internal(resp, "out of memory");
            return -1;
        }
        i++;
    }
    return 0;
}

void hs_api_job_report_batch(hs_req *req, hs_resp *resp)
{
    int64_t row_id = 0, seq = 0, last = 0;
    if (authorize(req, resp, &row_id) != 0)
        return;
    cJSON *body = hs_req_json_object(req, resp);
    if (!body)
        return;
    char prefix[4200], err[HS_ERR_LEN];
    if (hs_data_run_dir(req->app->env.data_dir, req->app->env.instance, req->id, prefix,
                        sizeof prefix, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    batch b = {.job_id = req->id, .run_dir_prefix = prefix};
    if (read_batch(req, resp, body, &b, &seq) == 0) {
        outcome_arg oa = {.b = &b, .row_id = row_id};
        int outcome = 0;
        bool stop = false;
        hs_db *db = NULL;
        const char *node = str(body, "node");
        if (node && (strlen(node) > 120 || strpbrk(node, " \t\r\n")))
            node = NULL;
        if (hs_cluster_apply_batch(req->app->store, row_id, seq, node, apply_all, &oa, &outcome,
                                   &last, err, sizeof err) != 0)
            hs_resp_internal(resp, err);
        else if (outcome == 2)
            hs_resp_error(resp, 409, "out of order", "seq",
                          "batch %lld arrived after %lld: batches are applied in order",
                          (long long)seq, (long long)last);
        else if (outcome == 3)
            hs_resp_error(resp, 401, "unauthorized", NULL, "this attempt has ended");
        else if ((db = hs_req_db(req, resp)) &&
                 hs_cluster_stop_requested(db, req->id, &stop, err, sizeof err) != 0)
            hs_resp_internal(resp, err);
        else if (db) {
            if (outcome == 1)
                append_logs(req, &b);
            cJSON *o = cJSON_CreateObject();
            if (o) {
                cJSON_AddNumberToObject(o, "seq", (double)last);
                cJSON_AddBoolToObject(o, "applied", outcome == 1);
                cJSON_AddBoolToObject(o, "stop", stop);
            }
            hs_resp_json(resp, 200, o);
        }
    }
    free(b.result_json);
    cJSON_Delete(body);
}

void hs_api_job_report_diagnosis(hs_req *req, hs_resp *resp)
{
    int64_t row_id = 0, run = 0;
    if (authorize(req, resp, &row_id) != 0 ||
        hs_req_query_int(req, resp, "run", 1, INT64_MAX, 0, &run) != 0)
        return;
    if (run == 0)
        return hs_resp_error(resp, 400, "invalid query parameter", "run", "run is required");
    char err[HS_ERR_LEN];
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *heads = hs_runs_load_diagnosis(db, run, err, sizeof err);
    if (!heads)
        return hs_resp_error(resp, 409, "no diagnosis", "run", "%s", err);
    hs_resp_json_member(resp, 200, "heads", heads);
}

void hs_api_add_slurm(hs_db *db, cJSON *job)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "id");
    cJSON *slurm = NULL, *sweep = NULL;
    char err[HS_ERR_LEN];
    if (!cJSON_IsNumber(id))
        return;
    if (hs_cluster_job_json(db, (int64_t)id->valuedouble, &slurm, err, sizeof err) == 0 && slurm)
        cJSON_AddItemToObject(job, "slurm", slurm);
    if (hs_sweep_of_job_json(db, (int64_t)id->valuedouble, &sweep, err, sizeof err) == 0 && sweep)
        cJSON_AddItemToObject(job, "sweep", sweep);
}
