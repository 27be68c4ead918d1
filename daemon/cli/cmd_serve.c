/* `surgeond serve`: flags, start-up (data dir, store + migrations, reconciliation of jobs a
 * crash left running, workers, HTTP, scheduler), the libuv loop, and orderly shutdown on
 * SIGINT/SIGTERM (running jobs are stopped at a step boundary and requeued). */
#include "http/api.h"
#include "common/clock.h"
#include "commands.h"
#include "common/errors.h"
#include "engine/device.h"
#include "http/http_server.h"
#include "store/data_dir.h"
#include "store/daemon_state.h"
#include "store/job_store.h"
#include "store/run_files.h"
#include "store/uploads.h"
#include "queue/scheduler.h"
#include "queue/worker.h"
#include "serve_slurm.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_DEVICES 16

typedef struct serve_options {
    const char *listen, *data_dir, *model_root, *corpus_root, *token_file;
    const char *devices[MAX_DEVICES];
    int n_devices;
    size_t max_body;
    long long model_cache_bytes; /* −1: the device's default */
    bool insecure_no_auth;
    hs_serve_executor executor;
} serve_options;

void hs_serve_usage(FILE *out)
{
    fprintf(out,
            "usage: surgeond serve [flags]\n"
            "  Runs the job daemon: HTTP API and dashboard, persistent queue, one worker per\n"
            "  device, schedules.\n"
            "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8700; IPv4)\n"
            "  --data-dir DIR       SQLite database, job logs, run directories, uploaded corpora\n"
            "                       (default ./var; created if missing)\n"
            "  --model-root DIR     models are directories under DIR (default DATA-DIR/models)\n"
            "  --corpus-root DIR    corpora are files under DIR (default DATA-DIR/corpora)\n"
            "  --device DEV         cpu or cuda:N; repeat for one worker per device (default cpu)\n"
            "  --token-file FILE    require 'Authorization: Bearer <token>' on every mutating\n"
            "                       request; the token is the file's first line\n"
            "  --max-body BYTES     request body limit, suffix k or M allowed (default 64M)\n"
            "  --model-cache-bytes BYTES\n"
            "                       models each worker keeps loaded between jobs, least\n"
            "                       recently used evicted first; suffix k, M or G; 0 keeps only\n"
            "                       the model in use (default: half the memory available at\n"
            "                       start on cpu, 0 on cuda)\n"
            "  --insecure-no-auth   allow a non-loopback --listen address without --token-file\n"
            "                       (anyone who reaches the port can then submit jobs)\n");
    hs_serve_executor_usage(out);
    fprintf(out, "  --help               this text\n");
}

static int parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno)
        return -1;
    unsigned long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mult = 1024ULL * 1024 * 1024, end++;
    if (*end || v == 0 || v > (1ULL << 40) / mult)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

