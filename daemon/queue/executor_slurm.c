/* The slurm executor's thread: submit, follow, cancel, end (executor_slurm.h). */
#include "executor_slurm.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/sha256.h"
#include "store/cluster_jobs.h"
#include "store/daemon_state.h"
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 1024  /* jobs one squeue or sacct answer may list */
#define CHUNK 64          /* attempts asked about per squeue/sacct call */
#define VANISH_POLLS 3    /* polls a job may be missing from squeue and sacct before it counts as gone */

struct hs_slurm_executor {
    hs_store *store;
    hs_kind_env env;
    hs_slurm_config cfg;
    pthread_t thread;
    atomic_bool stopping;
    char tag[8];      /* from the data dir's path: tells this daemon's Slurm jobs from others' */
    int64_t missing_row[MAX_TRACKED]; /* rows missing from squeue and sacct, with counts */
    int missing_count[MAX_TRACKED];
    hs_slurm_job jobs[MAX_TRACKED];
};

static void logf_ex(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_ex(const char *fmt, ...)
{
    char stamp[HS_TIME_LEN], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s surgeond: slurm: %s\n", hs_format_time(hs_now_ms(), stamp), line);
}

/* <data_dir>/cluster/job-<id>-a<attempt>.<ext> */
static void attempt_path(const hs_slurm_executor *ex, int64_t job_id, int attempt,
                         const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/cluster/job-%lld-a%d.%s", ex->env.data_dir, (long long)job_id,
             attempt, ext);
}

/* Writes path atomically (a temporary file renamed over it): a crash leaves the old file or
 * the new one, never a part. */
static int write_file(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return hs_errf(err, errlen, "%s: %s", tmp, strerror(errno));
        }
        done += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return hs_errf(err, errlen, "%s: %s", path, strerror(saved));
    }
    return 0;
}

/* The job's resources: the daemon's defaults, overridden by the spec's "slurm" object
 * (validated at submit by kinds/spec_slurm.c). Strings point into spec. */
static hs_slurm_resources resources_of(const hs_slurm_config *cfg, const cJSON *spec)
{
    hs_slurm_resources r = cfg->defaults;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(spec, "slurm");
    const char *p;
    if ((p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "partition"))))
        r.partition = p;
    if ((p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "gres"))))
        r.gres = p;
    if ((p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "mem"))))
        r.mem = p;
    if ((p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "time"))))
        r.time = p;
    const cJSON *cpus = cJSON_GetObjectItemCaseSensitive(s, "cpus");
    if (cJSON_IsNumber(cpus))
        r.cpus = (int)cpus->valuedouble;
    return r;
}

/* The batch script of an attempt: exec surgeond run, reporting to the daemon. */
static int write_script(const hs_slurm_executor *ex, int64_t job_id, int attempt,
                        const hs_slurm_resources *r, char *script, size_t len, char *err,
                        size_t errlen)
{
    char spec[4096], token[4096];
    attempt_path(ex, job_id, attempt, "json", spec, sizeof spec);
    attempt_path(ex, job_id, attempt, "token", token, sizeof token);
    attempt_path(ex, job_id, attempt, "sh", script, len);
    const char *device = ex->cfg.device;
    if (strcmp(device, "auto") == 0)
        device = r->gres && strstr(r->gres, "gpu") ? "cuda:0" : "cpu";
    char *text = NULL;
    int n = asprintf(&text,
                     "#!/bin/sh\n# Head Surgeon job %lld, attempt %d (written by surgeond serve)\n"
                     "exec '%s' run --report-to '%s/api/v1/jobs/%lld/report' --job-token-file '%s'"
                     " --attempt %d --data-dir '%s' --model-root '%s' --corpus-root '%s'"
                     " --instance '%s' --device '%s' '%s'\n",
                     (long long)job_id, attempt, ex->cfg.surgeond, ex->cfg.report_url,
                     (long long)job_id, token, attempt, ex->env.data_dir, ex->env.model_root,
                     ex->env.corpus_root, ex->env.instance ? ex->env.instance : "", device,
                     spec);
    if (n < 0)
        return hs_errf(err, errlen, "out of memory writing a batch script");
    int rc = write_file(script, text, 0700, err, errlen);
    free(text);
    return rc;
}

