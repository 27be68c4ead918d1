/* Worker threads: claim, run, commit the outcome (worker.h). */
#include "worker.h"
#include "common/clock.h"
#include "engine/device.h"
#include "common/errors.h"
#include "kinds/precision.h"
#include "store/daemon_state.h"
#include "store/data_dir.h"
#include "store/model_alias.h"
#include "store/uploads.h"
#include "store/job_store.h"
#include "worker_context.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CANCEL_POLL_MS 250 /* how often should_stop also asks the store */
#define IDLE_WAIT_MS 1000  /* re-check the queue at least this often */
#define FINISH_RETRY_FIRST_MS 100   /* first pause before retrying an outcome commit */
#define FINISH_RETRY_MAX_MS 5000    /* the pause doubles up to this */
/* The space reserve (store/data_dir.h) holds RESERVE_BYTES of allocated disk space that a
 * worker gives up when recording an outcome fails on a full disk: the job then fails with its reason (ENOSPC)
 * and the next job can be claimed, instead of the worker waiting for space that may never
 * come. It is allocated again before a claim once there is room. */
#define RESERVE_BYTES (2L * 1024 * 1024)

typedef struct hs_worker {
    hs_worker_pool *pool;
    pthread_t thread;
    bool started;
    hs_device *device;
    char device_spec[32];
    char description[HS_ERR_LEN + 16];
    _Atomic int64_t job_id;        /* the job running now, 0 when idle */
    atomic_bool cancel_requested;  /* for job_id */
    int64_t last_cancel_poll_ms;
} hs_worker;

struct hs_worker_pool {
    hs_store *store;
    hs_kind_env env;
    int n_workers;
    hs_worker *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    uint64_t wake_seq; /* bumped by notify (under mutex) */
    int idle_waiters;  /* workers waiting for work (under mutex) */
    atomic_bool stopping;
    atomic_bool paused;
    atomic_bool reserve_missing; /* the space reserve was given up or never made */
    char reserve_path[4096];
};

static void log_error(const char *what, const char *err)
{
    char stamp[HS_TIME_LEN];
    fprintf(stderr, "%s surgeond: %s: %s\n", hs_format_time(hs_now_ms(), stamp), what, err);
}

static bool worker_should_stop(void *arg)
{
    hs_worker *w = arg;
    if (atomic_load(&w->pool->stopping) || atomic_load(&w->cancel_requested))
        return true;
    int64_t now = hs_now_ms();
    if (now - w->last_cancel_poll_ms >= CANCEL_POLL_MS) {
        w->last_cancel_poll_ms = now;
        char err[HS_ERR_LEN];
        bool requested = false;
        hs_db *db = hs_store_reader(w->pool->store, err, sizeof err);
        if (db && hs_job_cancel_requested(db, atomic_load(&w->job_id), &requested, err,
                                          sizeof err) == 0 && requested)
            atomic_store(&w->cancel_requested, true);
    }
    return atomic_load(&w->cancel_requested);
}

