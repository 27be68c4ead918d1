/* `surgeond run job.json`: validates one job spec exactly as the API does and runs it in this
 * process, with a runner API that prints progress and log lines to stderr and collects rows in
 * memory; prints the result JSON on stdout (with --details: the result plus the collected head
 * statistics, curves and checkpoints). Exit status 0 succeeded, 1 failed, 2 usage or invalid
 * spec, 3 interrupted. */
#include "common/clock.h"
#include "commands.h"
#include "common/file_io.h"
#include "run_report.h"
#include "engine/device.h"
#include "common/errors.h"
#include "kinds/precision.h"
#include "kinds/spec.h"
#include "store/daemon_state.h"
#include "store/data_dir.h"
#include "store/model_alias.h"
#include "store/runs_store.h"
#include "store/store.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void hs_run_usage(FILE *out)
{
    fprintf(out,
            "usage: surgeond run [flags] JOB.json   (JOB.json may be - for stdin)\n"
            "  Runs one job spec inline: progress and log on stderr, result JSON on stdout.\n"
            "  --data-dir DIR       run directory parent and stored runs for from_run (default ./var)\n"
            "  --model-root DIR     models are directories under DIR (default DATA-DIR/models)\n"
            "  --corpus-root DIR    corpora are files under DIR (default DATA-DIR/corpora)\n"
            "  --device DEV         cpu or cuda:N (default cpu)\n"
            "  --details            print {result, heads, curves, checkpoints} instead of the result\n"
            "  --report-to URL      report to the daemon instead (http://HOST:PORT/api/v1/jobs/ID/report;\n"
            "                       what the slurm executor's batch scripts run), with\n"
            "  --job-token-file F   the job attempt's report token (first line of F), and\n"
            "  --attempt N          the attempt number (N > 1 resumes from the last checkpoint)\n"
            "  --instance HEX       the daemon database's instance id (its run directories are\n"
            "                       runs/<id>-HEX); without it, read from DATA-DIR's database\n"
            "  --help               this text\n");
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = 1; }

typedef struct inline_state {
    cJSON *heads, *curves, *checkpoints; /* arrays */
    cJSON *result;
    int64_t last_progress_ms;
    const char *data_dir;
    hs_store *store; /* opened on demand for load_diagnosis */
} inline_state;

static inline_state *st_of(hs_job_ctx *c) { return c->impl; }

static bool inl_should_stop(hs_job_ctx *c) { return interrupted != 0; }

static void inl_progress(hs_job_ctx *c, int64_t step, int64_t total, const char *message)
{
    inline_state *s = st_of(c);
    int64_t now = hs_now_ms();
    if (now - s->last_progress_ms < 200 && !(total > 0 && step >= total))
        return;
    s->last_progress_ms = now;
    fprintf(stderr, "[%lld/%lld] %s\n", (long long)step, (long long)total, message ? message : "");
}

static void inl_log_line(hs_job_ctx *c, const char *line) { fprintf(stderr, "%s\n", line); }

static int inl_add_curve_point(hs_job_ctx *c, int64_t step, double epoch, const char *name,
                               double value)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddNumberToObject(o, "epoch", epoch);
    cJSON_AddStringToObject(o, "name", name ? name : "");
    cJSON_AddNumberToObject(o, "value", value);
    cJSON_AddItemToArray(st_of(c)->curves, o);
    return 0;
}

static int inl_store_head_stats(hs_job_ctx *c, const char *checkpoint,
                                const hs_head_stat_row *rows, int n_rows)
{
    cJSON *heads = st_of(c)->heads;
    const char *cp = checkpoint ? checkpoint : "";
    /* replace the rows of this checkpoint */
    for (int i = cJSON_GetArraySize(heads) - 1; i >= 0; i--) {
        const char *have = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetArrayItem(heads, i), "checkpoint"));
        if (have && strcmp(have, cp) == 0)
            cJSON_DeleteItemFromArray(heads, i);
    }
    for (int i = 0; i < n_rows; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return -1;
        cJSON_AddStringToObject(o, "checkpoint", cp);
        cJSON_AddNumberToObject(o, "layer", rows[i].layer);
        cJSON_AddNumberToObject(o, "head", rows[i].head);
        cJSON_AddNumberToObject(o, "bos_mass", rows[i].bos_mass);
        cJSON_AddNumberToObject(o, "entropy", rows[i].entropy);
        cJSON_AddNumberToObject(o, "local_mass", rows[i].local_mass);
        cJSON_AddStringToObject(o, "class", rows[i].cls ? rows[i].cls : "");
        cJSON_AddItemToArray(heads, o);
    }
    return 0;
}