static int parse_args(int argc, char **argv, serve_options *o)
{
    *o = (serve_options){.listen = "127.0.0.1:8700", .data_dir = "./var",
                         .max_body = 64u * 1024 * 1024, .model_cache_bytes = -1};
    hs_serve_executor_init(&o->executor);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            hs_serve_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--insecure-no-auth") == 0) {
            o->insecure_no_auth = true;
            continue;
        }
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--listen") == 0        ? &o->listen
                            : strcmp(a, "--data-dir") == 0    ? &o->data_dir
                            : strcmp(a, "--model-root") == 0  ? &o->model_root
                            : strcmp(a, "--corpus-root") == 0 ? &o->corpus_root
                            : strcmp(a, "--token-file") == 0  ? &o->token_file
                                                              : NULL;
        bool takes_value = slot || strcmp(a, "--device") == 0 || strcmp(a, "--max-body") == 0 ||
                           strcmp(a, "--model-cache-bytes") == 0;
        int ex = value && !takes_value ? hs_serve_executor_flag(&o->executor, a, value) : 0;
        if (ex < 0)
            return -1;
        if (ex > 0) {
            i++;
            continue;
        }
        if (!takes_value && (strncmp(a, "--slurm-", 8) == 0 || strcmp(a, "--executor") == 0 ||
                             strcmp(a, "--report-url") == 0 ||
                             strcmp(a, "--max-cluster-jobs") == 0)) {
            fprintf(stderr, "surgeond serve: %s needs a value\n", a);
            return -1;
        }
        if (!takes_value) {
            fprintf(stderr, "surgeond serve: unknown flag %s (see --help)\n", a);
            return -1;
        }
        if (!value) {
            fprintf(stderr, "surgeond serve: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (slot)
            *slot = value;
        else if (strcmp(a, "--device") == 0) {
            if (o->n_devices == MAX_DEVICES) {
                fprintf(stderr, "surgeond serve: at most %d --device flags\n", MAX_DEVICES);
                return -1;
            }
            hs_device_spec parsed;
            char why[HS_ERR_LEN];
            if (hs_device_spec_parse(value, &parsed, why, sizeof why) != 0) {
                fprintf(stderr, "surgeond serve: --device: %s\n", why);
                return -1;
            }
            o->devices[o->n_devices++] = value;
        } else if (strcmp(a, "--model-cache-bytes") == 0) {
            size_t bytes = 0;
            if (strcmp(value, "0") != 0 && parse_size(value, &bytes) != 0) {
                fprintf(stderr, "surgeond serve: --model-cache-bytes %s: expected a size "
                        "(0, or bytes with an optional suffix k, M or G)\n", value);
                return -1;
            }
            o->model_cache_bytes = (long long)bytes;
        } else if (parse_size(value, &o->max_body) != 0) {
            fprintf(stderr, "surgeond serve: --max-body %s: expected a positive size\n", value);
            return -1;
        }
    }
    if (o->n_devices == 0)
        o->devices[o->n_devices++] = "cpu";
    return o->executor.slurm ? hs_serve_executor_finish(&o->executor, o->listen) : 0;
}

static int read_token(const char *path, char *token, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hs_errf(err, errlen, "--token-file %s: %s", path, strerror(errno));
    char line[1024];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    char *start = line;
    while (*start && isspace((unsigned char)*start))
        start++;
    if (!*start)
        return hs_errf(err, errlen, "--token-file %s: the first line is empty", path);
    if (strlen(start) >= len)
        return hs_errf(err, errlen, "--token-file %s: token longer than %zu characters", path,
                       len - 1);
    memcpy(token, start, strlen(start) + 1);
    return 0;
}

static void log_line(const char *fmt, const char *a, const char *b)
{
    char stamp[HS_TIME_LEN];
    fprintf(stderr, "%s surgeond: ", hs_format_time(hs_now_ms(), stamp));
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static void on_signal(uv_signal_t *s, int signum) { uv_stop(s->loop); }

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The data dir's store, opened with its checkpointer running and the jobs a crash left
 * running reconciled. NULL with err. */
static hs_store *open_store(const char *data_dir, char *err, size_t errlen)
{
    hs_store *store = NULL;
    if (hs_store_open_data_dir(data_dir, false, &store, err, errlen) != 0)
        return NULL;
    int requeued = 0, failed = 0;
    if (hs_store_start_checkpointer(store, err, errlen) != 0 ||
        hs_job_reconcile(store, &requeued, &failed, err, errlen) != 0) {
        hs_store_close(store);
        return NULL;
    }
    if (requeued || failed) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%d", requeued);
        snprintf(b, sizeof b, "%d", failed);
        log_line("jobs left running by the last run: %s requeued, %s failed", a, b);
    }
    return store;
}

/* The database's instance id into dirs, then legacy run directories adopted and orphan run
 * files swept (store/run_files.h), before any worker starts. 0, or -1 with err. */
static int settle_run_files(hs_store *store, hs_root_dirs *dirs, char *err, size_t errlen)
{
    if (hs_state_load_instance(store, dirs->instance, sizeof dirs->instance, err, errlen) != 0)
        return -1;
    hs_roots roots = hs_root_dirs_view(dirs);
    int swept = 0;
    if (hs_run_files_startup(store, &roots, &swept, err, errlen) != 0)
        return -1;
    if (swept) {
        char a[32];
        snprintf(a, sizeof a, "%d", swept);
        log_line("swept %s orphan run director%s", a, swept == 1 ? "y" : "ies");
    }
    return 0;
}