/* Allocates the space reserve (best effort: on a full disk it stays missing until later). */
static void make_reserve(hs_worker_pool *pool)
{
    char tmp[4096 + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", pool->reserve_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int rc = posix_fallocate(fd, 0, RESERVE_BYTES);
    if (close(fd) == 0 && rc == 0 && rename(tmp, pool->reserve_path) == 0) {
        atomic_store(&pool->reserve_missing, false);
        return;
    }
    unlink(tmp);
}

/* Frees the space reserve; true when there was one to free. */
static bool release_reserve(hs_worker_pool *pool)
{
    if (unlink(pool->reserve_path) != 0)
        return false;
    atomic_store(&pool->reserve_missing, true);
    return true;
}

/* Commits a job's outcome. A storage failure (disk full, an I/O error) is logged and the
 * commit retried with a growing pause until it works or the daemon stops (then the start-up
 * reconciliation requeues the job): an outcome, often hours of work, is never dropped while
 * the job stays "running", and this worker takes no new job meanwhile. */
static void finish(hs_worker *w, int64_t id, hs_job_state to, const char *reason,
                   const char *result_json, const char *error)
{
    char err[HS_ERR_LEN];
    long pause_ms = FINISH_RETRY_FIRST_MS;
    for (int attempt = 1;; attempt++) {
        if (hs_job_transition_commit(w->pool->store, id, HS_JOB_RUNNING, to, reason, result_json,
                                     error, err, sizeof err) >= 0) {
            if (attempt > 1) {
                char what[96];
                snprintf(what, sizeof what, "job %lld", (long long)id);
                log_error(what, "outcome recorded after storage errors");
            }
            return;
        }
        char what[128];
        snprintf(what, sizeof what, "recording the outcome of job %lld (try %d; retrying)",
                 (long long)id, attempt);
        if ((attempt & (attempt - 1)) == 0) /* tries 1, 2, 4, 8, ...: not a line per try */
            log_error(what, err);
        if (strstr(err, "ENOSPC") && release_reserve(w->pool)) {
            log_error(what, "disk full: freed the space reserve to record the outcome");
            hs_store_retry_now(w->pool->store);
            continue;
        }
        for (long slept = 0; slept < pause_ms && !atomic_load(&w->pool->stopping); slept += 50)
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
        if (atomic_load(&w->pool->stopping)) {
            log_error(what, "daemon stopping: the job is requeued at the next start");
            return;
        }
        if (pause_ms < FINISH_RETRY_MAX_MS)
            pause_ms *= 2;
    }
}

/* Commits what the runner's rc (and any storage failure meanwhile) means for the job:
 * succeeded, cancelled, requeued because the daemon stops, or failed with err. */
static void record_outcome(hs_worker *w, int64_t job_id, hs_job_ctx *ctx, int rc, char *err,
                           size_t errlen)
{
    hs_worker_job_state *st = ctx->impl;
    if (rc == 0 && st->storage_failed) {
        rc = -1;
        snprintf(err, errlen, "%s", st->storage_error);
    } else if (rc < 0 && st->storage_failed && !strstr(err, st->storage_error)) {
        /* The runner gave up because a write failed: its reason gets the store's cause. */
        char with_cause[2 * HS_ERR_LEN + 4];
        snprintf(with_cause, sizeof with_cause, "%s (%s)", err, st->storage_error);
        snprintf(err, errlen, "%.*s", (int)(errlen - 1), with_cause);
    }
    if (rc == 0) {
        hs_job_logf(ctx, "succeeded");
        finish(w, job_id, HS_JOB_SUCCEEDED, "runner succeeded",
               st->result_json ? st->result_json : "{}", NULL);
    } else if (rc == 1 && atomic_load(&w->cancel_requested)) {
        hs_job_logf(ctx, "cancelled");
        finish(w, job_id, HS_JOB_CANCELLED, "cancelled by request while running", NULL,
               "cancelled by request");
    } else if (rc == 1 && atomic_load(&w->pool->stopping)) {
        hs_job_logf(ctx, "stopped: daemon shutting down; the job is requeued");
        if (hs_job_requeue_unfinished(w->pool->store, job_id, "requeued: daemon shutting down",
                                      err, errlen) < 0)
            log_error("requeueing a job at shutdown", err);
    } else {
        if (rc == 1 || !err[0])
            snprintf(err, errlen, "%s", rc == 1 ? "runner stopped without a cancel request"
                                                : "runner failed without a reason");
        hs_job_logf(ctx, "failed: %s", err);
        finish(w, job_id, HS_JOB_FAILED, err, NULL, err);
    }
}

/* Replaces spec[field] by what resolve() made of it; the string spec[field] when it is one. */
static int replace_field(cJSON *spec, const char *field, const char *value, char *err,
                         size_t errlen)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(spec, field);
    if (strcmp(old->valuestring, value) == 0)
        return 0;
    if (!cJSON_ReplaceItemInObjectCaseSensitive(spec, field, cJSON_CreateString(value)))
        return hs_errf(err, errlen, "out of memory resolving the %s", field);
    return 0;
}

/* The spec's model and corpus as the job starts: a model alias (run:<id>/best,
 * run:latest/...) becomes the checkpoint it names now, an upload corpus the content it has
 * now ("upload:<name>@<sha256>"); a resumed attempt gets what the first one recorded
 * (store/model_alias.h, store/uploads.h). 0, or -1 with err. */
