/* The `surgery` job kind: its spec fields (with the defaults of docs/architecture.md "Training semantics"), the cross-field and
 * model-config checks, and the runner that resolves names and targets, tokenizes the corpus
 * and eval texts, runs the surgery loop (daemon/engine/surgery_loop.c) and reports progress,
 * curves, head statistics, checkpoints and the result through the runner API. Training
 * itself lives in the engine; this file only adapts it to jobs.
 * Cancel: the loop stops after the current optimizer step and keeps a checkpoint named
 * "cancelled-step-<N>" of that state (none when the last checkpoint is already current).
 * A requeued job (attempt > 1) resumes from the newest complete checkpoint in its run dir.
 * second_pass: after the first pass ends, the targets that are still not healthy are
 * re-initialised (seed + 1) and trained again with the same hyper-parameters; that pass's
 * checkpoints are named "pass2-epoch-N", "pass2-final", its curve steps continue after the
 * first pass's, and "woken" keeps counting the first pass's targets.
 * eval_every_steps / diagnose_every_steps: the loop's step evaluations become the curves
 * step_ppl, step_woken and step_class_<class> (docs/api.md "surgery"). */
#include "engine/device.h"
#include "engine/diagnosis/diagnosis.h"
#include "common/errors.h"
#include "kinds.h"
#include "precision.h"
#include "spec.h"
#include "diag_common.h"
#include "job_model.h"
#include "surgery_retention.h"
#include "surgery_samples.h"
#include "texts.h"
#include "common/sha256_file.h"
#include "store/data_dir.h"
#include "store/paths.h"
#include "engine/surgery/surgery_loop.h"
#include "engine/surgery/surgery_targets.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const init_values[] = {"xavier_uniform", "xavier_normal", "none", NULL};

/* eval_every_steps / diagnose_every_steps at most 1e9: far beyond any run, and small enough for
 * the ETA's step calendar (surgery_eta.h). */
#define HS_STEP_EVAL_EVERY_MAX 1e9

static const hs_spec_field surgery_fields[] = {
    {.name = "model", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 4096,
     .help = "model directory under --model-root, or run:<id>/<checkpoint>"},
    {.name = "corpus", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 4096,
     .help = "training text: a file under --corpus-root or upload:<name>"},
    {.name = "eval_texts", .type = HS_FIELD_STRING_ARRAY, .min = 1, .max = 10000,
     .help = "texts for re-diagnosis and perplexity at each checkpoint (or eval_file)"},
    {.name = "eval_file", .type = HS_FIELD_STRING, .min = 1, .max = 4096,
     .help = "file of evaluation texts, one per non-empty line (or eval_texts)"},
    {.name = "targets", .type = HS_FIELD_OBJECT, .required = true,
     .help = "{\"<layer>\": [heads]} or {\"from_run\": id, \"classes\": [...], \"layers\": "
             "\"a-b\", \"heads\": \"a-b\"}"},
    {.name = "init", .type = HS_FIELD_STRING, .enum_values = init_values,
     .help = "re-initialisation of the target heads (default xavier_uniform)"},
    {.name = "lr", .type = HS_FIELD_NUMBER, .min = 0, .max = 10, .exclusive_min = true,
     .help = "peak AdamW learning rate (default 5e-5)"},
    {.name = "betas", .type = HS_FIELD_NUMBER_ARRAY, .min = 2, .max = 2.5,
     .help = "AdamW betas, two numbers in [0, 1) (default [0.9, 0.999])"},
    {.name = "eps", .type = HS_FIELD_NUMBER, .min = 0, .max = 1, .exclusive_min = true,
     .help = "AdamW epsilon (default 1e-8)"},
    {.name = "weight_decay", .type = HS_FIELD_NUMBER, .min = 0, .max = 10,
     .help = "AdamW decoupled weight decay (default 0)"},
    {.name = "batch_size", .type = HS_FIELD_INT, .min = 1, .max = 4096,
     .help = "chunks per micro-batch (default 1)"},
    {.name = "grad_accum", .type = HS_FIELD_INT, .min = 1, .max = 65536,
     .help = "micro-batches per optimizer step (default 8)"},
    {.name = "max_length", .type = HS_FIELD_INT, .min = 2, .max = 65536,
     .help = "tokens per training chunk and maximum eval text length (default 512)"},
    {.name = "clip", .type = HS_FIELD_NUMBER, .min = 0, .max = 1e9, .exclusive_min = true,
     .help = "global gradient-norm clip over the trainable slices (default 1.0)"},
    {.name = "epochs", .type = HS_FIELD_INT, .min = 1, .max = 100000,
     .help = "epochs over the corpus (default 15)"},
    {.name = "max_steps", .type = HS_FIELD_INT, .min = 1, .max = 1e12,
     .help = "optimizer steps of the whole run; overrides epochs for the schedule and the end"},
    {.name = "warmup_steps", .type = HS_FIELD_INT, .min = 0, .max = 1e12,
     .help = "linear warm-up steps (default min(100, total // 4))"},
    {.name = "shuffle", .type = HS_FIELD_BOOL,
     .help = "shuffle the chunks each epoch by seed (default true)"},
    {.name = "seed", .type = HS_FIELD_INT, .min = 0, .max = 9e15,
     .help = "seed of re-initialisation and shuffling (default 0)"},
    {.name = "checkpoint_every", .type = HS_FIELD_INT, .min = 1, .max = 100000,
     .help = "epochs between checkpoints with re-diagnosis (default 3)"},
    {.name = "patience", .type = HS_FIELD_INT, .min = 0, .max = 100000,
     .help = "stop after this many checkpoints without perplexity improvement; 0 never "
             "(default 3)"},
    {.name = "second_pass", .type = HS_FIELD_BOOL,
     .help = "afterwards, train again the targets still collapsed (default false)"},
    {.name = "eval_every_steps", .type = HS_FIELD_INT, .min = 1, .max = HS_STEP_EVAL_EVERY_MAX,
     .nullable = true,
     .help = "perplexity of the eval texts every N optimizer steps as curve step_ppl "
             "(null or absent: off)"},
    {.name = "diagnose_every_steps", .type = HS_FIELD_INT, .min = 1,
     .max = HS_STEP_EVAL_EVERY_MAX, .nullable = true,
     .help = "diagnosis of the eval texts every N optimizer steps as curves step_woken and "
             "step_class_<class> (null or absent: off)"},
    HS_SURGERY_SAMPLES_FIELD,
    HS_DIAG_FIELD_STRIDE,
    {.name = "keep_checkpoints", .type = HS_FIELD_ANY,
     .help = "\"all\" (default), \"best_and_final\", or N: the newest N and the best; the "
             "others' files go as soon as they fall out"},
    HS_SPEC_FIELD_PRECISION,
    {.name = NULL},
};

