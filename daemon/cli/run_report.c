/* The runner API over HTTP for jobs run by the slurm executor (run_report.h). */
#include "run_report.h"
#include "common/clock.h"
#include "common/errors.h"
#include "kinds/precision.h"
#include "common/http_client.h"
#include "store/data_dir.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_ITEMS 200        /* a batch is sent when it holds this many items */
#define BATCH_MS 1000          /* or when its oldest item is this old */
#define HEARTBEAT_MS 3000      /* an empty batch this often, to hear of a cancel */
#define PROGRESS_MS 200
#define REQUEST_TIMEOUT_MS 30000

typedef struct report_state {
    const hs_report_options *o;
    int64_t job_id;
    char token[256];
    cJSON *items;              /* the batch being filled */
    int64_t seq;               /* the last batch the daemon accepted */
    int64_t batch_started_ms, last_sent_ms, last_progress_ms;
    bool stop;                 /* the daemon asked to stop (cancel), or reporting failed */
    bool broken;               /* reporting failed for good */
    cJSON *result;             /* from store_result */
    char node[128];            /* SLURMD_NODENAME, else the host name */
    char error[HS_ERR_LEN];
} report_state;

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = 1; }

static report_state *rs_of(hs_job_ctx *c) { return c->impl; }

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

/* One request, retried with backoff on no answer or 5xx until o->retry_s has passed. 0 with
 * *status (< 500) and *reply, or -1 with err. */
static int request(report_state *s, const char *method, const char *url, const char *body,
                   int *status, char **reply, char *err, size_t errlen)
{
    int64_t give_up = hs_now_ms() + (int64_t)s->o->retry_s * 1000;
    long pause = 200;
    for (int attempt = 1;; attempt++) {
        *reply = NULL;
        int rc = hs_http_request(method, url, s->token, body, REQUEST_TIMEOUT_MS, status, reply,
                                 err, errlen);
        if (rc == 0 && *status < 500)
            return 0;
        if (rc == 0)
            snprintf(err, errlen, "the daemon answered %d: %.200s", *status, *reply ? *reply : "");
        free(*reply);
        *reply = NULL;
        if (hs_now_ms() + pause > give_up)
            return -1;
        if (attempt == 1 || attempt % 10 == 0)
            fprintf(stderr, "surgeond run: reporting: %s (retrying)\n", err);
        sleep_ms(pause);
        pause = pause < 10000 ? pause * 2 : 10000;
    }
}

static void mark_broken(report_state *s, const char *why)
{
    if (!s->broken)
        snprintf(s->error, sizeof s->error, "reporting to the daemon failed: %.440s", why);
    s->broken = s->stop = true;
    fprintf(stderr, "surgeond run: %s\n", s->error);
}

/* Sends the batch being filled (possibly empty) as seq+1; 0, or -1 once reporting is broken. */
static int flush(report_state *s)
{
    if (s->broken)
        return -1;
    cJSON *batch = cJSON_CreateObject();
    char *body = NULL;
    if (batch) {
        cJSON_AddNumberToObject(batch, "attempt", s->o->attempt);
        cJSON_AddNumberToObject(batch, "seq", (double)(s->seq + 1));
        cJSON_AddStringToObject(batch, "node", s->node);
        cJSON_AddItemReferenceToObject(batch, "items", s->items);
        body = cJSON_PrintUnformatted(batch);
        cJSON_Delete(batch);
    }
    if (!body) {
        mark_broken(s, "out of memory");
        return -1;
    }
    char url[1100], err[HS_ERR_LEN];
    snprintf(url, sizeof url, "%s/batch", s->o->report_to);
    int status = 0;
    char *reply = NULL;
    int rc = request(s, "POST", url, body, &status, &reply, err, sizeof err);
    free(body);
    if (rc == 0 && status != 200)
        snprintf(err, sizeof err, "the daemon answered %d: %.300s", status, reply ? reply : "");
    cJSON *answer = rc == 0 && status == 200 ? cJSON_Parse(reply) : NULL;
    free(reply);
    if (!answer) {
        mark_broken(s, rc == 0 && status == 200 ? "the daemon's answer is not JSON" : err);
        return -1;
    }
    s->seq++;
    if (cJSON_IsTrue(cJSON_GetObjectItem(answer, "stop")))
        s->stop = true;
    cJSON_Delete(answer);
    cJSON_Delete(s->items);
    s->items = cJSON_CreateArray();
    s->last_sent_ms = hs_now_ms();
    if (!s->items) {
        mark_broken(s, "out of memory");
        return -1;
    }
    return 0;
}