static int inl_store_checkpoint(hs_job_ctx *c, const hs_checkpoint_row *row)
{
    cJSON *cps = st_of(c)->checkpoints;
    for (int i = cJSON_GetArraySize(cps) - 1; i >= 0; i--) {
        const char *have =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cps, i), "name"));
        if (have && row->name && strcmp(have, row->name) == 0)
            cJSON_DeleteItemFromArray(cps, i);
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddStringToObject(o, "name", row->name ? row->name : "");
    cJSON_AddStringToObject(o, "path", row->path ? row->path : "");
    cJSON_AddNumberToObject(o, "epoch", row->epoch);
    cJSON_AddNumberToObject(o, "step", (double)row->step);
    if (isfinite(row->ppl))
        cJSON_AddNumberToObject(o, "ppl", row->ppl);
    else
        cJSON_AddNullToObject(o, "ppl");
    if (row->woken >= 0)
        cJSON_AddNumberToObject(o, "woken", row->woken);
    else
        cJSON_AddNullToObject(o, "woken");
    cJSON_AddBoolToObject(o, "best", row->best);
    cJSON_AddItemToArray(cps, o);
    return 0;
}

static int inl_drop_checkpoint(hs_job_ctx *c, const char *name)
{
    cJSON *cps = st_of(c)->checkpoints;
    for (int i = cJSON_GetArraySize(cps) - 1; i >= 0; i--) {
        const char *have =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cps, i), "name"));
        if (have && strcmp(have, name) == 0)
            cJSON_DeleteItemFromArray(cps, i);
    }
    char dir[PATH_MAX], path[PATH_MAX + 160], err[HS_ERR_LEN];
    if (!hs_checkpoint_name_valid(name) ||
        hs_run_checkpoints_dir(c->run_dir, dir, sizeof dir, err, sizeof err) != 0 ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -1;
    return hs_remove_tree(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int inl_store_result(hs_job_ctx *c, const cJSON *result)
{
    inline_state *s = st_of(c);
    return hs_runner_keep_result(&s->result, result);
}

static cJSON *inl_load_diagnosis(hs_job_ctx *c, int64_t run_id, char *err, size_t errlen)
{
    inline_state *s = st_of(c);
    if (!s->store) {
        if (hs_store_open_data_dir(s->data_dir, true, &s->store, err, errlen) != 0)
            return NULL;
        if (!s->store) {
            hs_errf(err, errlen, "run %lld: no stored runs under %s (from_run needs the daemon's "
                    "--data-dir)", (long long)run_id, s->data_dir);
            return NULL;
        }
    }
    hs_db *db = hs_store_reader(s->store, err, errlen);
    return db ? hs_runs_load_diagnosis(db, run_id, err, errlen) : NULL;
}

static const hs_job_ctx_ops inline_ops = {
    .should_stop = inl_should_stop,
    .progress = inl_progress,
    .log_line = inl_log_line,
    .add_curve_point = inl_add_curve_point,
    .store_head_stats = inl_store_head_stats,
    .store_checkpoint = inl_store_checkpoint,
    .drop_checkpoint = inl_drop_checkpoint,
    .store_result = inl_store_result,
    .load_diagnosis = inl_load_diagnosis,
};

static char *read_all(const char *path, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        hs_errf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!buf) {
        hs_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

typedef struct run_options {
    const char *data_dir, *model_root, *corpus_root, *device, *job_path;
    const char *report_to, *token_file, *attempt, *instance;
    bool details;
} run_options;

/* 0 to run, 1 when --help was answered, -1 after printing a usage error. */
static int parse_run_args(int argc, char **argv, run_options *o)
{
    *o = (run_options){.data_dir = "./var", .device = "cpu"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--data-dir") == 0      ? &o->data_dir
                            : strcmp(a, "--model-root") == 0  ? &o->model_root
                            : strcmp(a, "--corpus-root") == 0 ? &o->corpus_root
                            : strcmp(a, "--device") == 0      ? &o->device
                            : strcmp(a, "--report-to") == 0   ? &o->report_to
                            : strcmp(a, "--job-token-file") == 0 ? &o->token_file
                            : strcmp(a, "--attempt") == 0     ? &o->attempt
                            : strcmp(a, "--instance") == 0    ? &o->instance
                                                              : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            hs_run_usage(stdout);
            return 1;
        } else if (strcmp(a, "--details") == 0) {
            o->details = true;
        } else if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "surgeond run: %s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "surgeond run: unknown flag %s (see --help)\n", a);
            return -1;
        } else if (!o->job_path) {
            o->job_path = a;
        } else {
            fprintf(stderr, "surgeond run: only one job spec file\n");
            return -1;
        }
    }
    if (!o->job_path) {
        hs_run_usage(stderr);
        return -1;
    }
    if (!o->report_to != !o->token_file) {
        fprintf(stderr, "surgeond run: --report-to and --job-token-file go together\n");
        return -1;
    }
    if (o->instance && (!*o->instance || strlen(o->instance) > 32 ||
                        strspn(o->instance, "0123456789abcdef") != strlen(o->instance))) {
        fprintf(stderr, "surgeond run: --instance must be 1-32 lowercase hex digits\n");
        return -1;
    }
    if (o->attempt && (atoi(o->attempt) < 1 || atoi(o->attempt) > 1000 ||
                       strspn(o->attempt, "0123456789") != strlen(o->attempt))) {
        fprintf(stderr, "surgeond run: --attempt must be a positive integer\n");
        return -1;
    }
    hs_device_spec device;
    char err[HS_ERR_LEN];
    if (hs_device_spec_parse(o->device, &device, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond run: --device: %s\n", err);
        return -1;
    }
    return 0;
}

/* The job spec at path ("-": stdin), validated as the API validates it; NULL after printing
 * why not. */
static cJSON *load_spec(const char *path, const hs_kind_env *env, hs_job_spec *parsed)
{
    char err[HS_ERR_LEN];
    char *text = read_all(path, err, sizeof err);
    if (!text) {
        fprintf(stderr, "surgeond run: %s\n", err);
        return NULL;
    }
    cJSON *spec = cJSON_Parse(text);
    free(text);
    if (!spec) {
        fprintf(stderr, "surgeond run: %s is not valid JSON\n", path);
        return NULL;
    }
    hs_spec_error serr = {{0}, {0}};
    if (hs_job_spec_parse(spec, env, parsed, &serr) != 0) {
        fprintf(stderr, "surgeond run: invalid spec: %s%s%s\n", serr.field,
                serr.field[0] ? ": " : "", serr.detail);
        cJSON_Delete(spec);
        return NULL;
    }
    return spec;
}

/* Prints what a successful run collected: the result, or with details {result, heads,
 * curves, checkpoints} (moved out of st). The exit status. */
static int print_success(inline_state *st, bool details)
{
    cJSON *out;
    if (details) {
        out = cJSON_CreateObject();
        if (out) {
            cJSON_AddItemToObject(out, "result", st->result ? st->result : cJSON_CreateObject());
            cJSON_AddItemToObject(out, "heads", st->heads);
            cJSON_AddItemToObject(out, "curves", st->curves);
            cJSON_AddItemToObject(out, "checkpoints", st->checkpoints);
            st->result = st->heads = st->curves = st->checkpoints = NULL;
        }
    } else {
        out = st->result ? st->result : cJSON_CreateObject();
        st->result = NULL;
    }
    char *json = out ? cJSON_Print(out) : NULL;
    int status = 0;
    if (json)
        printf("%s\n", json);
    else {
        fprintf(stderr, "surgeond run: out of memory printing the result\n");
        status = 1;
    }
    free(json);
    cJSON_Delete(out);
    return status;
}

/* Runs the validated spec on device in run_dir and reports its outcome; the exit status. */
static int run_job(const hs_job_spec *parsed, const cJSON *spec, const hs_kind_env *env,
                   const char *run_dir, hs_device *device, bool details)
{
    inline_state st = {.heads = cJSON_CreateArray(), .curves = cJSON_CreateArray(),
                       .checkpoints = cJSON_CreateArray(), .data_dir = env->data_dir};
    hs_job_ctx ctx = {.ops = &inline_ops, .impl = &st, .job_id = 0, .attempt = 1,
                      .model_root = env->model_root, .corpus_root = env->corpus_root,
                      .data_dir = env->data_dir, .run_dir = run_dir,
                      .instance = env->instance, .device = device};
    fprintf(stderr, "surgeond run: %s on %s, run directory %s\n", parsed->kind->name,
            hs_device_describe(device), run_dir);
    char err[HS_ERR_LEN] = "";
    signal(SIGINT, on_sigint);
    int rc = (st.heads && st.curves && st.checkpoints)
                 ? hs_job_kind_run(parsed->kind, &ctx, spec, err, sizeof err)
                 : hs_errf(err, sizeof err, "out of memory");
    signal(SIGINT, SIG_DFL);
    int status;
    if (rc == 0) {
        status = print_success(&st, details);
    } else if (rc == 1) {
        fprintf(stderr, "surgeond run: interrupted\n");
        status = 3;
    } else {
        fprintf(stderr, "surgeond run: failed: %s\n", err[0] ? err : "no reason given");
        status = 1;
    }
    cJSON_Delete(st.result);
    cJSON_Delete(st.heads);
    cJSON_Delete(st.curves);
    cJSON_Delete(st.checkpoints);
    hs_store_close(st.store);
    return status;
}

/* The data dir's database, when it has one, kept open for the run (*store NULL when none):
 * its instance id into dirs ("run:<id>/..." models name its run directories) and model
 * aliases resolve against it. 0, or -1 with err. */
static int open_existing_store(hs_root_dirs *dirs, hs_store **store, char *err, size_t errlen)
{
    *store = NULL;
    if (hs_store_open_data_dir(dirs->data_dir, true, store, err, errlen) != 0)
        return -1;
    if (*store &&
        hs_state_load_instance(*store, dirs->instance, sizeof dirs->instance, err, errlen) != 0) {
        hs_store_close(*store);
        *store = NULL;
        return -1;
    }
    return 0;
}

/* A model alias in spec replaced by the checkpoint it names now (runners see concrete
 * names). 0, or -1 with err. */
static int resolve_model_alias(const hs_kind_env *env, cJSON *spec, char *err, size_t errlen)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (!cJSON_IsString(model) || !hs_model_is_alias(model->valuestring))
        return 0;
    char concrete[320];
    hs_db *db = env->store ? hs_store_reader(env->store, err, errlen) : NULL;
    if (!env->store)
        return hs_errf(err, errlen, "model aliases need the daemon's --data-dir");
    if (!db || hs_model_alias_resolve(db, model->valuestring, concrete, sizeof concrete, err,
                                      errlen) < 0)
        return -1;
    fprintf(stderr, "surgeond run: model %s is %s\n", model->valuestring, concrete);
    return cJSON_ReplaceItemInObjectCaseSensitive(spec, "model", cJSON_CreateString(concrete))
               ? 0 : hs_errf(err, errlen, "out of memory");
}

/* Validates, prepares and runs the job file of o under dirs and env; the exit status. */
static int run_spec(const run_options *o, const hs_root_dirs *dirs, const hs_kind_env *env)
{
    char err[HS_ERR_LEN];
    hs_job_spec parsed;
    cJSON *spec = load_spec(o->job_path, env, &parsed);
    if (!spec)
        return 2;
    if (resolve_model_alias(env, spec, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond run: %s\n", err);
        cJSON_Delete(spec);
        return 2;
    }
    char run_dir[PATH_MAX];
    if (!o->report_to && hs_data_make_inline_run_dir(dirs->data_dir, run_dir, sizeof run_dir,
                                                     err, sizeof err) != 0) {
        fprintf(stderr, "surgeond run: %s\n", err);
        cJSON_Delete(spec);
        return 1;
    }
    hs_device *device = hs_device_open(o->device, err, sizeof err);
    if (!device) {
        fprintf(stderr, "surgeond run: --device %s: %s\n", o->device, err);
        cJSON_Delete(spec);
        return 2;
    }
    hs_report_options ro = {.report_to = o->report_to, .token_file = o->token_file,
                            .attempt = o->attempt ? atoi(o->attempt) : 1, .retry_s = 3600};
    int status = o->report_to ? hs_run_reported(&parsed, spec, env, device, &ro)
                              : run_job(&parsed, spec, env, run_dir, device, o->details);
    hs_device_close(device);
    cJSON_Delete(spec);
    return status;
}

int hs_cmd_run(int argc, char **argv)
{
    run_options o;
    int prc = parse_run_args(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    char err[HS_ERR_LEN];
    hs_root_dirs dirs;
    if (hs_root_dirs_settle(o.data_dir, o.model_root, o.corpus_root, &dirs, err,
                            sizeof err) != 0) {
        fprintf(stderr, "surgeond run: %s\n", err);
        return 2;
    }
    hs_store *db_store = NULL;
    if (o.instance) /* a Slurm node: the daemon named it; its database is not opened here */
        snprintf(dirs.instance, sizeof dirs.instance, "%s", o.instance);
    else if (open_existing_store(&dirs, &db_store, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond run: %s\n", err);
        return 1;
    }
    hs_kind_env env = hs_root_dirs_view(&dirs);
    env.store = db_store;
    int status = run_spec(&o, &dirs, &env);
    hs_store_close(db_store);
    return status;
}
