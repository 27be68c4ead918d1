/* Handlers of the daemon-wide endpoints: healthz, version, kinds, queue (state, pause,
 * resume) and the Prometheus /metrics text. */
#include "api.h"
#include "store/daemon_state.h"
#include "common/clock.h"
#include "common/version.h"
#include "common/errors.h"
#include "http_metrics.h"
#include "store/job_stats.h"
#include "store/job_store.h"
#include "ops.h"
#include "common/strbuf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_api_healthz(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    char err[HS_ERR_LEN];
    if (hs_db_ping(db, err, sizeof err) != 0)
        return hs_resp_error(resp, 503, "unhealthy", NULL, "%s", err);
    /* Degraded (writes failing: read-only database, full disk) is still 200: the daemon
     * serves reads and recovers by itself, a restart would not help. */
    hs_store_health h;
    hs_store_get_health(req->app->store, &h);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        int64_t now = hs_now_ms();
        cJSON_AddStringToObject(o, "status", h.degraded ? "degraded" : "ok");
        cJSON_AddNumberToObject(o, "uptime_s", (double)(now - req->app->started_ms) / 1000.0);
        if (h.degraded) {
            cJSON *d = cJSON_AddObjectToObject(o, "degraded");
            char since[HS_TIME_LEN];
            if (d) {
                cJSON_AddStringToObject(d, "reason", h.reason);
                cJSON_AddStringToObject(d, "since", hs_format_time(h.since_ms, since));
                cJSON_AddNumberToObject(d, "failures", (double)h.failures);
                cJSON_AddNumberToObject(d, "retry_in_s", h.retry_at_ms > now
                                                             ? (double)(h.retry_at_ms - now) / 1000.0
                                                             : 0.0);
            }
        }
    }
    hs_resp_json(resp, 200, o);
}

void hs_api_version(hs_req *req, hs_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "version", HS_VERSION);
        cJSON_AddStringToObject(o, "backends", hs_backend_list());
#ifdef HS_TEST_BUILD
        cJSON_AddBoolToObject(o, "test_build", 1);
#else
        cJSON_AddBoolToObject(o, "test_build", 0);
#endif
    }
    hs_resp_json(resp, 200, o);
}

static const char *field_type_name(hs_field_type t)
{
    switch (t) {
    case HS_FIELD_STRING: return "string";
    case HS_FIELD_INT: return "integer";
    case HS_FIELD_NUMBER: return "number";
    case HS_FIELD_BOOL: return "boolean";
    case HS_FIELD_STRING_ARRAY: return "string[]";
    case HS_FIELD_NUMBER_ARRAY: return "number[]";
    case HS_FIELD_OBJECT: return "object";
    case HS_FIELD_ANY: return "any";
    }
    return "?";
}

void hs_api_kinds(hs_req *req, hs_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *kinds = o ? cJSON_AddArrayToObject(o, "kinds") : NULL;
    for (size_t i = 0; kinds && i < hs_job_kind_count; i++) {
        const hs_job_kind *k = hs_job_kinds[i];
        cJSON *ko = cJSON_CreateObject();
        if (!ko)
            break;
        cJSON_AddItemToArray(kinds, ko);
        cJSON_AddStringToObject(ko, "name", k->name);
        cJSON_AddStringToObject(ko, "description", k->description ? k->description : "");
        cJSON *fields = cJSON_AddArrayToObject(ko, "fields");
        for (const hs_spec_field *f = k->fields; fields && f && f->name; f++) {
            cJSON *fo = cJSON_CreateObject();
            if (!fo)
                break;
            cJSON_AddItemToArray(fields, fo);
            cJSON_AddStringToObject(fo, "name", f->name);
            cJSON_AddStringToObject(fo, "type", field_type_name(f->type));
            cJSON_AddBoolToObject(fo, "required", f->required);
            if (f->nullable)
                cJSON_AddBoolToObject(fo, "nullable", 1);
            if (f->min < f->max) {
                cJSON_AddNumberToObject(fo, "min", f->min);
                cJSON_AddNumberToObject(fo, "max", f->max);
                if (f->exclusive_min)
                    cJSON_AddBoolToObject(fo, "exclusive_min", 1);
            } else {
                cJSON_AddNullToObject(fo, "min");
                cJSON_AddNullToObject(fo, "max");
            }
            if (f->enum_values) {
                cJSON *ev = cJSON_AddArrayToObject(fo, "enum");
                for (const char *const *e = f->enum_values; ev && *e; e++)
                    cJSON_AddItemToArray(ev, cJSON_CreateString(*e));
            } else {
                cJSON_AddNullToObject(fo, "enum");
            }
            cJSON_AddStringToObject(fo, "help", f->help ? f->help : "");
        }
    }
    hs_resp_json(resp, 200, o);
}