/* In test builds, HS_TEST_CRASH_BEFORE_SBATCH and HS_TEST_CRASH_AFTER_SBATCH make the daemon die
 * right before sbatch runs (the attempts recorded, nothing submitted) or right after it
 * answered and before the Slurm id is recorded: what a crash at that point leaves behind. */
static void crash_point(const char *variable)
{
#ifdef HS_TEST_BUILD
    if (getenv(variable))
        raise(SIGKILL);
#else
    (void)variable;
#endif
}

/* Runs sbatch for an attempt whose files exist, as an ordinary Slurm job; records the Slurm
 * id, or ends the attempt when Slurm refuses it (a transient failure leaves it to be tried at
 * the next poll). */
static void submit_attempt(hs_slurm_executor *ex, const hs_cluster_attempt *a, const cJSON *spec)
{
    char err[HS_ERR_LEN], script[4096], log_path[4096], slurm_id[32];
    hs_slurm_resources r = resources_of(&ex->cfg, spec);
    attempt_path(ex, a->job_id, a->attempt, "sh", script, sizeof script);
    attempt_path(ex, a->job_id, a->attempt, "out", log_path, sizeof log_path);
    bool transient = false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cluster", ex->env.data_dir);
    crash_point("HS_TEST_CRASH_BEFORE_SBATCH");
    if (hs_slurm_sbatch(&r, a->slurm_name, log_path, dir, NULL, script, slurm_id,
                        sizeof slurm_id, &transient, err, sizeof err) != 0) {
        logf_ex("job %lld: %s%s", (long long)a->job_id, err, transient ? " (will retry)" : "");
        char e2[HS_ERR_LEN];
        if (!transient && hs_cluster_attempt_end(ex->store, a, "SUBMIT_REFUSED", err, true, e2,
                                                 sizeof e2) != 0)
            logf_ex("recording a refused submission: %s", e2);
        return;
    }
    crash_point("HS_TEST_CRASH_AFTER_SBATCH");
    if (hs_cluster_attempt_submitted(ex->store, a->row_id, slurm_id, err, sizeof err) != 0)
        logf_ex("job %lld is Slurm job %s but recording it failed (%s); found again by name",
                (long long)a->job_id, slurm_id, err);
    else
        logf_ex("job %lld attempt %d submitted as Slurm job %s", (long long)a->job_id,
                a->attempt, slurm_id);
}

/* <data_dir>/cluster/<array name>.<ext> */
static void array_path(const hs_slurm_executor *ex, const char *name, const char *ext, char *out,
                       size_t len)
{
    snprintf(out, len, "%s/cluster/%s.%s", ex->env.data_dir, name, ext);
}

/* The batch script of an array: each task runs the script of its attempt (written before),
 * its output going to that attempt's log. tasks[i] is the attempt of task i. */
static int write_array_script(const hs_slurm_executor *ex, const char *name,
                              const hs_cluster_attempt *tasks, int n, char *err, size_t errlen)
{
    size_t cap = 256 + (size_t)n * 8300;
    char *text = malloc(cap), script[4096], log_path[4096], path[4096];
    if (!text)
        return hs_errf(err, errlen, "out of memory writing an array script");
    size_t used = (size_t)snprintf(text, cap,
                                   "#!/bin/sh\n# Head Surgeon array %s: the attempt each task "
                                   "runs (written by surgeond serve)\n"
                                   "case \"$SLURM_ARRAY_TASK_ID\" in\n", name);
    for (int i = 0; i < n; i++) {
        attempt_path(ex, tasks[i].job_id, tasks[i].attempt, "sh", script, sizeof script);
        attempt_path(ex, tasks[i].job_id, tasks[i].attempt, "out", log_path, sizeof log_path);
        used += (size_t)snprintf(text + used, cap - used, "%d) exec '%s' >> '%s' 2>&1 ;;\n",
                                 tasks[i].array_task, script, log_path);
    }
    snprintf(text + used, cap - used, "*) echo \"no Head Surgeon job for array task "
             "$SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n");
    array_path(ex, name, "sh", path, sizeof path);
    int rc = write_file(path, text, 0700, err, errlen);
    free(text);
    return rc;
}