/* Adds item (consumed) to the batch, sending it when full, old, or when now is set. */
static int add_item(report_state *s, cJSON *item, bool now)
{
    if (!item || s->broken) {
        cJSON_Delete(item);
        return -1;
    }
    if (cJSON_GetArraySize(s->items) == 0)
        s->batch_started_ms = hs_now_ms();
    cJSON_AddItemToArray(s->items, item);
    if (now || cJSON_GetArraySize(s->items) >= BATCH_ITEMS ||
        hs_now_ms() - s->batch_started_ms >= BATCH_MS)
        return flush(s);
    return 0;
}

static cJSON *item_of(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "type", type);
    return o;
}

static bool rep_should_stop(hs_job_ctx *c)
{
    report_state *s = rs_of(c);
    int64_t now = hs_now_ms();
    if (cJSON_GetArraySize(s->items) > 0 ? now - s->batch_started_ms >= BATCH_MS
                                         : now - s->last_sent_ms >= HEARTBEAT_MS)
        flush(s);
    return interrupted || s->stop;
}

static void rep_progress(hs_job_ctx *c, int64_t step, int64_t total, const char *message)
{
    report_state *s = rs_of(c);
    int64_t now = hs_now_ms();
    if (now - s->last_progress_ms < PROGRESS_MS && !(total > 0 && step >= total))
        return;
    s->last_progress_ms = now;
    cJSON *o = item_of("progress");
    if (o) {
        cJSON_AddNumberToObject(o, "step", (double)step);
        cJSON_AddNumberToObject(o, "total", (double)total);
        cJSON_AddStringToObject(o, "message", message ? message : "");
    }
    add_item(s, o, false);
}

static void rep_log_line(hs_job_ctx *c, const char *line)
{
    fprintf(stderr, "%s\n", line);
    cJSON *o = item_of("log");
    if (o)
        cJSON_AddStringToObject(o, "line", line);
    add_item(rs_of(c), o, false);
}

static int rep_curve(hs_job_ctx *c, int64_t step, double epoch, const char *name, double value)
{
    cJSON *o = item_of("curve");
    if (o) {
        cJSON_AddNumberToObject(o, "step", (double)step);
        cJSON_AddNumberToObject(o, "epoch", epoch);
        cJSON_AddStringToObject(o, "name", name ? name : "");
        cJSON_AddNumberToObject(o, "value", value);
    }
    return add_item(rs_of(c), o, false);
}

static int rep_heads(hs_job_ctx *c, const char *checkpoint, const hs_head_stat_row *rows,
                     int n_rows)
{
    cJSON *o = item_of("heads"), *arr = o ? cJSON_AddArrayToObject(o, "rows") : NULL;
    if (o)
        cJSON_AddStringToObject(o, "checkpoint", checkpoint ? checkpoint : "");
    for (int i = 0; arr && i < n_rows; i++) {
        cJSON *r = cJSON_CreateObject();
        if (!r)
            break;
        cJSON_AddNumberToObject(r, "layer", rows[i].layer);
        cJSON_AddNumberToObject(r, "head", rows[i].head);
        cJSON_AddNumberToObject(r, "bos_mass", rows[i].bos_mass);
        cJSON_AddNumberToObject(r, "entropy", rows[i].entropy);
        cJSON_AddNumberToObject(r, "local_mass", rows[i].local_mass);
        cJSON_AddStringToObject(r, "class", rows[i].cls ? rows[i].cls : "");
        cJSON_AddItemToArray(arr, r);
    }
    return add_item(rs_of(c), o, true);
}