static double num_or(const cJSON *spec, const char *name, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static const char *str_or(const cJSON *spec, const char *name, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

static void params_from_spec(const cJSON *spec, hs_surgery_params *p)
{
    hs_surgery_params_default(p);
    hs_surgery_init_from_name(str_or(spec, "init", "xavier_uniform"), &p->init);
    p->lr = num_or(spec, "lr", p->lr);
    const cJSON *betas = cJSON_GetObjectItemCaseSensitive(spec, "betas");
    if (cJSON_GetArraySize(betas) == 2) {
        p->beta1 = cJSON_GetArrayItem(betas, 0)->valuedouble;
        p->beta2 = cJSON_GetArrayItem(betas, 1)->valuedouble;
    }
    p->eps = num_or(spec, "eps", p->eps);
    p->weight_decay = num_or(spec, "weight_decay", p->weight_decay);
    p->clip = num_or(spec, "clip", p->clip);
    p->batch_size = (int)num_or(spec, "batch_size", p->batch_size);
    p->grad_accum = (int)num_or(spec, "grad_accum", p->grad_accum);
    p->max_length = (int)num_or(spec, "max_length", p->max_length);
    p->epochs = (int)num_or(spec, "epochs", p->epochs);
    p->max_steps = (int64_t)num_or(spec, "max_steps", 0);
    p->warmup_steps = (int64_t)num_or(spec, "warmup_steps", -1);
    const cJSON *shuffle = cJSON_GetObjectItemCaseSensitive(spec, "shuffle");
    if (cJSON_IsBool(shuffle))
        p->shuffle = cJSON_IsTrue(shuffle);
    p->seed = (uint64_t)num_or(spec, "seed", 0);
    p->checkpoint_every = (int)num_or(spec, "checkpoint_every", p->checkpoint_every);
    p->patience = (int)num_or(spec, "patience", p->patience);
    p->eval_stride = (int)num_or(spec, "stride", 0);
    p->eval_every_steps = (int64_t)num_or(spec, "eval_every_steps", 0);         /* null: off */
    p->diagnose_every_steps = (int64_t)num_or(spec, "diagnose_every_steps", 0); /* null: off */
}

static int load_model_config(const hs_kind_env *env, const char *model, hs_model_config *cfg,
                             char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (hs_resolve_model(env, model, dir, sizeof dir, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return hs_model_config_load(path, cfg, err, errlen);
}

static int surgery_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    char why[HS_ERR_LEN], path[PATH_MAX];
    if (hs_surgery_samples_check(cJSON_GetObjectItemCaseSensitive(spec, "samples"), e) != 0)
        return -1;
    const cJSON *betas = cJSON_GetObjectItemCaseSensitive(spec, "betas");
    if (betas) {
        const cJSON *b;
        cJSON_ArrayForEach(b, betas) if (!(b->valuedouble >= 0.0 && b->valuedouble < 1.0))
            return hs_spec_errorf(e, "betas", "betas must be two numbers in [0, 1)");
    }
    if (hs_check_stride(spec, e) != 0)
        return -1;
    hs_retention keep;
    if (hs_retention_parse(cJSON_GetObjectItemCaseSensitive(spec, "keep_checkpoints"), &keep,
                           why, sizeof why) != 0)
        return hs_spec_errorf(e, "keep_checkpoints", "%s", why);
    bool has_texts = cJSON_GetObjectItemCaseSensitive(spec, "eval_texts") != NULL;
    bool has_file = cJSON_GetObjectItemCaseSensitive(spec, "eval_file") != NULL;
    if (has_texts == has_file)
        return hs_spec_errorf(
            e, "eval_texts",
            "give exactly one of eval_texts (texts) and eval_file (a corpus file)");
    if (has_texts) {
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(spec, "eval_texts"))
            if (!*t->valuestring)
                return hs_spec_errorf(e, "eval_texts", "eval_texts: empty text");
    }
    hs_model_config cfg;
    if (load_model_config(env, str_or(spec, "model", ""), &cfg, why, sizeof why) != 0)
        return hs_spec_errorf(e, "model", "%s", why);
    if (hs_resolve_corpus(env, str_or(spec, "corpus", ""), path, sizeof path, why,
                          sizeof why) != 0)
        return hs_spec_errorf(e, "corpus", "%s", why);
    if (has_file && hs_resolve_corpus(env, str_or(spec, "eval_file", ""), path, sizeof path, why,
                                      sizeof why) != 0)
        return hs_spec_errorf(e, "eval_file", "%s", why);
    if (hs_job_texts_check_blank(spec, env, "eval_texts", "eval_file", e) != 0 ||
        hs_job_texts_check_blank(spec, env, NULL, "corpus", e) != 0)
        return -1;

    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(spec, "targets");
    char field[128];
    if (hs_targets_is_rule(targets)) {
        hs_target_rule rule;
        if (hs_targets_parse_rule(targets, cfg.n_layer, cfg.n_head, &rule, field, sizeof field,
                                  why, sizeof why) != 0)
            return hs_spec_errorf(e, field, "%s", why);
    } else {
        hs_head_target *t;
        int n;
        if (hs_targets_parse_explicit(targets, cfg.n_layer, cfg.n_head, &t, &n, field,
                                      sizeof field, why, sizeof why) != 0)
            return hs_spec_errorf(e, field, "%s", why);
        free(t);
    }
    return 0;
}

/* ---- the runner ----------------------------------------------------------------------- */

typedef struct surgery_job {
    hs_job_ctx *ctx;
    const hs_head_target *targets; /* the first pass's targets (counted as woken) */
    int n_targets;
    int n_layer, n_head;
    int pass;                      /* 1 or 2 */
    int64_t step_offset;           /* curve steps of pass 2 continue after pass 1's */
    double best_before;            /* best perplexity of pass 1 (NAN: none), for `best` rows */
    double baseline_ppl;           /* the untouched model's (NAN: not measured this attempt) */
    hs_retention keep;             /* keep_checkpoints */
    const char *corpus_name;       /* as the runner got it (an upload with its @<sha256>) */
    const char *corpus_path;
    char (*dropped)[64];           /* names of the checkpoints retention removed */
    int n_dropped;
    bool store_failed;
    char store_error[256];
    hs_model *model;               /* for the sample completions */
    hs_surgery_samples *samples;   /* n 0: none asked */
} surgery_job;

static void note_store_failure(surgery_job *j, const char *what)
{
    if (!j->store_failed) {
        j->store_failed = true;
        snprintf(j->store_error, sizeof j->store_error, "storing %s failed", what);
    }
}

static bool job_should_stop(void *arg)
{
    surgery_job *j = arg;
    return hs_job_should_stop(j->ctx);
}

/* A row the runner could not store fails the job (no "cancelled" checkpoint: nobody asked
 * for a stop). */
static bool job_failed(void *arg, char *why, size_t why_len)
{
    surgery_job *j = arg;
    if (j->store_failed)
        snprintf(why, why_len, "%s", j->store_error);
    return j->store_failed;
}

static void format_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, len, "?");
    else if (s < 90)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 5400)
        snprintf(buf, len, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else
        snprintf(buf, len, "%.0fh%02.0fm", floor(s / 3600), fmod(floor(s / 60), 60));
}