static int resolve_names(hs_worker_pool *pool, int64_t job_id, cJSON *spec, char *err,
                         size_t errlen)
{
    char concrete[320];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (cJSON_IsString(model) &&
        (hs_job_resolve_model(pool->store, job_id, model->valuestring, concrete,
                              sizeof concrete, err, errlen) != 0 ||
         replace_field(spec, "model", concrete, err, errlen) != 0))
        return -1;
    const cJSON *corpus = cJSON_GetObjectItemCaseSensitive(spec, "corpus");
    if (cJSON_IsString(corpus) &&
        (hs_job_resolve_corpus(pool->store, pool->env.data_dir, job_id, corpus->valuestring,
                               concrete, sizeof concrete, err, errlen) != 0 ||
         replace_field(spec, "corpus", concrete, err, errlen) != 0))
        return -1;
    return 0;
}

static void run_claimed(hs_worker *w, hs_claimed_job *job)
{
    hs_worker_pool *pool = w->pool;
    char err[HS_ERR_LEN] = "";
    const hs_job_kind *kind = hs_job_kind_find(job->kind);
    cJSON *spec = cJSON_Parse(job->spec_json);
    char run_dir[4096];
    if (!kind) {
        snprintf(err, sizeof err, "job kind %s is not available in this build", job->kind);
        finish(w, job->id, HS_JOB_FAILED, err, NULL, err);
        cJSON_Delete(spec);
        return;
    }
    if (!spec || resolve_names(pool, job->id, spec, err, sizeof err) != 0 ||
        hs_data_make_run_dir(pool->env.data_dir, pool->env.instance, job->id, run_dir,
                             sizeof run_dir, err, sizeof err) != 0) {
        if (!spec)
            snprintf(err, sizeof err, "stored spec of job %lld is not valid JSON",
                     (long long)job->id);
        finish(w, job->id, HS_JOB_FAILED, err, NULL, err);
        cJSON_Delete(spec);
        return;
    }
    hs_worker_job_state st = {.store = pool->store, .stop_requested = worker_should_stop,
                              .stop_arg = w};
    st.log = hs_job_log_open(pool->env.data_dir, job->id, err, sizeof err);
    if (!st.log)
        log_error("opening a job log", err);
    hs_job_ctx ctx = {
        .ops = &hs_worker_ctx_ops, .impl = &st, .job_id = job->id, .attempt = job->attempt,
        .model_root = pool->env.model_root, .corpus_root = pool->env.corpus_root,
        .data_dir = pool->env.data_dir, .run_dir = run_dir, .instance = pool->env.instance,
        .device = w->device,
    };
    hs_job_logf(&ctx, "job %lld (%s) started on %s, attempt %d of %d", (long long)job->id,
                job->kind, w->device_spec, job->attempt, job->max_attempts);
    err[0] = '\0';
    int rc = hs_job_kind_run(kind, &ctx, spec, err, sizeof err);
    hs_worker_ctx_flush_progress(&ctx);
    record_outcome(w, job->id, &ctx, rc, err, sizeof err);
    char why[HS_ERR_LEN];
    int recovered = hs_device_recover(w->device, why, sizeof why);
    if (recovered < 0)
        log_error("recovering the device", why);
    else if (recovered > 0)
        hs_job_logf(&ctx, "device %s faulted during this job and was reset; its cached models "
                    "were dropped", w->device_spec);
    hs_job_log_close(st.log);
    free(st.result_json);
    cJSON_Delete(spec);
}

static void wait_for_work(hs_worker_pool *pool, uint64_t seen_seq)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += IDLE_WAIT_MS / 1000;
    pthread_mutex_lock(&pool->mutex);
    pool->idle_waiters++;
    while (!atomic_load(&pool->stopping) && pool->wake_seq == seen_seq)
        if (pthread_cond_timedwait(&pool->wake, &pool->mutex, &until) == ETIMEDOUT)
            break;
    pool->idle_waiters--;
    pthread_mutex_unlock(&pool->mutex);
}