static int rep_checkpoint(hs_job_ctx *c, const hs_checkpoint_row *row)
{
    cJSON *o = item_of("checkpoint");
    if (o) {
        cJSON_AddStringToObject(o, "name", row->name ? row->name : "");
        cJSON_AddStringToObject(o, "path", row->path ? row->path : "");
        cJSON_AddNumberToObject(o, "epoch", row->epoch);
        cJSON_AddNumberToObject(o, "step", (double)row->step);
        if (isfinite(row->ppl))
            cJSON_AddNumberToObject(o, "ppl", row->ppl);
        if (row->woken >= 0)
            cJSON_AddNumberToObject(o, "woken", row->woken);
        cJSON_AddBoolToObject(o, "best", row->best);
    }
    return add_item(rs_of(c), o, true);
}

/* Kept until the runner returns success: the job succeeds only then. */
static int rep_result(hs_job_ctx *c, const cJSON *result)
{
    report_state *s = rs_of(c);
    return hs_runner_keep_result(&s->result, result);
}

static cJSON *rep_load_diagnosis(hs_job_ctx *c, int64_t run_id, char *err, size_t errlen)
{
    report_state *s = rs_of(c);
    char url[1100];
    snprintf(url, sizeof url, "%s/diagnosis?run=%lld", s->o->report_to, (long long)run_id);
    int status = 0;
    char *reply = NULL;
    if (request(s, "GET", url, NULL, &status, &reply, err, errlen) != 0)
        return NULL;
    cJSON *answer = cJSON_Parse(reply);
    free(reply);
    cJSON *heads = cJSON_DetachItemFromObject(answer, "heads");
    if (status != 200 || !cJSON_IsArray(heads)) {
        const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(answer, "detail"));
        hs_errf(err, errlen, "run %lld: %s", (long long)run_id,
                detail ? detail : "the daemon gave no head statistics");
        cJSON_Delete(heads);
        heads = NULL;
    }
    cJSON_Delete(answer);
    return heads;
}

static const hs_job_ctx_ops report_ops = {
    .should_stop = rep_should_stop,
    .progress = rep_progress,
    .log_line = rep_log_line,
    .add_curve_point = rep_curve,
    .store_head_stats = rep_heads,
    .store_checkpoint = rep_checkpoint,
    .store_result = rep_result,
    .load_diagnosis = rep_load_diagnosis,
};

/* The token (first line of the file) and the job id (from the URL); 0 or -1 with err. */
static int read_identity(report_state *s, char *err, size_t errlen)
{
    const char *j = strstr(s->o->report_to, "/jobs/");
    char *end = NULL;
    long long id = j ? strtoll(j + 6, &end, 10) : 0;
    if (id <= 0 || !end || strcmp(end, "/report") != 0)
        return hs_errf(err, errlen, "--report-to %s: expected http://HOST:PORT/api/v1/jobs/ID/report",
                       s->o->report_to);
    s->job_id = id;
    FILE *f = fopen(s->o->token_file, "r");
    if (!f)
        return hs_errf(err, errlen, "--job-token-file %s: %s", s->o->token_file, strerror(errno));
    bool got = fgets(s->token, sizeof s->token, f) != NULL;
    fclose(f);
    s->token[strcspn(s->token, "\r\n")] = '\0';
    if (!got || !s->token[0])
        return hs_errf(err, errlen, "--job-token-file %s: the first line is empty",
                       s->o->token_file);
    return 0;
}