static void job_on_step(void *arg, const hs_surgery_step_report *r)
{
    surgery_job *j = arg;
    char eta[32], msg[256];
    format_duration(r->eta_s, eta, sizeof eta);
    snprintf(msg, sizeof msg, "%sstep %lld/%lld loss %.4f lr %.3g grad_norm %.4g ETA %s",
             j->pass == 2 ? "pass 2: " : "", (long long)r->step, (long long)r->total, r->loss,
             r->lr, r->grad_norm, eta);
    hs_job_progress(j->ctx, r->step, r->total, msg);
    int64_t step = j->step_offset + r->step;
    if (j->ctx->ops->add_curve_point(j->ctx, step, r->epoch, "loss", r->loss) != 0 ||
        j->ctx->ops->add_curve_point(j->ctx, step, r->epoch, "lr", r->lr) != 0 ||
        j->ctx->ops->add_curve_point(j->ctx, step, r->epoch, "grad_norm", r->grad_norm) != 0)
        note_store_failure(j, "a curve point");
}

static void store_diagnosis_rows(surgery_job *j, const char *checkpoint, const hs_diagnosis *d)
{
    int n = d->n_layer * d->n_head;
    hs_head_stat_row *rows = malloc((size_t)n * sizeof *rows);
    if (!rows) {
        note_store_failure(j, "head statistics (out of memory)");
        return;
    }
    for (int i = 0; i < n; i++) {
        const hs_head_result *h = &d->heads[i];
        rows[i] = (hs_head_stat_row){.layer = h->layer, .head = h->head, .bos_mass = h->bos_mass,
                                     .entropy = h->entropy, .local_mass = h->local_mass,
                                     .cls = hs_head_class_name(h->cls)};
    }
    if (j->ctx->ops->store_head_stats(j->ctx, checkpoint, rows, n) != 0)
        note_store_failure(j, "head statistics");
    free(rows);
}