static void *worker_main(void *arg)
{
    hs_worker *w = arg;
    hs_worker_pool *pool = w->pool;
    while (!atomic_load(&pool->stopping)) {
        pthread_mutex_lock(&pool->mutex);
        uint64_t seq = pool->wake_seq;
        pthread_mutex_unlock(&pool->mutex);
        if (atomic_load(&pool->paused)) {
            wait_for_work(pool, seq);
            continue;
        }
        if (atomic_load(&pool->reserve_missing))
            make_reserve(pool);
        hs_claimed_job job;
        char err[HS_ERR_LEN];
        int rc = hs_job_claim(pool->store, w->device_spec, &job, err, sizeof err);
        if (rc < 0) {
            if (!hs_store_degraded(pool->store)) /* else the store logs why, not each second */
                log_error("claiming a job", err);
            wait_for_work(pool, seq);
            continue;
        }
        if (rc == 0) {
            wait_for_work(pool, seq);
            continue;
        }
        atomic_store(&w->cancel_requested, false);
        w->last_cancel_poll_ms = 0;
        atomic_store(&w->job_id, job.id);
        run_claimed(w, &job);
        atomic_store(&w->job_id, 0);
        atomic_store(&w->cancel_requested, false);
        hs_claimed_job_free(&job);
    }
    return NULL;
}

int hs_workers_start(hs_store *store, const hs_kind_env *env, const char *const *devices,
                     int n_devices, long long model_cache_bytes, hs_worker_pool **out,
                     char *err, size_t errlen)
{
    for (int i = 0; i < n_devices; i++) {
        hs_device_spec parsed;
        char why[HS_ERR_LEN];
        if (hs_device_spec_parse(devices[i], &parsed, why, sizeof why) != 0)
            return hs_errf(err, errlen, "--device: %s", why);
    }
    hs_worker_pool *pool = calloc(1, sizeof *pool);
    /* One slot per --device, plus one for the cpu fallback when no device can be used. */
    if (!pool || !(pool->workers = calloc((size_t)n_devices + 1, sizeof *pool->workers))) {
        free(pool);
        return hs_errf(err, errlen, "out of memory starting workers");
    }
    pool->store = store;
    pool->env = *env;
    if (hs_data_space_reserve_path(env->data_dir, pool->reserve_path, sizeof pool->reserve_path,
                                   err, errlen) != 0) {
        free(pool->workers);
        free(pool);
        return -1;
    }
    atomic_store(&pool->reserve_missing, true);
    make_reserve(pool);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    bool paused = false;
    if (hs_state_load_paused(store, &paused, err, errlen) != 0) {
        hs_workers_stop(pool);
        return -1;
    }
    atomic_store(&pool->paused, paused);
    /* A device that cannot be used (no GPU, bad index) gets no worker: it is logged and listed
     * as unavailable, and the daemon keeps serving on the others — on a cpu worker when none
     * of the requested devices works. */
    int usable = 0;
    for (int i = 0; i <= n_devices; i++) {
        if (i == n_devices && usable > 0)
            break;
        const char *spec = i < n_devices ? devices[i] : "cpu";
        hs_worker *w = &pool->workers[pool->n_workers++];
        w->pool = pool;
        snprintf(w->device_spec, sizeof w->device_spec, "%s", spec);
        char inner[HS_ERR_LEN];
        w->device = hs_device_open(spec, inner, sizeof inner);
        if (!w->device) {
            snprintf(w->description, sizeof w->description, "unavailable: %s", inner);
            if (i == n_devices) {
                hs_errf(err, errlen, "no device can be used; cpu fallback: %s", inner);
                hs_workers_stop(pool);
                return -1;
            }
            log_error("device not started", w->description);
            continue;
        }
        if (i == n_devices)
            log_error("workers", "none of the requested devices can be used: serving on cpu");
        usable++;
        if (model_cache_bytes >= 0)
            hs_device_set_cache_limit(w->device, (size_t)model_cache_bytes);
        const char *desc = hs_device_describe(w->device);
        snprintf(w->description, sizeof w->description, "%s", desc ? desc : spec);
    }
    for (int i = 0; i < pool->n_workers; i++) {
        hs_worker *w = &pool->workers[i];
        if (!w->device)
            continue;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            hs_errf(err, errlen, "cannot start the worker thread of %s", w->device_spec);
            hs_workers_stop(pool);
            return -1;
        }
        w->started = true;
    }
    *out = pool;
    return 0;
}