/* Runs sbatch --array for the n recorded tasks (all of the array named tasks[0].slurm_name,
 * not yet submitted, their array script written) and records "<id>_<task>" for each; a
 * refusal ends every task, a transient failure leaves them to the next poll. */
static void submit_array(hs_slurm_executor *ex, const hs_cluster_attempt *tasks, int n,
                         const cJSON *spec)
{
    char err[HS_ERR_LEN], script[4096], log_path[4096], dir[4096], array_id[32];
    const char *name = tasks[0].slurm_name;
    size_t cap = (size_t)n * 24 + 1, used = 0;
    char *indexes = malloc(cap);
    int *numbers = malloc((size_t)n * sizeof *numbers);
    if (!indexes || !numbers) {
        logf_ex("array %s: out of memory", name);
        free(indexes);
        free(numbers);
        return;
    }
    indexes[0] = '\0';
    for (int i = 0; i < n; i++)
        numbers[i] = tasks[i].array_task;
    for (int i = 0, last; i < n; i = last + 1) { /* "0-7", or "0,2-3" for a resubmitted part */
        for (last = i; last + 1 < n && numbers[last + 1] == numbers[last] + 1; last++)
            ;
        used += (size_t)snprintf(indexes + used, cap - used, "%s%d", used ? "," : "", numbers[i]);
        if (last > i)
            used += (size_t)snprintf(indexes + used, cap - used, "-%d", numbers[last]);
    }
    hs_slurm_resources r = resources_of(&ex->cfg, spec);
    array_path(ex, name, "sh", script, sizeof script);
    snprintf(log_path, sizeof log_path, "%s/cluster/%s-%%a.out", ex->env.data_dir, name);
    snprintf(dir, sizeof dir, "%s/cluster", ex->env.data_dir);
    bool transient = false;
    crash_point("HS_TEST_CRASH_BEFORE_SBATCH");
    int rc = hs_slurm_sbatch(&r, name, log_path, dir, indexes, script, array_id,
                             sizeof array_id, &transient, err, sizeof err);
    free(indexes);
    if (rc != 0) {
        free(numbers);
        logf_ex("array %s (%d jobs): %s%s", name, n, err, transient ? " (will retry)" : "");
        char e2[HS_ERR_LEN];
        for (int i = 0; i < n && !transient; i++)
            if (hs_cluster_attempt_end(ex->store, &tasks[i], "SUBMIT_REFUSED", err, true, e2,
                                       sizeof e2) != 0)
                logf_ex("recording a refused submission: %s", e2);
        return;
    }
    crash_point("HS_TEST_CRASH_AFTER_SBATCH");
    rc = hs_cluster_array_submitted(ex->store, name, array_id, numbers, n, err, sizeof err);
    free(numbers);
    if (rc != 0)
        logf_ex("array %s is Slurm job %s but recording it failed (%s); found again by name",
                name, array_id, err);
    else
        logf_ex("jobs %lld..%lld submitted as Slurm array %s (%d tasks)",
                (long long)tasks[0].job_id, (long long)tasks[n - 1].job_id, array_id, n);
}

/* Writes an attempt's files (token, spec, script) and records it (as task array_task of the
 * array named name, or -1: an ordinary job); 1 recorded (*a filled), 0 the job is no longer
 * ready, -1 error (logged). */
