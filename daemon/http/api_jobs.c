/* Handlers of /api/v1/jobs: submit, list, get, cancel, log, events. */
#include "api.h"
#include "common/clock.h"
#include "common/errors.h"
#include "kinds/spec.h"
#include "store/job_log.h"
#include "store/job_stats.h"
#include "store/job_store.h"
#include "store/run_summaries.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_CHUNK (64 * 1024)

static void respond_job(hs_req *req, hs_resp *resp, int64_t id, int status)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    char err[HS_ERR_LEN];
    cJSON *job;
    if (hs_job_get_json(db, id, &job, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!job)
        return hs_resp_error(resp, 404, "not found", NULL, "no job %lld", (long long)id);
    hs_api_add_slurm(db, job);
    hs_resp_stored_json(req, resp, status, job);
}

/* A submit waiting for its group commit (owns the parsed spec the request points into). */
typedef struct pending_submit {
    hs_app *app;
    hs_deferred *reply;
    cJSON *spec;
    char *spec_json;
    hs_job_submit_req sub;
} pending_submit;

static void pending_submit_free(pending_submit *p)
{
    free(p->spec_json);
    cJSON_Delete(p->spec);
    free(p);
}

/* On the store's committer thread, after the commit: answer the suspended request. */
static void submit_committed(void *arg, int rc, int64_t id, cJSON *job, const char *err)
{
    pending_submit *p = arg;
    (void)id; /* the job JSON carries it */
    hs_resp resp = {.status = 500};
    if (rc == HS_RUN_NAME_TAKEN)
        hs_resp_error(&resp, 409, "conflict", "name", "%s", err);
    else if (rc < 0)
        hs_resp_internal(&resp, err);
    else {
        if (rc == 1 && p->app->workers)
            hs_workers_notify(p->app->workers);
        hs_resp_json(&resp, rc == 1 ? 201 : 200, job);
    }
    hs_deferred_answer(p->reply, &resp);
    pending_submit_free(p);
}

/* Whether the spec's run name is already another run's (answered 409), or the lookup
 * failed (answered 500). The unique index still guards a submit racing this check. */
static bool name_taken(hs_req *req, hs_resp *resp, const cJSON *spec)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
    if (!cJSON_IsString(name))
        return false;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return true;
    int64_t owner = 0;
    char err[HS_ERR_LEN];
    const cJSON *client_id = cJSON_GetObjectItemCaseSensitive(spec, "client_id");
    if (hs_run_name_owner(db, name->valuestring,
                          cJSON_IsString(client_id) ? client_id->valuestring : NULL, &owner, err,
                          sizeof err) != 0) {
        hs_resp_internal(resp, err);
        return true;
    }
    if (owner)
        hs_resp_error(resp, 409, "conflict", "name", "name \"%.128s\" is already used by run %lld",
                      name->valuestring, (long long)owner);
    return owner != 0;
}

void hs_api_jobs_submit(hs_req *req, hs_resp *resp)
{
    cJSON *spec = hs_req_json_object(req, resp);
    if (!spec)
        return;
    hs_job_spec parsed;
    hs_spec_error serr = {{0}, {0}};
    if (hs_job_spec_parse(spec, &req->app->env, &parsed, &serr) != 0) {
        hs_resp_error(resp, 400, "invalid spec", serr.field, "%s", serr.detail);
        cJSON_Delete(spec);
        return;
    }
    if (name_taken(req, resp, spec)) {
        cJSON_Delete(spec);
        return;
    }
    pending_submit *p = calloc(1, sizeof *p);
    char *spec_json = p ? cJSON_PrintUnformatted(spec) : NULL;
    if (!spec_json) {
        free(p);
        cJSON_Delete(spec);
        return hs_resp_internal(resp, "out of memory");
    }
    *p = (pending_submit){.app = req->app, .spec = spec, .spec_json = spec_json,
                          .sub = {.kind = parsed.kind->name, .spec_json = spec_json,
                                  .priority = parsed.priority, .client_id = parsed.client_id,
                                  .max_attempts = parsed.max_attempts}};
    /* Answered once committed, by submit_committed; the connection waits without holding an
     * HTTP thread, so every submit arriving meanwhile joins the same commit. */
    p->reply = hs_req_defer(req);
    if (!p->reply) {
        /* The server is stopping: commit this one while the request waits, as before. */
        int64_t id = 0;
        char err[HS_ERR_LEN];
        int rc = hs_job_submit(req->app->store, &p->sub, &id, err, sizeof err);
        pending_submit_free(p);
        if (rc == HS_RUN_NAME_TAKEN)
            return hs_resp_error(resp, 409, "conflict", "name", "%s", err);
        if (rc < 0)
            return hs_resp_internal(resp, err);
        return respond_job(req, resp, id, rc == 1 ? 201 : 200);
    }
    char err[HS_ERR_LEN];
    if (hs_job_submit_queued(req->app->store, &p->sub, submit_committed, p, err, sizeof err) != 0) {
        hs_resp failed = {.status = 500};
        hs_resp_internal(&failed, err);
        hs_deferred_answer(p->reply, &failed);
        pending_submit_free(p);
    }
}

