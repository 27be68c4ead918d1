/* Response and request helpers shared by the API handlers (api.h), among them the job-list
 * query parameters and page that /jobs and /runs share. */
#include "api.h"
#include "common/errors.h"
#include "store/data_dir.h"
#include "store/job_store.h"
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_resp_text(hs_resp *resp, int status, const char *content_type, char *body, size_t len,
                  bool body_static)
{
    if (resp->body && !resp->body_static)
        free(resp->body);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->len = len;
    resp->body_static = body_static;
}

void hs_resp_json(hs_resp *resp, int status, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        static char oom[] = "{\"error\":\"internal error\",\"detail\":\"out of memory\",\"field\":null}";
        hs_resp_text(resp, 500, "application/json", oom, sizeof oom - 1, true);
        return;
    }
    hs_resp_text(resp, status, "application/json", text, strlen(text), false);
}

void hs_resp_error(hs_resp *resp, int status, const char *error, const char *field,
                   const char *detail_fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof detail, detail_fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", error);
        cJSON_AddStringToObject(o, "detail", detail);
        if (field && *field)
            cJSON_AddStringToObject(o, "field", field);
        else
            cJSON_AddNullToObject(o, "field");
    }
    hs_resp_json(resp, status, o);
}

void hs_resp_internal(hs_resp *resp, const char *err)
{
    fprintf(stderr, "surgeond: internal error: %s\n", err);
    hs_resp_error(resp, 500, "internal error", NULL, "%s", err);
}

void hs_resp_json_member(hs_resp *resp, int status, const char *key, cJSON *value)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(value);
        return hs_resp_internal(resp, "out of memory");
    }
    cJSON_AddItemToObject(o, key, value);
    hs_resp_json(resp, status, o);
}

void hs_resp_stored_json(hs_req *req, hs_resp *resp, int status, cJSON *obj)
{
    if (obj && hs_roots_relative_json(&req->app->env, obj) != 0) {
        cJSON_Delete(obj);
        return hs_resp_internal(resp, "out of memory");
    }
    hs_resp_json(resp, status, obj);
}

void hs_resp_stored_member(hs_req *req, hs_resp *resp, int status, const char *key,
                           cJSON *value)
{
    if (value && hs_roots_relative_json(&req->app->env, value) != 0) {
        cJSON_Delete(value);
        return hs_resp_internal(resp, "out of memory");
    }
    hs_resp_json_member(resp, status, key, value);
}

const char *hs_req_query(hs_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

int hs_req_query_int(hs_req *req, hs_resp *resp, const char *name, int64_t lo, int64_t hi,
                     int64_t fallback, int64_t *out)
{
    const char *text = hs_req_query(req, name);
    if (!text) {
        *out = fallback;
        return 0;
    }
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) {
        hs_resp_error(resp, 400, "invalid query parameter", name,
                      "%s must be an integer in [%lld, %lld] (got \"%.40s\")", name,
                      (long long)lo, (long long)hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

cJSON *hs_req_json_object(hs_req *req, hs_resp *resp)
{
    if (req->body_len == 0) {
        hs_resp_error(resp, 400, "invalid JSON", NULL, "the request body is empty; a JSON object is expected");
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, false);
    if (o && end) { /* nothing but whitespace may follow the value */
        while (end < req->body + req->body_len && strchr(" \t\r\n", *end) && *end)
            end++;
        if (end != req->body + req->body_len) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (!o) {
        size_t at = end && end >= req->body ? (size_t)(end - req->body) : 0;
        hs_resp_error(resp, 400, "invalid JSON", NULL, "the body is not valid JSON (near byte %zu)",
                      at);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        hs_resp_error(resp, 400, "invalid JSON", NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

hs_db *hs_req_db(hs_req *req, hs_resp *resp)
{
    char err[512];
    hs_db *db = hs_store_reader(req->app->store, err, sizeof err);
    if (!db)
        hs_resp_internal(resp, err);
    return db;
}

int hs_req_job_filter(hs_req *req, hs_resp *resp, hs_job_filter *f)
{
    const char *state = hs_req_query(req, "state");
    if (state) {
        f->state = hs_job_state_parse(state);
        if (f->state < 0) {
            hs_resp_error(resp, 400, "invalid query parameter", "state",
                          "state must be queued, running, succeeded, failed or cancelled");
            return -1;
        }
    }
    f->kind = hs_req_query(req, "kind");
    int64_t limit, before;
    if (hs_req_query_int(req, resp, "limit", 1, 500, 50, &limit) != 0 ||
        hs_req_query_int(req, resp, "before", 1, INT64_MAX, 0, &before) != 0)
        return -1;
    f->limit = (int)limit;
    f->before = before;
    return 0;
}

cJSON *hs_job_page_json(hs_req *req, hs_resp *resp, const hs_job_filter *f, const char *key)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return NULL;
    cJSON *jobs;
    int64_t next_before;
    char err[HS_ERR_LEN];
    if (hs_job_list_json(db, f, &jobs, &next_before, err, sizeof err) != 0) {
        hs_resp_internal(resp, err);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(jobs);
        hs_resp_internal(resp, "out of memory");
        return NULL;
    }
    const cJSON *job;
    cJSON_ArrayForEach(job, jobs)
        hs_api_add_slurm(db, (cJSON *)job);
    cJSON_AddItemToObject(o, key, jobs);
    if (next_before)
        cJSON_AddNumberToObject(o, "next_before", (double)next_before);
    else
        cJSON_AddNullToObject(o, "next_before");
    return o;
}