static int prepare_attempt(hs_slurm_executor *ex, const hs_cluster_candidate *c,
                           const char *name, int array_task, const cJSON *spec,
                           hs_cluster_attempt *a)
{
    char err[HS_ERR_LEN], token[65], hash[HS_SHA256_HEX_LEN], path[4096];
    *a = (hs_cluster_attempt){.job_id = c->job_id, .attempt = c->attempt, .max_attempts = 1,
                              .array_task = array_task};
    snprintf(a->slurm_name, sizeof a->slurm_name, "%s", name);
    if (!spec || hs_random_hex(32, token, sizeof token) != 0) {
        logf_ex("job %lld: %s", (long long)c->job_id, spec ? "no random token" : "bad spec");
        return -1;
    }
    hs_slurm_resources r = resources_of(&ex->cfg, spec);
    hs_sha256_hex(token, strlen(token), hash);
    attempt_path(ex, c->job_id, c->attempt, "token", path, sizeof path);
    int rc = write_file(path, token, 0600, err, sizeof err);
    attempt_path(ex, c->job_id, c->attempt, "json", path, sizeof path);
    if (rc == 0)
        rc = write_file(path, c->spec_json, 0644, err, sizeof err);
    if (rc == 0)
        rc = write_script(ex, c->job_id, c->attempt, &r, path, sizeof path, err, sizeof err);
    int created = rc == 0 ? hs_cluster_attempt_create(ex->store, c->job_id, c->attempt, name,
                                                      array_task, hash, &a->row_id, err,
                                                      sizeof err)
                          : -1;
    if (created < 0)
        logf_ex("job %lld: preparing its Slurm job: %s", (long long)c->job_id, err);
    return created;
}

/* Creates the attempt of one queued job and submits it as an ordinary Slurm job. */
static void start_candidate(hs_slurm_executor *ex, const hs_cluster_candidate *c)
{
    char name[64];
    hs_cluster_attempt a;
    snprintf(name, sizeof name, "hs-%s-%lld-a%d", ex->tag, (long long)c->job_id, c->attempt);
    cJSON *spec = cJSON_Parse(c->spec_json);
    if (prepare_attempt(ex, c, name, -1, spec, &a) == 1)
        submit_attempt(ex, &a, spec);
    cJSON_Delete(spec);
}

/* Creates the attempts of n queued jobs of one sweep (first attempts, same resources) as the
 * tasks of one array and submits it. */
static void start_array(hs_slurm_executor *ex, const hs_cluster_candidate *const *c, int n)
{
    char name[64], err[HS_ERR_LEN];
    snprintf(name, sizeof name, "hs-%s-arr%lld-a%d", ex->tag, (long long)c[0]->job_id,
             c[0]->attempt);
    hs_cluster_attempt *tasks = calloc((size_t)n, sizeof *tasks);
    cJSON *first = cJSON_Parse(c[0]->spec_json);
    int m = 0;
    for (int i = 0; tasks && i < n && !atomic_load(&ex->stopping); i++) {
        cJSON *spec = cJSON_Parse(c[i]->spec_json);
        if (prepare_attempt(ex, c[i], name, m, spec, &tasks[m]) == 1)
            m++;
        cJSON_Delete(spec);
    }
    if (!tasks)
        logf_ex("array %s: out of memory", name);
    else if (m > 0 && write_array_script(ex, name, tasks, m, err, sizeof err) != 0)
        logf_ex("array %s: %s (its tasks are tried again at the next poll)", name, err);
    else if (m > 0)
        submit_array(ex, tasks, m, first);
    cJSON_Delete(first);
    free(tasks);
}

/* What decides a job's sbatch flags, as one comparable string. */
#define KEY_LEN 1024
static void resources_key(const hs_slurm_config *cfg, const char *spec_json, char *out)
{
    cJSON *spec = cJSON_Parse(spec_json);
    hs_slurm_resources r = resources_of(cfg, spec);
    snprintf(out, KEY_LEN, "%s|%s|%s|%s|%s|%d", r.partition ? r.partition : "",
             r.account ? r.account : "", r.gres ? r.gres : "", r.mem ? r.mem : "",
             r.time ? r.time : "", r.cpus);
    cJSON_Delete(spec);
}