void hs_api_jobs_list(hs_req *req, hs_resp *resp)
{
    hs_job_filter f = {.state = -1, .since_ms = -1};
    if (hs_req_job_filter(req, resp, &f) != 0)
        return;
    const char *since = hs_req_query(req, "since");
    if (since && hs_parse_time(since, &f.since_ms) != 0)
        return hs_resp_error(resp, 400, "invalid query parameter", "since",
                             "since must be an ISO-8601 UTC time such as 2026-11-29T06:00:00.000Z");
    /* "now" is taken before reading, minus a margin for writes committed while we read:
     * a client polling with since=now sees every later change (some twice). */
    int64_t now = hs_now_ms() - 1000;
    cJSON *o = hs_job_page_json(req, resp, &f, "jobs");
    if (!o)
        return;
    char buf[HS_TIME_LEN];
    cJSON_AddStringToObject(o, "now", hs_format_time(now, buf));
    hs_resp_stored_json(req, resp, 200, o);
}

void hs_api_job_get(hs_req *req, hs_resp *resp) { respond_job(req, resp, req->id, 200); }

void hs_api_job_cancel(hs_req *req, hs_resp *resp)
{
    hs_cancel_outcome outcome;
    char err[HS_ERR_LEN];
    if (hs_job_cancel(req->app->store, req->id, &outcome, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    switch (outcome) {
    case HS_CANCEL_NOT_FOUND:
        return hs_resp_error(resp, 404, "not found", NULL, "no job %lld", (long long)req->id);
    case HS_CANCEL_FINAL:
        return hs_resp_error(resp, 409, "job already finished", NULL,
                             "job %lld has already finished and cannot be cancelled",
                             (long long)req->id);
    case HS_CANCEL_REQUESTED:
        if (req->app->workers)
            hs_workers_cancel_running(req->app->workers, req->id);
        return respond_job(req, resp, req->id, 202);
    case HS_CANCEL_DONE:
        return respond_job(req, resp, req->id, 200);
    }
}

/* Length of the longest prefix of buf[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_complete_prefix(const unsigned char *buf, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && (buf[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char lead = buf[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > back + 1 ? i - 1 : n;
}

void hs_api_job_log(hs_req *req, hs_resp *resp)
{
    int64_t offset;
    if (hs_req_query_int(req, resp, "offset", 0, INT64_MAX, 0, &offset) != 0)
        return;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *job;
    char err[HS_ERR_LEN];
    if (hs_job_get_json(db, req->id, &job, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!job)
        return hs_resp_error(resp, 404, "not found", NULL, "no job %lld", (long long)req->id);
    int state = hs_job_state_parse(cJSON_GetStringValue(cJSON_GetObjectItem(job, "state")));
    cJSON_Delete(job);

    unsigned char *buf = malloc(LOG_CHUNK + 1);
    if (!buf)
        return hs_resp_internal(resp, "out of memory");
    size_t n = 0;
    int64_t size = 0;
    if (hs_job_log_read(req->app->env.data_dir, req->id, offset, buf, LOG_CHUNK, &n, &size, err,
                        sizeof err) != 0) {
        free(buf);
        return hs_resp_internal(resp, err);
    }
    n = utf8_complete_prefix(buf, n);
    if (offset > size) {
        free(buf);
        return hs_resp_error(resp, 400, "invalid query parameter", "offset",
                             "offset %lld is beyond the end of the log (%lld bytes)",
                             (long long)offset, (long long)size);
    }
    buf[n] = '\0';
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        free(buf);
        return hs_resp_internal(resp, "out of memory");
    }
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    cJSON_AddNumberToObject(o, "next_offset", (double)(offset + (int64_t)n));
    cJSON_AddStringToObject(o, "text", (const char *)buf);
    cJSON_AddBoolToObject(o, "finished",
                          state >= 0 && hs_job_state_is_final(state) &&
                              offset + (int64_t)n >= size);
    free(buf);
    hs_resp_stored_json(req, resp, 200, o);
}

void hs_api_job_events(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    char err[HS_ERR_LEN];
    cJSON *arr;
    if (hs_job_events_json(db, req->id, &arr, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!arr)
        return hs_resp_error(resp, 404, "not found", NULL, "no job %lld", (long long)req->id);
    hs_resp_stored_member(req, resp, 200, "events", arr);
}