/* The job's run directory on the shared data dir, checked writable by writing a file there. */
static int prepare_run_dir(const hs_kind_env *env, int64_t job_id, char *run_dir, size_t len,
                           char *err, size_t errlen)
{
    char host[256] = "this node";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "this node");
    host[sizeof host - 1] = '\0';
    char why[HS_ERR_LEN];
    if (hs_data_make_run_dir(env->data_dir, env->instance, job_id, run_dir, len, why,
                             sizeof why) != 0)
        return hs_errf(err, errlen, "the shared data dir is not writable on %s: %s", host, why);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.write-check-%ld", run_dir, (long)getpid());
    FILE *f = fopen(probe, "w");
    if (!f || fputs("ok\n", f) == EOF || fclose(f) != 0) {
        int e = errno;
        if (f)
            unlink(probe);
        return hs_errf(err, errlen, "the shared data dir is not writable on %s: %s: %s", host,
                       run_dir, strerror(e));
    }
    unlink(probe);
    return 0;
}

/* Sends the outcome of a run that returned rc; the exit status. */
static int report_outcome(report_state *s, int rc, const char *err)
{
    if (rc == 0) {
        cJSON *o = item_of("result");
        if (o)
            cJSON_AddItemToObject(o, "result", s->result ? s->result : cJSON_CreateObject());
        s->result = NULL;
        return add_item(s, o, true) == 0 ? 0 : 1;
    }
    if (rc == 1) { /* stopped: interrupted, cancelled, or reporting broke */
        if (!s->broken)
            flush(s);
        fprintf(stderr, "surgeond run: stopped%s\n", s->broken ? ": cannot report" : "");
        return s->broken ? 1 : 3;
    }
    fprintf(stderr, "surgeond run: failed: %s\n", err[0] ? err : "no reason given");
    if (s->broken)
        return 1;
    cJSON *o = item_of("failed");
    if (o)
        cJSON_AddStringToObject(o, "error", err[0] ? err : "runner failed without a reason");
    add_item(s, o, true);
    return 1;
}

int hs_run_reported(const hs_job_spec *parsed, const cJSON *spec, const hs_kind_env *env,
                    hs_device *device, const hs_report_options *o)
{
    report_state s = {.o = o, .items = cJSON_CreateArray(), .last_sent_ms = hs_now_ms()};
    char err[HS_ERR_LEN] = "", run_dir[4096];
    if (!s.items || read_identity(&s, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond run: %s\n", s.items ? err : "out of memory");
        cJSON_Delete(s.items);
        return 2;
    }
    hs_job_ctx ctx = {.ops = &report_ops, .impl = &s, .job_id = s.job_id, .attempt = o->attempt,
                      .model_root = env->model_root, .corpus_root = env->corpus_root,
                      .data_dir = env->data_dir, .run_dir = run_dir, .instance = env->instance,
                      .device = device};
    const char *slurm_id = getenv("SLURM_JOB_ID"), *nodename = getenv("SLURMD_NODENAME");
    char host[256] = "?";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    snprintf(s.node, sizeof s.node, "%.120s", nodename && *nodename ? nodename : host);
    int rc = prepare_run_dir(env, s.job_id, run_dir, sizeof run_dir, err, sizeof err) != 0 ? -1 : 0;
    hs_job_logf(&ctx, "job %lld (%s) attempt %d started on %s (Slurm job %s, %s)%s",
                (long long)s.job_id, parsed->kind->name, o->attempt, host,
                slurm_id ? slurm_id : "none", hs_device_describe(device),
                rc == 0 ? "" : ": cannot write checkpoints");
    if (flush(&s) != 0) { /* the daemon refused the token, or cannot be reached */
        cJSON_Delete(s.items);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (rc == 0)
        rc = hs_job_kind_run(parsed->kind, &ctx, spec, err, sizeof err);
    if (rc == 1 && !interrupted && !s.stop)
        rc = -1, snprintf(err, sizeof err, "runner stopped without a cancel request");
    int status = report_outcome(&s, rc, err);
    cJSON_Delete(s.result);
    cJSON_Delete(s.items);
    return status;
}
