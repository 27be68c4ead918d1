/* GET /api/v1/storage (bytes by what they belong to, free bytes; store/storage.h), the same
 * as Prometheus gauges for /metrics, and bytes_on_disk of the runs in a run answer. */
#include "api.h"
#include "common/errors.h"
#include "common/strbuf.h"
#include "store/storage.h"

void hs_api_storage(hs_req *req, hs_resp *resp)
{
    hs_storage_usage u;
    char err[HS_ERR_LEN];
    if (hs_storage_usage_get(&req->app->env, &u, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "runs", (double)u.runs);
        cJSON_AddNumberToObject(o, "checkpoints", (double)u.checkpoints);
        cJSON_AddNumberToObject(o, "corpora", (double)u.corpora);
        cJSON_AddNumberToObject(o, "uploads", (double)u.uploads);
        cJSON_AddNumberToObject(o, "logs", (double)u.logs);
        cJSON_AddNumberToObject(o, "database", (double)u.database);
        cJSON_AddNumberToObject(o, "free", (double)u.free_bytes);
    }
    hs_resp_json(resp, 200, o);
}

void hs_storage_metrics_render(hs_req *req, hs_strbuf *b)
{
    hs_storage_usage u;
    char err[HS_ERR_LEN];
    if (hs_storage_usage_get(&req->app->env, &u, err, sizeof err) != 0)
        return;
    hs_strbuf_printf(b, "# HELP hs_storage_bytes Bytes of regular files in the data directory "
                        "by what they belong to.\n# TYPE hs_storage_bytes gauge\n");
    const struct { const char *what; int64_t v; } rows[] = {
        {"runs", u.runs}, {"checkpoints", u.checkpoints}, {"corpora", u.corpora},
        {"uploads", u.uploads}, {"logs", u.logs}, {"database", u.database}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        hs_strbuf_printf(b, "hs_storage_bytes{what=\"%s\"} %lld\n", rows[i].what,
                         (long long)rows[i].v);
    hs_strbuf_printf(b, "# HELP hs_storage_free_bytes Free bytes on the data directory's "
                        "filesystem.\n# TYPE hs_storage_free_bytes gauge\n"
                        "hs_storage_free_bytes %lld\n", (long long)u.free_bytes);
}

void hs_run_add_bytes_on_disk(hs_req *req, cJSON *job)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "id");
    if (cJSON_IsNumber(id))
        cJSON_AddNumberToObject(job, "bytes_on_disk",
                                (double)hs_run_bytes_on_disk(&req->app->env,
                                                             (int64_t)id->valuedouble));
}