void hs_api_queue(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    int64_t counts[HS_JOB_STATE_COUNT];
    char err[HS_ERR_LEN];
    if (hs_job_counts(db, counts, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return hs_resp_internal(resp, "out of memory");
    bool paused = false;
    if (req->app->workers)
        paused = hs_workers_paused(req->app->workers);
    else if (req->app->slurm_executor && hs_state_load_paused(req->app->store, &paused, err,
                                                              sizeof err) != 0) {
        cJSON_Delete(o);
        return hs_resp_internal(resp, err);
    }
    cJSON_AddBoolToObject(o, "paused", paused);
    cJSON_AddStringToObject(o, "executor", req->app->slurm_executor ? "slurm" : "local");
    cJSON *depth = cJSON_AddObjectToObject(o, "depth");
    for (int s = 0; depth && s < HS_JOB_STATE_COUNT; s++)
        cJSON_AddNumberToObject(depth, hs_job_state_name(s), (double)counts[s]);
    cJSON *workers = req->app->workers ? hs_workers_json(req->app->workers) : cJSON_CreateArray();
    if (workers)
        cJSON_AddItemToObject(o, "workers", workers);
    hs_resp_json(resp, 200, o);
}

static void set_paused(hs_req *req, hs_resp *resp, bool paused)
{
    char err[HS_ERR_LEN];
    /* The slurm executor reads the stored flag before each round of submissions. */
    if (!req->app->workers && req->app->slurm_executor) {
        if (hs_state_save_paused(req->app->store, paused, err, sizeof err) != 0)
            return hs_resp_internal(resp, err);
        return hs_api_queue(req, resp);
    }
    if (!req->app->workers)
        return hs_resp_error(resp, 503, "no workers", NULL, "this daemon has no workers");
    if (hs_workers_set_paused(req->app->workers, paused, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    hs_api_queue(req, resp);
}

void hs_api_queue_pause(hs_req *req, hs_resp *resp) { set_paused(req, resp, true); }
void hs_api_queue_resume(hs_req *req, hs_resp *resp) { set_paused(req, resp, false); }

/* Upper bounds (seconds) of the job duration histogram. */
static const double duration_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};
#define N_BUCKETS (sizeof duration_buckets / sizeof duration_buckets[0])

static void render_finished_count(const char *kind, const char *state, int64_t count, void *b)
{
    hs_strbuf_printf(b, "hs_jobs_finished_total{kind=\"%s\",state=\"%s\"} %lld\n", kind, state,
                     (long long)count);
}

/* One kind's duration histogram, filled while the durations of that kind come in. */
typedef struct duration_histogram {
    hs_strbuf *out;
    char kind[64];
    uint64_t bucket[N_BUCKETS], count;
    double sum;
    bool have;
} duration_histogram;

static void flush_histogram(duration_histogram *h)
{
    if (!h->have)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++)
        hs_strbuf_printf(h->out, "hs_job_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n",
                         h->kind, duration_buckets[i], (unsigned long long)h->bucket[i]);
    hs_strbuf_printf(h->out, "hs_job_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n"
                             "hs_job_duration_seconds_sum{kind=\"%s\"} %.3f\n"
                             "hs_job_duration_seconds_count{kind=\"%s\"} %llu\n",
                     h->kind, (unsigned long long)h->count, h->kind, h->sum, h->kind,
                     (unsigned long long)h->count);
    h->have = false;
}

static void add_duration(const char *kind, double seconds, void *arg)
{
    duration_histogram *h = arg;
    if (h->have && strcmp(h->kind, kind) != 0)
        flush_histogram(h);
    if (!h->have) {
        snprintf(h->kind, sizeof h->kind, "%s", kind);
        memset(h->bucket, 0, sizeof h->bucket);
        h->count = 0;
        h->sum = 0;
        h->have = true;
    }
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (seconds <= duration_buckets[i])
            h->bucket[i]++;
    h->count++;
    h->sum += seconds;
}

static int render_job_metrics(hs_db *db, hs_strbuf *b, char *err, size_t errlen)
{
    int64_t counts[HS_JOB_STATE_COUNT];
    if (hs_job_counts(db, counts, err, errlen) != 0)
        return -1;
    hs_strbuf_printf(b, "# HELP hs_jobs Jobs by current state.\n# TYPE hs_jobs gauge\n");
    for (int s = 0; s < HS_JOB_STATE_COUNT; s++)
        hs_strbuf_printf(b, "hs_jobs{state=\"%s\"} %lld\n", hs_job_state_name(s),
                         (long long)counts[s]);
    hs_strbuf_printf(b, "# HELP hs_jobs_finished_total Finished jobs by kind and final state.\n"
                        "# TYPE hs_jobs_finished_total counter\n");
    if (hs_job_finished_counts(db, render_finished_count, b, err, errlen) != 0)
        return -1;
    hs_strbuf_printf(b, "# HELP hs_job_duration_seconds Run time of finished jobs.\n"
                        "# TYPE hs_job_duration_seconds histogram\n");
    duration_histogram h = {.out = b};
    if (hs_job_durations(db, add_duration, &h, err, errlen) != 0)
        return -1;
    flush_histogram(&h);
    return 0;
}

void hs_api_metrics(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    hs_strbuf b = {0};
    char err[HS_ERR_LEN];
    if (render_job_metrics(db, &b, err, sizeof err) != 0) {
        hs_strbuf_free(&b);
        return hs_resp_internal(resp, err);
    }
    hs_strbuf_printf(&b, "# HELP hs_queue_paused 1 while the queue is paused.\n"
                         "# TYPE hs_queue_paused gauge\nhs_queue_paused %d\n",
                     req->app->workers && hs_workers_paused(req->app->workers) ? 1 : 0);
    hs_storage_metrics_render(req, &b);
    hs_store_health h;
    hs_store_get_health(req->app->store, &h);
    hs_strbuf_printf(&b, "# HELP hs_store_degraded 1 while database writes fail (read-only, disk full).\n"
                         "# TYPE hs_store_degraded gauge\nhs_store_degraded %d\n"
                         "# HELP hs_store_write_failures_total Database writes failed for a storage reason.\n"
                         "# TYPE hs_store_write_failures_total counter\n"
                         "hs_store_write_failures_total %llu\n",
                     h.degraded ? 1 : 0, (unsigned long long)h.failures_total);
    hs_http_metrics_render(&b);
    if (b.failed) {
        hs_strbuf_free(&b);
        return hs_resp_internal(resp, "out of memory");
    }
    hs_resp_text(resp, 200, "text/plain; version=0.0.4", b.data, b.len, false);
}