/* Starts the n candidates (priority order): the first attempts of one sweep's jobs that ask for
 * the same resources go together as one array, everything else (a retry included) as an
 * ordinary job. */
static void start_candidates(hs_slurm_executor *ex, const hs_cluster_candidate *c, int n)
{
    if (n <= 0)
        return;
    bool *taken = calloc((size_t)n, sizeof *taken);
    const hs_cluster_candidate **group = calloc((size_t)n, sizeof *group);
    char *keys = malloc((size_t)n * KEY_LEN);
    if (!taken || !group || !keys) {
        logf_ex("out of memory submitting queued jobs");
        n = 0;
    }
    for (int i = 0; i < n; i++)
        resources_key(&ex->cfg, c[i].spec_json, keys + (size_t)i * KEY_LEN);
    for (int i = 0; i < n && !atomic_load(&ex->stopping); i++) {
        if (taken[i])
            continue;
        int k = 0;
        for (int j = i; j < n && c[i].sweep_id && c[i].attempt == 1; j++)
            if (!taken[j] && c[j].sweep_id == c[i].sweep_id && c[j].attempt == 1 &&
                strcmp(keys + (size_t)i * KEY_LEN, keys + (size_t)j * KEY_LEN) == 0) {
                group[k++] = &c[j];
                taken[j] = true;
            }
        if (k >= 2)
            start_array(ex, group, k);
        else
            start_candidate(ex, &c[i]);
    }
    free(taken);
    free(group);
    free(keys);
}

/* Submits up to the free slots' worth of queued jobs, highest priority first. */
static void submit_queued(hs_slurm_executor *ex, int active)
{
    char err[HS_ERR_LEN];
    bool paused = false;
    if (hs_state_load_paused(ex->store, &paused, err, sizeof err) != 0 || paused)
        return;
    hs_db *db = hs_store_reader(ex->store, err, sizeof err);
    hs_cluster_candidate *c = NULL;
    int n = 0;
    if (!db || hs_cluster_candidates(db, ex->cfg.max_jobs - active, &c, &n, err, sizeof err) != 0) {
        logf_ex("listing queued jobs: %s", err);
        return;
    }
    start_candidates(ex, c, n);
    hs_cluster_candidates_free(c, n);
}

static int *missing_slot(hs_slurm_executor *ex, int64_t row_id)
{
    int free_at = -1;
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (ex->missing_row[i] == row_id)
            return &ex->missing_count[i];
        if (free_at < 0 && ex->missing_row[i] == 0)
            free_at = i;
    }
    if (free_at < 0)
        return NULL;
    ex->missing_row[free_at] = row_id;
    ex->missing_count[free_at] = 0;
    return &ex->missing_count[free_at];
}

static void forget_missing(hs_slurm_executor *ex, int64_t row_id)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (ex->missing_row[i] == row_id)
            ex->missing_row[i] = 0;
}

static void end_attempt(hs_slurm_executor *ex, const hs_cluster_attempt *a, const char *state,
                        const char *reason)
{
    char err[HS_ERR_LEN];
    forget_missing(ex, a->row_id);
    if (hs_cluster_attempt_end(ex->store, a, state, reason, false, err, sizeof err) != 0)
        logf_ex("ending job %lld's Slurm job %s: %s", (long long)a->job_id, a->slurm_job_id, err);
    else
        logf_ex("job %lld: Slurm job %s ended %s%s%s", (long long)a->job_id, a->slurm_job_id,
                state, reason && *reason ? ": " : "", reason ? reason : "");
}

/* Whether the attempt's job is final (succeeded, failed, cancelled). */
static bool job_final(const hs_cluster_attempt *a)
{
    return strcmp(a->job_state, "queued") != 0 && strcmp(a->job_state, "running") != 0;
}