/* The sample completions of the model as it is now into path (failures fail the job). */
static void take_samples(surgery_job *j, const char *name, const char *dir, const char *file)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (j->samples->n == 0)
        return;
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path ||
        hs_surgery_samples_take(j->samples, j->model, name, path, why, sizeof why) != 0) {
        hs_job_logf(j->ctx, "samples of %s: %s", name, why);
        note_store_failure(j, "the samples");
    }
}

static void job_on_start(void *arg, const hs_diagnosis *d, double ppl)
{
    surgery_job *j = arg;
    if (j->pass == 1)
        take_samples(j, "start", j->ctx->run_dir, "samples-start.json");
    int healthy = 0;
    for (int i = 0; i < j->n_targets; i++)
        if (d->heads[j->targets[i].layer * d->n_head + j->targets[i].head].cls ==
            HS_HEAD_HEALTHY)
            healthy++;
    store_diagnosis_rows(j, j->pass == 2 ? "pass2-start" : "start", d);
    if (j->pass == 1)
        j->baseline_ppl = ppl;
    if (j->pass == 2)
        return; /* its curve points would repeat pass 1's last checkpoint */
    if (j->ctx->ops->add_curve_point(j->ctx, 0, 0.0, "ppl", ppl) != 0 ||
        j->ctx->ops->add_curve_point(j->ctx, 0, 0.0, "woken", healthy) != 0 ||
        j->ctx->ops->add_curve_point(j->ctx, 0, 0.0, "drift", 0) != 0)
        note_store_failure(j, "a curve point");
}

static bool was_dropped(const surgery_job *j, const char *name)
{
    for (int i = 0; i < j->n_dropped; i++)
        if (strcmp(j->dropped[i], name) == 0)
            return true;
    return false;
}

/* Removes the checkpoints that keep_checkpoints no longer keeps (c[i].best as stored). */
static void apply_retention(surgery_job *j, const hs_surgery_ckpt_entry *c, int n,
                            const bool *best)
{
    for (int i = 0; i < n; i++) {
        if (hs_retention_keeps(&j->keep, i, n, best[i]) || was_dropped(j, c[i].name))
            continue;
        char (*grown)[64] = realloc(j->dropped, (size_t)(j->n_dropped + 1) * sizeof *grown);
        if (!grown) {
            note_store_failure(j, "retention (out of memory)");
            return;
        }
        j->dropped = grown;
        snprintf(j->dropped[j->n_dropped++], sizeof grown[0], "%s", c[i].name);
        if (j->ctx->ops->drop_checkpoint(j->ctx, c[i].name) != 0)
            note_store_failure(j, "a checkpoint removal");
        else
            hs_job_logf(j->ctx, "checkpoint %s removed (keep_checkpoints)", c[i].name);
    }
}

static void job_on_checkpoint(void *arg, const hs_surgery_ckpt_entry *c, int n, double epoch,
                              const hs_diagnosis *d)
{
    surgery_job *j = arg;
    bool *best_of = calloc((size_t)n, sizeof *best_of);
    if (!best_of) {
        note_store_failure(j, "checkpoint rows (out of memory)");
        return;
    }
    /* Every row again: the `best` flag of an earlier checkpoint may have moved. */
    for (int i = 0; i < n; i++) {
        /* pass 2 only takes `best` from pass 1 by a lower perplexity */
        bool best = c[i].best && (j->pass == 1 || isnan(j->best_before) ||
                                  c[i].ppl < j->best_before);
        best_of[i] = c[i].best;
        if (was_dropped(j, c[i].name) || !hs_retention_keeps(&j->keep, i, n, c[i].best))
            continue;
        hs_checkpoint_row row = {.name = c[i].name, .path = c[i].path, .epoch = c[i].epoch,
                                 .step = j->step_offset + c[i].step, .ppl = c[i].ppl,
                                 .woken = c[i].woken, .best = best};
        if (j->ctx->ops->store_checkpoint(j->ctx, &row) != 0)
            note_store_failure(j, "a checkpoint row");
    }
    apply_retention(j, c, n, best_of);
    free(best_of);
    const hs_surgery_ckpt_entry *last = &c[n - 1];
    if (d) {
        take_samples(j, last->name, last->path, "samples.json");
        store_diagnosis_rows(j, last->name, d);
        int64_t step = j->step_offset + last->step;
        if (j->ctx->ops->add_curve_point(j->ctx, step, epoch, "ppl", last->ppl) != 0 ||
            j->ctx->ops->add_curve_point(j->ctx, step, epoch, "woken", last->woken) != 0 ||
            j->ctx->ops->add_curve_point(j->ctx, step, epoch, "drift", last->drift) != 0)
            note_store_failure(j, "a curve point");
    }
}