void hs_workers_stop(hs_worker_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->n_workers; i++) {
        hs_worker *w = &pool->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        if (w->device)
            hs_device_close(w->device);
    }
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

/* Wakes idle workers. While paused nobody is woken per submit (resume wakes everyone); a
 * waiter that misses a bump re-checks the queue within IDLE_WAIT_MS anyway. */
static void wake(hs_worker_pool *pool, bool force)
{
    pthread_mutex_lock(&pool->mutex);
    pool->wake_seq++;
    if (force || (pool->idle_waiters > 0 && !atomic_load(&pool->paused)))
        pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
}

void hs_workers_notify(hs_worker_pool *pool) { wake(pool, false); }

int hs_workers_set_paused(hs_worker_pool *pool, bool paused, char *err, size_t errlen)
{
    if (hs_state_save_paused(pool->store, paused, err, errlen) != 0)
        return -1;
    atomic_store(&pool->paused, paused);
    wake(pool, true);
    return 0;
}

bool hs_workers_paused(hs_worker_pool *pool) { return atomic_load(&pool->paused); }

void hs_workers_cancel_running(hs_worker_pool *pool, int64_t job_id)
{
    for (int i = 0; i < pool->n_workers; i++)
        if (atomic_load(&pool->workers[i].job_id) == job_id)
            atomic_store(&pool->workers[i].cancel_requested, true);
}

/* path relative to root when it lies under it, else NULL. */
static const char *under_root(const char *path, const char *root)
{
    size_t n = root ? strlen(root) : 0;
    while (n > 1 && root[n - 1] == '/')
        n--;
    return n && strncmp(path, root, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

/* The models a device keeps — as the name a job gives under the model root, or the path under
 * the data dir (a run's checkpoint); never an absolute server path —, their resident bytes
 * and last use; with the cache's limit and the bytes it holds. */
static cJSON *model_cache_json(const hs_worker_pool *pool, hs_device *dev)
{
    enum { SHOWN = 64 };
    hs_device_cached_model *models = calloc(SHOWN, sizeof *models);
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (!models || !o || !list) {
        free(models);
        cJSON_Delete(o);
        cJSON_Delete(list);
        return NULL;
    }
    size_t limit = 0, used = 0;
    int n = hs_device_cache_list(dev, models, SHOWN, &limit, &used);
    cJSON_AddNumberToObject(o, "limit_bytes", (double)limit);
    cJSON_AddNumberToObject(o, "used_bytes", (double)used);
    char stamp[HS_TIME_LEN];
    for (int i = 0; i < n && i < SHOWN; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m)
            break;
        const char *name = under_root(models[i].path, pool->env.model_root);
        const char *in_data = under_root(models[i].path, pool->env.data_dir);
        if (name)
            cJSON_AddStringToObject(m, "name", name);
        else
            cJSON_AddNullToObject(m, "name");
        if (in_data)
            cJSON_AddStringToObject(m, "path", in_data);
        else
            cJSON_AddNullToObject(m, "path");
        cJSON_AddNumberToObject(m, "resident_bytes", (double)models[i].resident_bytes);
        cJSON_AddStringToObject(m, "last_used", hs_format_time(models[i].last_used_ms, stamp));
        cJSON_AddItemToArray(list, m);
    }
    cJSON_AddItemToObject(o, "models", list);
    free(models);
    return o;
}

cJSON *hs_workers_json(hs_worker_pool *pool)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < pool->n_workers; i++) {
        hs_worker *w = &pool->workers[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "device", w->device_spec);
        cJSON_AddStringToObject(o, "description", w->description);
        cJSON_AddBoolToObject(o, "available", w->device != NULL);
        int64_t id = atomic_load(&w->job_id);
        if (id)
            cJSON_AddNumberToObject(o, "job_id", (double)id);
        else
            cJSON_AddNullToObject(o, "job_id");
        if (w->device)
            cJSON_AddItemToObject(o, "model_cache", model_cache_json(pool, w->device));
        else
            cJSON_AddNullToObject(o, "model_cache");
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