/* An attempt neither squeue nor (for its id) sacct knows. */
static void handle_missing(hs_slurm_executor *ex, hs_cluster_attempt *a, const hs_slurm_job *acct)
{
    char err[HS_ERR_LEN];
    bool final = job_final(a);
    if (!a->slurm_job_id[0] && final) {
        end_attempt(ex, a, "NOT_SUBMITTED", "the job ended before it was submitted");
        return;
    }
    if (!a->slurm_job_id[0]) {
        /* Recorded but never submitted (the daemon died before sbatch, or sbatch failed
         * transiently): submit it now, under the same name and token (array tasks are
         * submitted together by settle_missing). */
        hs_db *db = hs_store_reader(ex->store, err, sizeof err);
        char *text = NULL;
        if (!db || hs_cluster_spec_of(db, a->job_id, &text, err, sizeof err) != 0) {
            logf_ex("job %lld: reading its spec: %s", (long long)a->job_id, err);
            return;
        }
        cJSON *spec = cJSON_Parse(text);
        free(text);
        submit_attempt(ex, a, spec);
        cJSON_Delete(spec);
        return;
    }
    if (acct) {
        end_attempt(ex, a, acct->state, acct->reason);
        return;
    }
    int *count = missing_slot(ex, a->row_id);
    if (!count || ++*count < VANISH_POLLS)
        return; /* (no slot: decided once others are settled) */
    end_attempt(ex, a, "VANISHED", "neither squeue nor sacct knows the job");
}

/* A cancel asked for (or the job already final while its Slurm job lives): scancel. */
static void cancel_if_asked(hs_slurm_executor *ex, const hs_cluster_attempt *a)
{
    if (!(a->cancel_requested || (job_final(a) && !a->result_reported)) || !a->slurm_job_id[0])
        return;
    char err[HS_ERR_LEN];
    if (hs_slurm_scancel(a->slurm_job_id, err, sizeof err) != 0)
        logf_ex("job %lld: %s", (long long)a->job_id, err);
}

/* One attempt squeue shows. */
static void follow(hs_slurm_executor *ex, hs_cluster_attempt *a, const hs_slurm_job *j)
{
    char err[HS_ERR_LEN];
    forget_missing(ex, a->row_id);
    /* A started array task has its own id; sacct -c knows the finished task only by it. */
    const char *raw = a->array_task >= 0 && strcmp(j->state, "PENDING") != 0 ? j->raw_id : "";
    if (!a->slurm_job_id[0]) { /* submitted before a crash: adopt it */
        if (hs_cluster_attempt_submitted(ex->store, a->row_id, j->id, err, sizeof err) != 0) {
            logf_ex("adopting Slurm job %s: %s", j->id, err);
            return;
        }
        snprintf(a->slurm_job_id, sizeof a->slurm_job_id, "%s", j->id);
        logf_ex("job %lld: found its Slurm job %s again", (long long)a->job_id, j->id);
    }
    if (hs_slurm_state_final(j->state)) {
        if (j->node[0] && strcmp(j->node, a->node) != 0 && /* ran too briefly to be seen */
            hs_cluster_attempt_observe(ex->store, a, j->state, j->reason, j->node, raw, err,
                                       sizeof err) != 0)
            logf_ex("job %lld: recording its node: %s", (long long)a->job_id, err);
        end_attempt(ex, a, j->state, j->reason);
        return;
    }
    if (strcmp(j->state, a->slurm_state) == 0 && strcmp(j->reason, a->slurm_reason) == 0 &&
        (!j->node[0] || strcmp(j->node, a->node) == 0) &&
        (!raw[0] || strcmp(raw, a->slurm_raw_id) == 0))
        return;
    if (hs_cluster_attempt_observe(ex->store, a, j->state, j->reason, j->node, raw, err,
                                   sizeof err) != 0)
        logf_ex("job %lld: recording Slurm state %s: %s", (long long)a->job_id, j->state, err);
}