/* Sub-epoch trajectory: step_ppl; step_woken and step_class_<class> (heads of the whole model
 * per class), at the step (pass 2 continuing after pass 1). */
static void job_on_step_eval(void *arg, const hs_surgery_step_eval *e)
{
    surgery_job *j = arg;
    hs_job_ctx *ctx = j->ctx;
    int64_t step = j->step_offset + e->step;
    int rc = 0;
    if (isfinite(e->ppl))
        rc |= ctx->ops->add_curve_point(ctx, step, e->epoch, "step_ppl", e->ppl);
    if (e->diag) {
        rc |= ctx->ops->add_curve_point(ctx, step, e->epoch, "step_woken", e->woken);
        static const hs_head_class classes[] = {HS_HEAD_HEALTHY, HS_HEAD_BOS_SINK, HS_HEAD_DEAD,
                                                HS_HEAD_LOW_ENTROPY};
        for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "step_class_%s", hs_head_class_name(classes[i]));
            rc |= ctx->ops->add_curve_point(ctx, step, e->epoch, name,
                                            e->diag->counts[classes[i]]);
        }
    }
    if (rc != 0)
        note_store_failure(j, "a step curve point");
}

static void job_log(void *arg, const char *line)
{
    surgery_job *j = arg;
    hs_job_logf(j->ctx, "%s", line);
}

static int resolve_targets(hs_job_ctx *ctx, const cJSON *spec, const hs_model_config *cfg,
                           hs_head_target **t, int *n, char *err, size_t errlen)
{
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(spec, "targets");
    char field[128], why[HS_ERR_LEN];
    if (!hs_targets_is_rule(targets)) {
        if (hs_targets_parse_explicit(targets, cfg->n_layer, cfg->n_head, t, n, field,
                                      sizeof field, why, sizeof why) != 0)
            return hs_errf(err, errlen, "%s", why);
        return 0;
    }
    hs_target_rule rule;
    if (hs_targets_parse_rule(targets, cfg->n_layer, cfg->n_head, &rule, field, sizeof field,
                              why, sizeof why) != 0)
        return hs_errf(err, errlen, "%s", why);
    cJSON *heads = ctx->ops->load_diagnosis(ctx, rule.from_run, why, sizeof why);
    if (!heads)
        return hs_errf(err, errlen, "targets.from_run %lld: %s", (long long)rule.from_run, why);
    int rc = hs_targets_from_diagnosis(&rule, heads, t, n, err, errlen);
    cJSON_Delete(heads);
    if (rc == 0)
        hs_job_logf(ctx, "targets.from_run %lld: %d heads match the rule",
                    (long long)rule.from_run, *n);
    return rc;
}

/* The honest outcome: the untouched model's perplexity, the best checkpoint (named even when
 * it is worse), its perplexity and woken heads, and whether it beats the baseline (null when
 * either perplexity is unknown). */
static int add_outcome(cJSON *result, const hs_surgery_ckpt_entry *best, double baseline)
{
    bool known = best && isfinite(best->ppl) && isfinite(baseline);
    cJSON *items[5] = {
        isfinite(baseline) ? cJSON_CreateNumber(baseline) : cJSON_CreateNull(),
        best ? cJSON_CreateString(best->name) : cJSON_CreateNull(),
        best && isfinite(best->ppl) ? cJSON_CreateNumber(best->ppl) : cJSON_CreateNull(),
        best ? cJSON_CreateNumber(best->woken) : cJSON_CreateNull(),
        known ? cJSON_CreateBool(best->ppl < baseline) : cJSON_CreateNull()};
    static const char *const names[5] = {"baseline_ppl", "best_checkpoint", "best_ppl",
                                         "heads_woken", "improves_baseline"};
    int rc = 0;
    for (int i = 0; i < 5; i++)
        if (rc != 0 || !items[i] || !cJSON_AddItemToObject(result, names[i], items[i])) {
            cJSON_Delete(items[i]);
            rc = -1;
        }
    return rc;
}

/* The result: {"checkpoints": [...], "final", "targets", "seed"} (+ "second_pass_targets"
 * when a second pass was asked for) and add_outcome's fields. Pass 2's steps count on from
 * pass 1's; `best` marks the first checkpoint with the lowest perplexity over both passes;
 * checkpoints keep_checkpoints removed are left out. */