/* Runs the scheduler and the HTTP server on a libuv loop until SIGINT or SIGTERM, then stops
 * both and closes the loop. The exit status: 0, or 1 when either could not start. */
static int serve_until_signal(hs_app *app, const char *listen, const char *data_dir)
{
    char err[HS_ERR_LEN];
    uv_loop_t loop;
    uv_loop_init(&loop);
    hs_scheduler *scheduler = NULL;
    hs_http *http = NULL;
    uv_signal_t sigint, sigterm;
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    int status = 0;
    if (hs_scheduler_start(&loop, app->store, &app->env, app->workers, &scheduler, err,
                           sizeof err) != 0) {
        status = 1;
    } else {
        app->schedules_changed = hs_scheduler_poke;
        app->schedules_changed_arg = scheduler;
        if (hs_http_start(app, listen, &http, err, sizeof err) != 0)
            status = 1;
    }
    if (status == 0) {
        log_line("listening on http://%s (data dir %s)", listen, data_dir);
        uv_run(&loop, UV_RUN_DEFAULT);
        log_line("shutting down%s%s", "", "");
    } else {
        log_line("%s%s", err, "");
    }
    hs_http_stop(http);
    app->schedules_changed = NULL;
    hs_scheduler_stop(scheduler);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return status;
}

int hs_cmd_serve(int argc, char **argv)
{
    serve_options o;
    int prc = parse_args(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (ulimit -f) reached by the database or a log is an I/O error that the
     * request or job at hand reports, not a reason to die. */
    signal(SIGXFSZ, SIG_IGN);

    char err[HS_ERR_LEN];
    hs_root_dirs dirs;
    static hs_app app; /* static: outlives the HTTP threads until hs_http_stop returns */
    memset(&app, 0, sizeof app);
    if (hs_root_dirs_settle(o.data_dir, o.model_root, o.corpus_root, &dirs, err, sizeof err) != 0 ||
        (o.token_file &&
         read_token(o.token_file, app.token, sizeof app.token, err, sizeof err) != 0) ||
        hs_http_check_exposure(o.listen, app.token[0] != '\0', o.insecure_no_auth, err,
                               sizeof err) != 0 ||
        !(app.store = open_store(dirs.data_dir, err, sizeof err))) {
        fprintf(stderr, "surgeond serve: %s\n", err);
        return 1;
    }
    if (settle_run_files(app.store, &dirs, err, sizeof err) != 0) {
        hs_store_close(app.store);
        fprintf(stderr, "surgeond serve: %s\n", err);
        return 1;
    }
    int swept = 0;
    if (hs_uploads_sweep_temp(dirs.data_dir, &swept, err, sizeof err) != 0)
        log_line("sweeping interrupted uploads: %s%s", err, "");
    else if (swept > 0) {
        char n[32];
        snprintf(n, sizeof n, "%d", swept);
        log_line("removed %s temporary file(s) of interrupted uploads%s", n, "");
    }
    app.env = hs_root_dirs_view(&dirs);
    app.env.store = app.store; /* model aliases resolve against it */
    app.max_body = o.max_body;
    app.started_ms = hs_now_ms();
    /* Jobs run on this machine's workers, or (--executor slurm) through Slurm, never both. */
    hs_slurm_executor *slurm = NULL;
    if (o.executor.slurm
            ? hs_slurm_executor_start(app.store, &app.env, &o.executor.cfg, &slurm, err,
                                      sizeof err) != 0
            : hs_workers_start(app.store, &app.env, o.devices, o.n_devices,
                               o.model_cache_bytes, &app.workers, err, sizeof err) != 0) {
        hs_store_close(app.store);
        fprintf(stderr, "surgeond serve: %s\n", err);
        return 1;
    }
    app.slurm_executor = slurm != NULL;
    if (slurm)
        log_line("executor slurm: at most %s Slurm jobs at once, nodes report to %s",
                 (snprintf(err, sizeof err, "%d", o.executor.cfg.max_jobs), err),
                 o.executor.cfg.report_url);
    int status = serve_until_signal(&app, o.listen, dirs.data_dir);
    hs_slurm_executor_stop(slurm);
    hs_workers_stop(app.workers);
    hs_store_close(app.store);
    return status;
}