/* Whether a sacct record is this attempt's: by its id, or for an array task by the raw id
 * it had when it ran (all `sacct -c` shows). */
static bool acct_is(const hs_slurm_job *j, const hs_cluster_attempt *a)
{
    return strcmp(j->id, a->slurm_job_id) == 0 ||
           (a->slurm_raw_id[0] && (strcmp(j->id, a->slurm_raw_id) == 0 ||
                                   strcmp(j->raw_id, a->slurm_raw_id) == 0));
}

/* Whether an attempt is a task of an array that sbatch never answered for (the daemon died
 * before it ran, or it failed transiently) and squeue does not show either. */
static bool unsubmitted_task(const hs_cluster_attempt *a, bool seen)
{
    return !seen && a->array_task >= 0 && !a->slurm_job_id[0] && !job_final(a);
}

/* Submits again, as one array, the unsubmitted tasks of the array named a[first].slurm_name;
 * marks them done. */
static void resubmit_array(hs_slurm_executor *ex, hs_cluster_attempt *a, int n, int first,
                           const bool *seen, bool *done)
{
    char err[HS_ERR_LEN];
    hs_cluster_attempt *tasks = calloc((size_t)n, sizeof *tasks);
    int m = 0;
    for (int i = first; i < n; i++)
        if (!done[i] && strcmp(a[i].slurm_name, a[first].slurm_name) == 0 &&
            unsubmitted_task(&a[i], seen[i])) {
            done[i] = true;
            if (tasks)
                tasks[m++] = a[i];
        }
    hs_db *db = hs_store_reader(ex->store, err, sizeof err);
    char *text = NULL;
    if (!tasks || !db || hs_cluster_spec_of(db, a[first].job_id, &text, err, sizeof err) != 0) {
        logf_ex("array %s: %s", a[first].slurm_name, tasks ? err : "out of memory");
        free(tasks);
        return;
    }
    cJSON *spec = cJSON_Parse(text);
    free(text);
    /* The array's script may never have been written (a crash right after the rows were). */
    logf_ex("array %s: submitting its %d unsubmitted tasks again", a[first].slurm_name, m);
    if (write_array_script(ex, a[first].slurm_name, tasks, m, err, sizeof err) != 0)
        logf_ex("array %s: %s", a[first].slurm_name, err);
    else
        submit_array(ex, tasks, m, spec);
    cJSON_Delete(spec);
    free(tasks);
}

/* Asks sacct about the attempts squeue did not show and ends or resubmits them. */
static void settle_missing(hs_slurm_executor *ex, hs_cluster_attempt *a, int n,
                           const bool *seen)
{
    char ids[CHUNK * 40] = "", err[HS_ERR_LEN];
    size_t used = 0;
    for (int i = 0; i < n; i++)
        if (!seen[i] && a[i].slurm_job_id[0])
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%s", used ? "," : "",
                                     a[i].slurm_raw_id[0] ? a[i].slurm_raw_id
                                                          : a[i].slurm_job_id);
    int nacct = 0;
    if (ids[0] && hs_slurm_sacct(ids, ex->jobs, MAX_TRACKED, &nacct, err, sizeof err) != 0) {
        logf_ex("%s", err);
        return; /* decide nothing on a failed sacct */
    }
    bool done[CHUNK] = {false};
    for (int i = 0; i < n && !atomic_load(&ex->stopping); i++) {
        if (seen[i] || done[i])
            continue;
        if (unsubmitted_task(&a[i], seen[i])) {
            resubmit_array(ex, a, n, i, seen, done);
            continue;
        }
        const hs_slurm_job *acct = NULL;
        for (int k = 0; k < nacct; k++)
            if (acct_is(&ex->jobs[k], &a[i]) && hs_slurm_state_final(ex->jobs[k].state))
                acct = &ex->jobs[k];
        handle_missing(ex, &a[i], acct);
    }
}