static cJSON *build_result(const surgery_job *job, const hs_surgery_outcome *pass1,
                           const hs_surgery_outcome *pass2, const hs_head_target *t,
                           int n_targets, const hs_head_target *t2, int n_t2, bool second_pass,
                           uint64_t seed, double baseline)
{
    const hs_surgery_outcome *passes[2] = {pass1, pass2};
    const hs_surgery_ckpt_entry *best = NULL, *last = NULL;
    for (int k = 0; k < 2; k++)
        for (int i = 0; passes[k] && i < passes[k]->n_ckpts; i++) {
            const hs_surgery_ckpt_entry *c = &passes[k]->ckpts[i];
            if (isfinite(c->ppl) && (!best || c->ppl < best->ppl))
                best = c;
            last = c;
        }
    cJSON *result = cJSON_CreateObject();
    cJSON *ckpts = cJSON_AddArrayToObject(result, "checkpoints");
    if (!ckpts)
        goto fail;
    for (int k = 0; k < 2; k++)
        for (int i = 0; passes[k] && i < passes[k]->n_ckpts; i++) {
            const hs_surgery_ckpt_entry *c = &passes[k]->ckpts[i];
            if (was_dropped(job, c->name))
                continue; /* removed by keep_checkpoints */
            int64_t offset = k == 1 ? pass1->steps_done : 0;
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(ckpts, e))
                goto fail;
            cJSON_AddStringToObject(e, "name", c->name);
            cJSON_AddStringToObject(e, "path", c->path);
            cJSON_AddNumberToObject(e, "epoch", c->epoch);
            cJSON_AddNumberToObject(e, "step", (double)(offset + c->step));
            if (isfinite(c->ppl))
                cJSON_AddNumberToObject(e, "ppl", c->ppl);
            else
                cJSON_AddNullToObject(e, "ppl");
            cJSON_AddNumberToObject(e, "woken", c->woken);
            if (!cJSON_AddBoolToObject(e, "best", c == best))
                goto fail;
        }
    if (last)
        cJSON_AddStringToObject(result, "final", last->path);
    else
        cJSON_AddNullToObject(result, "final");
    cJSON *tj = hs_targets_to_json(t, n_targets);
    if (!tj || !cJSON_AddItemToObject(result, "targets", tj)) {
        cJSON_Delete(tj);
        goto fail;
    }
    if (second_pass) {
        cJSON *t2j = hs_targets_to_json(t2, n_t2);
        if (!t2j || !cJSON_AddItemToObject(result, "second_pass_targets", t2j)) {
            cJSON_Delete(t2j);
            goto fail;
        }
    }
    if (!cJSON_AddNumberToObject(result, "seed", (double)seed) ||
        add_outcome(result, best, baseline) != 0)
        goto fail;
    return result;
fail:
    cJSON_Delete(result);
    return NULL;
}

/* The first pass's targets that are not healthy in the model as it is now. */
static int still_collapsed(hs_model *m, const hs_token_seq *seqs, int n_seqs, int max_length,
                           const hs_head_target *t, int n, hs_head_target **out, int *n_out,
                           char *err, size_t errlen)
{
    hs_diagnosis d;
    memset(&d, 0, sizeof d);
    char why[HS_ERR_LEN];
    *out = NULL;
    *n_out = 0;
    hs_ppl_window first = {.max_length = max_length}; /* the statistics of the first window */
    if (hs_diagnose_and_perplexity_windowed(m, seqs, n_seqs, &first, &hs_diag_default_thresholds,
                                            &d, NULL, NULL, NULL, NULL, why, sizeof why) != 0)
        return hs_errf(err, errlen, "second pass: diagnosis failed: %s", why);
    hs_head_target *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s) {
        hs_diagnosis_free(&d);
        return hs_errf(err, errlen, "second pass: out of memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (d.heads[t[i].layer * d.n_head + t[i].head].cls != HS_HEAD_HEALTHY)
            s[k++] = t[i];
    hs_diagnosis_free(&d);
    *out = s;
    *n_out = k;
    return 0;
}

/* What a surgery trains on and is judged by, loaded before training. */
typedef struct surgery_inputs {
    hs_head_target *targets;
    int n_targets;
    hs_surgery_corpus corpus;
    char **texts;           /* eval texts */
    int n_texts;
    hs_token_seq *seqs;     /* their tokens */
} surgery_inputs;

static void free_inputs(surgery_inputs *in)
{
    if (in->seqs)
        hs_token_seqs_free(in->seqs, in->n_texts);
    hs_job_texts_free(in->texts, in->n_texts);
    hs_surgery_corpus_free(&in->corpus);
    free(in->targets);
}

/* Targets, the tokenized corpus in chunks and the tokenized eval texts (each >= 2 tokens). */
static int load_inputs(hs_job_ctx *ctx, const cJSON *spec, const hs_kind_env *env, hs_model *m,
                       const hs_surgery_params *p, const char *corpus_name,
                       const char *corpus_path, surgery_inputs *in, char *err, size_t errlen)
{
    char why[HS_ERR_LEN], what[4200];
    if (resolve_targets(ctx, spec, &m->cfg, &in->targets, &in->n_targets, err, errlen) != 0)
        return -1;
    snprintf(what, sizeof what, "corpus \"%s\"", corpus_name);
    hs_job_progress(ctx, 0, 0, "tokenizing the corpus");
    if (hs_surgery_corpus_load(m->tok, corpus_path, p->max_length, what, &in->corpus, err,
                               errlen) != 0)
        return -1;
    hs_job_logf(ctx, "%s: %zu tokens, %d chunks of %d", what, in->corpus.n_tokens,
                in->corpus.n_chunks, p->max_length);
    if (hs_job_texts_load(spec, env, "eval_texts", "eval_file", &in->texts, &in->n_texts, err,
                          errlen) != 0)
        return -1;
    /* whole texts: their perplexity covers them in windows of max_length (diagnosis.h) */
    if (hs_tokenize_texts(m, (const char *const *)in->texts, in->n_texts, INT_MAX, false,
                          &in->seqs, why, sizeof why) != 0)
        return hs_errf(err, errlen, "eval texts: %s", why);
    for (int i = 0; i < in->n_texts; i++)
        if (in->seqs[i].T < 2)
            return hs_errf(err, errlen, "%s[%d]: fewer than 2 tokens (perplexity needs 2)",
                           cJSON_GetObjectItemCaseSensitive(spec, "eval_texts")
                               ? "eval_texts"
                               : "eval_file line",
                           i);
    return 0;
}

/* The second pass over the targets still collapsed after the first (none: nothing to do).
 * Returns hs_surgery_train's code; *ran tells whether a pass was trained. */
static int run_second_pass(hs_job_ctx *ctx, hs_model *m, const hs_surgery_params *p,
                           const surgery_inputs *in, const char *ckpt_dir, surgery_job *job,
                           const hs_surgery_hooks *hooks, const hs_surgery_outcome *pass1,
                           hs_head_target **targets2, int *n_targets2,
                           hs_surgery_outcome *pass2, bool *ran, char *err, size_t errlen)
{
    if (still_collapsed(m, in->seqs, in->n_texts, p->max_length, in->targets, in->n_targets, targets2,
                        n_targets2, err, errlen) != 0)
        return -1;
    if (*n_targets2 == 0) {
        hs_job_logf(ctx, "second pass: every target is healthy, nothing to do");
        return 0;
    }
    hs_surgery_params p2 = *p;
    p2.seed = p->seed + 1;
    p2.woken_targets = in->targets;
    p2.n_woken_targets = in->n_targets;
    snprintf(p2.ckpt_prefix, sizeof p2.ckpt_prefix, "pass2-");
    job->pass = 2;
    job->step_offset = pass1->steps_done;
    for (int i = 0; i < pass1->n_ckpts; i++)
        if (pass1->ckpts[i].best)
            job->best_before = pass1->ckpts[i].ppl;
    hs_job_logf(ctx, "second pass: %d of %d targets still collapsed, seed %llu", *n_targets2,
                in->n_targets, (unsigned long long)p2.seed);
    *ran = true;
    int trc = hs_surgery_train(m, *targets2, *n_targets2, &p2, &in->corpus, in->seqs,
                               in->n_texts, ckpt_dir, ctx->attempt > 1, hooks, pass2, err,
                               errlen);
    if (trc == 0 && job->store_failed)
        trc = hs_errf(err, errlen, "%s", job->store_error);
    return trc;
}

/* The result JSON of both passes, stored through the runner API. */
/* {"name", "sha256", "tokens"} of the training corpus: name as the spec gave it (an upload
 * without its "@<sha256>" version), the digest of the file read, the tokens it made. */
static cJSON *corpus_json(const char *name, const char *path, const surgery_inputs *in)
{
    char sha[HS_SHA256_HEX], why[HS_ERR_LEN];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const char *at = strncmp(name, "upload:", 7) == 0 ? strchr(name, '@') : NULL;
    char shown[320];
    snprintf(shown, sizeof shown, "%.*s", at ? (int)(at - name) : (int)strlen(name), name);
    cJSON_AddStringToObject(o, "name", shown);
    if (hs_sha256_file(path, sha, why, sizeof why) == 0)
        cJSON_AddStringToObject(o, "sha256", sha);
    else
        cJSON_AddNullToObject(o, "sha256");
    cJSON_AddNumberToObject(o, "tokens", (double)in->corpus.n_tokens);
    return o;
}

static int store_outcome(hs_job_ctx *ctx, const cJSON *spec, const surgery_job *job,
                         const surgery_inputs *in,
                         const hs_surgery_outcome *pass1, const hs_surgery_outcome *pass2,
                         const hs_head_target *targets2, int n_targets2, bool second_pass,
                         uint64_t seed, double baseline, hs_surgery_samples *samples,
                         char *err, size_t errlen)
{
    cJSON *result = build_result(job, pass1, pass2, in->targets, in->n_targets, targets2,
                                 n_targets2, second_pass, seed, baseline);
    cJSON *corpus = result && hs_result_add_precision(result, spec) == 0
                        ? corpus_json(job->corpus_name, job->corpus_path, in)
                        : NULL;
    if (!corpus || !cJSON_AddItemToObject(result, "corpus", corpus)) {
        cJSON_Delete(corpus);
        cJSON_Delete(result);
        return hs_errf(err, errlen, "out of memory building the result");
    }
    if (samples->collected) { /* the sets taken in this attempt */
        cJSON_AddItemToObject(result, "samples", samples->collected);
        samples->collected = NULL;
    }
    int rc = ctx->ops->store_result(ctx, result);
    cJSON_Delete(result);
    if (rc != 0)
        return hs_errf(err, errlen, "storing the result failed");
    const hs_surgery_outcome *last = pass2 ? pass2 : pass1;
    hs_job_progress(ctx, last->steps_done, last->total_steps, "done");
    return 0;
}

static int surgery_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    hs_kind_env env = {.model_root = ctx->model_root, .corpus_root = ctx->corpus_root,
                       .data_dir = ctx->data_dir, .instance = ctx->instance};
    hs_surgery_params p;
    params_from_spec(spec, &p);
    bool second_pass = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "second_pass"));
    char model_dir[PATH_MAX], corpus_path[PATH_MAX], why[HS_ERR_LEN], ckpt_dir[PATH_MAX];
    const char *model_name = str_or(spec, "model", "");
    const char *corpus_name = str_or(spec, "corpus", "");
    if (hs_resolve_model(&env, model_name, model_dir, sizeof model_dir, why, sizeof why) != 0)
        return hs_errf(err, errlen, "model: %s", why);
    if (hs_resolve_corpus(&env, corpus_name, corpus_path, sizeof corpus_path, why,
                          sizeof why) != 0)
        return hs_errf(err, errlen, "corpus: %s", why);
    if (!ctx->device)
        return hs_errf(err, errlen, "no compute device for the surgery");

    hs_job_progress(ctx, 0, 0, "loading the model");
    hs_model *m = hs_job_surgery_model(ctx, spec, model_dir, model_name, p.batch_size,
                                       p.grad_accum, p.max_length, err, errlen);
    if (!m)
        return -1;
    /* docs/architecture.md "Training semantics": on a GPU a group's equal micro-batches run as
     * one batch; the CPU keeps the memory of one micro-batch. */
    p.fuse_accumulation = m->be->caps.batch_accumulation;

    surgery_inputs in;
    memset(&in, 0, sizeof in);
    hs_surgery_samples samples;
    memset(&samples, 0, sizeof samples);
    hs_head_target *targets2 = NULL;
    int n_targets2 = 0, rc = -1;
    hs_surgery_outcome outcome, outcome2;
    memset(&outcome, 0, sizeof outcome);
    memset(&outcome2, 0, sizeof outcome2);
    bool weights_touched = false, ran_pass2 = false;
    surgery_job job = {.ctx = ctx, .pass = 1, .best_before = NAN, .baseline_ppl = NAN};
    char why_keep[HS_ERR_LEN];
    if (hs_retention_parse(cJSON_GetObjectItemCaseSensitive(spec, "keep_checkpoints"), &job.keep,
                           why_keep, sizeof why_keep) != 0) {
        rc = hs_errf(err, errlen, "%s", why_keep);
        goto done;
    }
    if (load_inputs(ctx, spec, &env, m, &p, corpus_name, corpus_path, &in, err, errlen) != 0 ||
        hs_surgery_samples_init(&samples, spec, m, err, errlen) != 0 ||
        hs_run_checkpoints_dir(ctx->run_dir, ckpt_dir, sizeof ckpt_dir, err, errlen) != 0)
        goto done;

    job.corpus_name = corpus_name;
    job.corpus_path = corpus_path;
    job.targets = in.targets;
    job.n_targets = in.n_targets;
    job.n_layer = m->cfg.n_layer;
    job.n_head = m->cfg.n_head;
    job.model = m;
    job.samples = &samples;
    hs_surgery_hooks hooks = {.arg = &job, .should_stop = job_should_stop,
                              .failed = job_failed, .on_step = job_on_step, .on_start = job_on_start,
                              .on_checkpoint = job_on_checkpoint,
                              .on_step_eval = job_on_step_eval, .log = job_log};
    hs_job_logf(ctx, "surgery of %d heads, init %s, seed %llu%s", in.n_targets,
                hs_surgery_init_name(p.init), (unsigned long long)p.seed,
                ctx->attempt > 1 ? " (resuming)" : "");
    weights_touched = true;
    int trc = hs_surgery_train(m, in.targets, in.n_targets, &p, &in.corpus, in.seqs,
                               in.n_texts, ckpt_dir, ctx->attempt > 1, &hooks, &outcome, err,
                               errlen);
    if (trc == 0 && job.store_failed)
        trc = hs_errf(err, errlen, "%s", job.store_error);
    if (trc == 0 && second_pass)
        trc = run_second_pass(ctx, m, &p, &in, ckpt_dir, &job, &hooks, &outcome, &targets2,
                              &n_targets2, &outcome2, &ran_pass2, err, errlen);
    if (trc != 0) {
        rc = trc == 1 ? 1 : -1; /* 1: stopped (cancelled or shutting down) */
        goto done;
    }
    rc = store_outcome(ctx, spec, &job, &in, &outcome, ran_pass2 ? &outcome2 : NULL, targets2,
                       n_targets2, second_pass, p.seed, job.baseline_ppl, &samples, err, errlen);
done:
    /* The surgery changed the cached model's weights in place: never reuse them. */
    if (weights_touched)
        hs_device_drop_model(ctx->device, m);
    hs_surgery_outcome_free(&outcome);
    hs_surgery_outcome_free(&outcome2);
    free_inputs(&in);
    hs_surgery_samples_free(&samples);
    free(targets2);
    free(job.dropped);
    return rc;
}

const hs_job_kind hs_kind_surgery = {
    .name = "surgery",
    .description = "re-initialise and retrain collapsed attention heads, with checkpoints",
    .fields = surgery_fields,
    .check = surgery_check,
    .run = surgery_run,
};