/* Whether a line of squeue is this attempt's: its id once recorded; before (sbatch answered
 * but the daemon died before recording it), the job of its name or the array task of its
 * index. */
static bool squeue_is(const hs_slurm_job *j, const hs_cluster_attempt *a)
{
    if (strcmp(j->name, a->slurm_name) != 0)
        return false;
    if (a->slurm_job_id[0])
        return strcmp(j->id, a->slurm_job_id) == 0;
    return hs_slurm_array_task(j->id) == a->array_task;
}

/* Follows n active attempts (one squeue, one sacct); false when squeue failed (then nothing
 * was decided for them). */
static bool follow_chunk(hs_slurm_executor *ex, hs_cluster_attempt *a, int n)
{
    char names[CHUNK * 72] = "", err[HS_ERR_LEN];
    size_t used = 0;
    bool seen[CHUNK] = {false};
    for (int i = 0; i < n; i++) {
        cancel_if_asked(ex, &a[i]);
        if (i == 0 || strcmp(a[i].slurm_name, a[i - 1].slurm_name) != 0) /* tasks share one */
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                     used ? "," : "", a[i].slurm_name);
    }
    int nq = 0;
    if (hs_slurm_squeue(names, ex->jobs, MAX_TRACKED, &nq, err, sizeof err) != 0) {
        logf_ex("%s", err);
        return false;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nq && !seen[i]; k++)
            if (squeue_is(&ex->jobs[k], &a[i])) {
                seen[i] = true;
                follow(ex, &a[i], &ex->jobs[k]);
            }
    settle_missing(ex, a, n, seen);
    return true;
}

/* One round: follow every active attempt, then fill free slots with queued jobs. */
static void poll_once(hs_slurm_executor *ex)
{
    char err[HS_ERR_LEN];
    hs_db *db = hs_store_reader(ex->store, err, sizeof err);
    hs_cluster_attempt *a = NULL;
    int n = 0;
    if (!db || hs_cluster_active(db, &a, &n, err, sizeof err) != 0) {
        logf_ex("listing cluster jobs: %s", err);
        return;
    }
    bool ok = true;
    for (int start = 0; start < n && !atomic_load(&ex->stopping); start += CHUNK)
        ok = follow_chunk(ex, a + start, n - start < CHUNK ? n - start : CHUNK) && ok;
    free(a);
    int active = 0;
    if (ok && !atomic_load(&ex->stopping) && hs_cluster_count_active(db, &active, err,
                                                                     sizeof err) == 0)
        submit_queued(ex, active);
}

static void *executor_main(void *arg)
{
    hs_slurm_executor *ex = arg;
    while (!atomic_load(&ex->stopping)) {
        poll_once(ex);
        for (int slept = 0; slept < ex->cfg.poll_ms && !atomic_load(&ex->stopping); slept += 50)
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
    }
    return NULL;
}

int hs_slurm_executor_start(hs_store *store, const hs_kind_env *env, const hs_slurm_config *cfg,
                            hs_slurm_executor **out, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cluster", env->data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "%s: %s", dir, strerror(errno));
    hs_slurm_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return hs_errf(err, errlen, "out of memory starting the slurm executor");
    ex->store = store;
    ex->env = *env;
    ex->cfg = *cfg;
    char hash[HS_SHA256_HEX_LEN];
    hs_sha256_hex(env->data_dir, strlen(env->data_dir), hash);
    snprintf(ex->tag, sizeof ex->tag, "%.6s", hash);
    if (pthread_create(&ex->thread, NULL, executor_main, ex) != 0) {
        free(ex);
        return hs_errf(err, errlen, "cannot start the slurm executor thread");
    }
    *out = ex;
    return 0;
}

void hs_slurm_executor_stop(hs_slurm_executor *ex)
{
    if (!ex)
        return;
    atomic_store(&ex->stopping, true);
    pthread_join(ex->thread, NULL);
    free(ex);
}
