/* The surgery training loop: data order, accumulation, clipping, AdamW, schedule, checkpoints
 * with evaluation, early stop, cancel and resume (see surgery_loop.h). */
#include "surgery_loop.h"
#include "common/errors.h"
#include "surgery_eta.h"
#include "surgery_optimizer.h"
#include "surgery_schedule.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void hs_surgery_params_default(hs_surgery_params *p)
{
    memset(p, 0, sizeof *p);
    p->init = HS_SURGERY_INIT_XAVIER_UNIFORM;
    p->lr = 5e-5;
    p->beta1 = 0.9;
    p->beta2 = 0.999;
    p->eps = 1e-8;
    p->weight_decay = 0.0;
    p->clip = 1.0;
    p->batch_size = 1;
    p->grad_accum = 8;
    p->max_length = 512;
    p->epochs = 15;
    p->max_steps = 0;
    p->warmup_steps = -1;
    p->shuffle = true;
    p->seed = 0;
    p->checkpoint_every = 3;
    p->patience = 3;
    p->drift_threshold = 0.05;
}

void hs_surgery_outcome_free(hs_surgery_outcome *o)
{
    if (!o)
        return;
    free(o->ckpts);
    o->ckpts = NULL;
    o->n_ckpts = 0;
}

typedef struct surgery_run {
    hs_model *m;
    const hs_surgery_params *p;
    const hs_surgery_hooks *hooks;
    const hs_head_target *targets;
    int n_targets;
    const hs_token_seq *eval;
    int n_eval;
    const char *dir;
    hs_model_trainer *tr;
    hs_head_slices *slices;
    int n_slices;
    hs_surgery_optimizer *opt;
    hs_surgery_state st;
    int ckpt_cap;
    int64_t last_ckpt_step; /* -1: none */
    int64_t mb_per_epoch, steps_per_epoch, total;
    const hs_surgery_corpus *corpus;
    hs_lr_schedule sched;
    int32_t *ids;           /* [batch_rows, chunk_len] host: the rows of one trainer step */
    int *order;             /* [n_chunks] this epoch's chunk order */
    int order_epoch;        /* the epoch `order` is for, −1 before the first */
    double t_start;         /* when this process started training (for the ETA) */
    int64_t first_step;     /* the step training started from here (resume: > 0) */
    /* The last checkpoint evaluation, kept for a step evaluation of the same step. */
    bool have_ckpt_eval;
    int64_t ckpt_eval_step;
    double ckpt_eval_ppl;
    hs_diagnosis ckpt_eval_diag;
    /* For the ETA: time spent in step evaluations here, how many ran, and the duration of the
     * last full evaluation (start or checkpoint; < 0 none yet), the estimate before any ran. */
    double step_eval_spent_s;
    int64_t n_step_evals;
    double full_eval_s;
} surgery_run;

static void run_logf(const surgery_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_logf(const surgery_run *r, const char *fmt, ...)
{
    if (!r->hooks || !r->hooks->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->hooks->log(r->hooks->arg, line);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_target(const surgery_run *r, int layer, int head)
{
    for (int i = 0; i < r->n_targets; i++)
        if (r->targets[i].layer == layer && r->targets[i].head == head)
            return true;
    return false;
}

static bool is_surgical_layer(const surgery_run *r, int layer)
{
    for (int i = 0; i < r->n_targets; i++)
        if (r->targets[i].layer == layer)
            return true;
    return false;
}

/* Diagnosis + perplexity of the current model on the eval texts: the evaluate kind's function,
 * with the same windows (max_length, eval_stride) over the whole texts. */
static int evaluate(surgery_run *r, hs_diagnosis *diag, double *ppl, char *err, size_t errlen)
{
    memset(diag, 0, sizeof *diag);
    hs_perplexity pp;
    memset(&pp, 0, sizeof pp);
    hs_ppl_window w = {.max_length = r->p->max_length, .stride = r->p->eval_stride};
    double t0 = now_s();
    if (hs_diagnose_and_perplexity_windowed(r->m, r->eval, r->n_eval, &w,
                                            &hs_diag_default_thresholds, diag, &pp, NULL, NULL,
                                            NULL, err, errlen) != 0)
        return -1;
    r->full_eval_s = now_s() - t0;
    *ppl = pp.ppl;
    hs_perplexity_free(&pp);
    return 0;
}

static double fractional_epoch(const surgery_run *r)
{
    return r->st.epoch + (double)r->st.micro_batch / (double)r->mb_per_epoch;
}

/* Keeps a checkpoint's evaluation (taking diag over) for a step evaluation of the same step. */
static void keep_ckpt_eval(surgery_run *r, hs_diagnosis *diag, double ppl)
{
    if (r->have_ckpt_eval)
        hs_diagnosis_free(&r->ckpt_eval_diag);
    r->ckpt_eval_diag = *diag;
    memset(diag, 0, sizeof *diag);
    r->ckpt_eval_ppl = ppl;
    r->ckpt_eval_step = r->st.step;
    r->have_ckpt_eval = true;
}

static void count_woken_and_drift(const surgery_run *r, const hs_diagnosis *d, int *woken,
                                  int *drift)
{
    int H = r->m->cfg.n_head;
    const hs_head_target *counted = r->p->woken_targets ? r->p->woken_targets : r->targets;
    int n_counted = r->p->woken_targets ? r->p->n_woken_targets : r->n_targets;
    *woken = 0;
    *drift = 0;
    for (int i = 0; i < n_counted; i++)
        if (d->heads[counted[i].layer * H + counted[i].head].cls == HS_HEAD_HEALTHY)
            (*woken)++;
    if (!r->st.start_bos)
        return;
    for (int l = 0; l < r->m->cfg.n_layer; l++) {
        if (!is_surgical_layer(r, l))
            continue;
        for (int h = 0; h < H; h++)
            if (!is_target(r, l, h) &&
                fabs(d->heads[l * H + h].bos_mass - r->st.start_bos[l * H + h]) >
                    r->p->drift_threshold)
                (*drift)++;
    }
}

/* Writes checkpoint `name` of the current state, evaluating it first when asked and there are
 * eval texts; updates best/patience and calls on_checkpoint. */
static int checkpoint(surgery_run *r, const char *name, bool do_eval, char *err, size_t errlen)
{
    if (r->st.n_ckpts == r->ckpt_cap) {
        int cap = r->ckpt_cap ? 2 * r->ckpt_cap : 8;
        hs_surgery_ckpt_entry *bigger = realloc(r->st.ckpts, (size_t)cap * sizeof *bigger);
        if (!bigger)
            return hs_errf(err, errlen, "checkpoint %s: out of memory", name);
        r->st.ckpts = bigger;
        r->ckpt_cap = cap;
    }
    hs_surgery_ckpt_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name);
    int n = snprintf(e.path, sizeof e.path, "%s/%s", r->dir, name);
    if (n < 0 || (size_t)n >= sizeof e.path)
        return hs_errf(err, errlen, "checkpoint %s: path too long", name);
    e.epoch = r->st.epoch;
    e.step = r->st.step;
    e.ppl = NAN;
    e.woken = -1;
    e.drift = -1;

    hs_diagnosis diag;
    bool have_diag = false;
    if (do_eval && r->n_eval > 0) {
        if (evaluate(r, &diag, &e.ppl, err, errlen) != 0)
            return -1;
        have_diag = true;
        count_woken_and_drift(r, &diag, &e.woken, &e.drift);
        run_logf(r, "checkpoint %s: ppl %.4f, woken %d/%d, drift %d (evaluated in %.1f s)", name,
                 e.ppl, e.woken,
                 r->p->woken_targets ? r->p->n_woken_targets : r->n_targets, e.drift,
                 r->full_eval_s);
        if (isnan(r->st.best_ppl) || e.ppl < r->st.best_ppl) {
            r->st.best_ppl = e.ppl;
            r->st.patience_count = 0;
            for (int i = 0; i < r->st.n_ckpts; i++)
                r->st.ckpts[i].best = false;
            e.best = true;
        } else {
            r->st.patience_count++;
        }
        /* Decided before writing, so the checkpoint records it and a resume stops too. */
        if (r->p->patience > 0 && r->st.patience_count >= r->p->patience)
            r->st.early_stopped = true;
    }
    r->st.ckpts[r->st.n_ckpts++] = e;
    int rc = hs_surgery_checkpoint_write(r->dir, name, r->m, r->slices, r->n_slices, r->opt,
                                         &r->st, err, errlen);
    if (rc == 0) {
        r->last_ckpt_step = r->st.step;
        run_logf(r, "checkpoint %s written at step %lld", name, (long long)r->st.step);
        if (r->hooks && r->hooks->on_checkpoint)
            r->hooks->on_checkpoint(r->hooks->arg, r->st.ckpts, r->st.n_ckpts,
                                    fractional_epoch(r), have_diag ? &diag : NULL);
    }
    if (have_diag)
        keep_ckpt_eval(r, &diag, e.ppl);
    return rc;
}

static bool hooked_should_stop(void *arg)
{
    const surgery_run *r = arg;
    return r->hooks && r->hooks->should_stop && r->hooks->should_stop(r->hooks->arg);
}

/* The step evaluation of the current step when eval_every_steps or diagnose_every_steps asks
 * for one: the checkpoint's evaluation when this step has one, else one pass over the eval
 * texts for what is due (perplexity, the diagnosis's first windows, or both). A stop asked
 * during it sets *stop and reports nothing. */
static int step_evaluation(surgery_run *r, bool *stop, char *err, size_t errlen)
{
    bool want_ppl = hs_surgery_step_due(r->st.step, r->p->eval_every_steps);
    bool want_diag = hs_surgery_step_due(r->st.step, r->p->diagnose_every_steps);
    if ((!want_ppl && !want_diag) || r->n_eval == 0)
        return 0;
    hs_surgery_step_eval ev = {.step = r->st.step, .epoch = fractional_epoch(r), .ppl = NAN,
                               .woken = -1};
    hs_diagnosis diag;
    memset(&diag, 0, sizeof diag);
    bool own_diag = false;
    if (r->have_ckpt_eval && r->ckpt_eval_step == r->st.step) {
        if (want_ppl)
            ev.ppl = r->ckpt_eval_ppl;
        if (want_diag)
            ev.diag = &r->ckpt_eval_diag;
    } else {
        hs_perplexity pp;
        memset(&pp, 0, sizeof pp);
        hs_ppl_window w = {.max_length = r->p->max_length, .stride = r->p->eval_stride};
        char why[HS_ERR_LEN] = "";
        double t0 = now_s();
        int rc = hs_diagnose_and_perplexity_windowed(
            r->m, r->eval, r->n_eval, &w, &hs_diag_default_thresholds, want_diag ? &diag : NULL,
            want_ppl ? &pp : NULL, NULL, hooked_should_stop, r, why, sizeof why);
        r->step_eval_spent_s += now_s() - t0;
        r->n_step_evals++;
        if (rc == 1) {
            *stop = true;
            return 0;
        }
        if (rc != 0)
            return hs_errf(err, errlen, "step evaluation at step %lld: %s",
                           (long long)r->st.step, why);
        if (want_ppl) {
            ev.ppl = pp.ppl;
            hs_perplexity_free(&pp);
        }
        if (want_diag) {
            ev.diag = &diag;
            own_diag = true;
        }
    }
    if (ev.diag) {
        int drift;
        count_woken_and_drift(r, ev.diag, &ev.woken, &drift);
    }
    if (r->hooks && r->hooks->on_step_eval)
        r->hooks->on_step_eval(r->hooks->arg, &ev);
    if (own_diag)
        hs_diagnosis_free(&diag);
    return 0;
}

static bool same_targets(const surgery_run *r, const hs_surgery_state *st)
{
    if (st->n_targets != r->n_targets)
        return false;
    for (int i = 0; i < r->n_targets; i++)
        if (st->targets[i].layer != r->targets[i].layer ||
            st->targets[i].head != r->targets[i].head)
            return false;
    return true;
}

/* Loads the newest complete checkpoint: 1 resumed, 0 none, -1 error. */
static int try_resume(surgery_run *r, char *err, size_t errlen)
{
    char path[4096];
    if (hs_surgery_checkpoint_cleanup(r->dir, err, errlen) != 0)
        return -1;
    int found = hs_surgery_checkpoint_latest(r->dir, r->p->ckpt_prefix, path, sizeof path, err,
                                             errlen);
    if (found <= 0)
        return found;
    hs_surgery_state st;
    if (hs_surgery_checkpoint_read_state(path, &st, err, errlen) != 0)
        return -1;
    if (!same_targets(r, &st) || st.n_layer != r->m->cfg.n_layer ||
        st.n_head != r->m->cfg.n_head) {
        hs_surgery_state_free(&st);
        return hs_errf(err, errlen, "checkpoint %s was written for other targets or another model",
                       path);
    }
    if (hs_surgery_checkpoint_restore(path, r->slices, r->n_slices, r->m->cfg.hidden_size,
                                      r->m->cfg.head_dim, r->opt, st.step, r->m->be, r->m->bctx,
                                      err, errlen) != 0) {
        hs_surgery_state_free(&st);
        return -1;
    }
    free(r->st.targets); /* the state's targets are the same (checked above) */
    r->st = st;
    r->ckpt_cap = r->st.n_ckpts;
    r->last_ckpt_step = r->st.step;
    run_logf(r, "resumed from checkpoint %s at step %lld (epoch %d, micro-batch %lld)", path,
             (long long)r->st.step, r->st.epoch, (long long)r->st.micro_batch);
    return 1;
}

/* Diagnosis of the untouched model (the reference for drift) and re-initialisation. */
static int start_fresh(surgery_run *r, char *err, size_t errlen)
{
    int L = r->m->cfg.n_layer, H = r->m->cfg.n_head;
    r->st.n_layer = L;
    r->st.n_head = H;
    r->st.seed = r->p->seed;
    r->st.shuffle = r->p->shuffle;
    r->st.best_ppl = NAN;
    if (r->n_eval > 0) {
        hs_diagnosis diag;
        double ppl;
        if (evaluate(r, &diag, &ppl, err, errlen) != 0)
            return -1;
        r->st.start_bos = malloc((size_t)L * H * sizeof(double));
        if (!r->st.start_bos) {
            hs_diagnosis_free(&diag);
            return hs_errf(err, errlen, "out of memory");
        }
        for (int i = 0; i < L * H; i++)
            r->st.start_bos[i] = diag.heads[i].bos_mass;
        int woken = 0;
        for (int i = 0; i < r->n_targets; i++)
            if (diag.heads[r->targets[i].layer * H + r->targets[i].head].cls == HS_HEAD_HEALTHY)
                woken++;
        run_logf(r, "before surgery: ppl %.4f, %d of %d targets healthy", ppl, woken,
                 r->n_targets);
        if (r->hooks && r->hooks->on_start)
            r->hooks->on_start(r->hooks->arg, &diag, ppl);
        hs_diagnosis_free(&diag);
    }
    if (hs_surgery_reinit(r->m, r->targets, r->n_targets, r->p->init, r->p->seed, err,
                          errlen) != 0)
        return -1;
    run_logf(r, "re-initialised %d heads with %s (seed %llu)", r->n_targets,
             hs_surgery_init_name(r->p->init), (unsigned long long)r->p->seed);
    return 0;
}

static int copy_outcome(const surgery_run *r, hs_surgery_outcome *out, char *err, size_t errlen)
{
    out->n_ckpts = r->st.n_ckpts;
    out->ckpts = malloc((size_t)(r->st.n_ckpts > 0 ? r->st.n_ckpts : 1) * sizeof *out->ckpts);
    if (!out->ckpts)
        return hs_errf(err, errlen, "out of memory");
    if (r->st.n_ckpts > 0)
        memcpy(out->ckpts, r->st.ckpts, (size_t)r->st.n_ckpts * sizeof *out->ckpts);
    out->steps_done = r->st.step;
    out->early_stopped = r->st.early_stopped;
    return 0;
}

/* The trainer, optimizer and host buffers of a run, then its state: resumed from the last
 * complete checkpoint when asked and possible, else fresh (reinitialised targets, baseline). */
static int prepare_run(surgery_run *r, bool resume, hs_surgery_outcome *out, char *err,
                       size_t errlen)
{
    const hs_surgery_params *p = r->p;
    const hs_surgery_corpus *corpus = r->corpus;
    hs_model *m = r->m;
    int64_t rows_wanted = (int64_t)p->batch_size * (p->fuse_accumulation ? p->grad_accum : 1);
    int batch_rows = rows_wanted < corpus->n_chunks ? (int)rows_wanted : corpus->n_chunks;
    r->ids = malloc((size_t)batch_rows * corpus->chunk_len * sizeof(int32_t));
    r->order = malloc((size_t)corpus->n_chunks * sizeof(int));
    r->st.targets = malloc((size_t)(r->n_targets > 0 ? r->n_targets : 1) * sizeof *r->targets);
    if (!r->ids || !r->order || !r->st.targets)
        return hs_errf(err, errlen, "out of memory for the data of %d chunks", corpus->n_chunks);
    memcpy(r->st.targets, r->targets, (size_t)r->n_targets * sizeof *r->targets);
    r->st.n_targets = r->n_targets;
    r->tr = hs_model_trainer_new(m, r->targets, r->n_targets, batch_rows, corpus->chunk_len, err,
                                 errlen);
    if (!r->tr)
        return -1;
    r->slices = hs_model_trainer_slices(r->tr, &r->n_slices);
    hs_adamw_config acfg = {p->beta1, p->beta2, p->eps, p->weight_decay};
    r->opt = hs_surgery_optimizer_new(m->be, m->bctx, r->slices, r->n_slices,
                                      m->cfg.hidden_size, m->cfg.head_dim, &acfg, err, errlen);
    if (!r->opt)
        return -1;
    int resumed = resume ? try_resume(r, err, errlen) : 0;
    if (resumed < 0)
        return -1;
    out->resumed = resumed == 1;
    if (!resumed && start_fresh(r, err, errlen) != 0)
        return -1;
    return 0;
}

/* Forward and backward over one accumulation group (grad_accum micro-batches, or fewer at the
 * epoch's end) into the slice gradients; *loss is the group's mean chunk loss. */
static int accumulate_group(surgery_run *r, double *loss, char *err, size_t errlen)
{
    const hs_surgery_params *p = r->p;
    const hs_surgery_corpus *corpus = r->corpus;
    if (r->order_epoch != r->st.epoch) {
        hs_surgery_epoch_order(r->st.seed, r->st.epoch, r->st.shuffle, corpus->n_chunks,
                               r->order);
        r->order_epoch = r->st.epoch;
    }
    int64_t mb_end = r->st.micro_batch + p->grad_accum;
    if (mb_end > r->mb_per_epoch)
        mb_end = r->mb_per_epoch;
    if (hs_model_trainer_zero_grad(r->tr) != 0)
        return hs_errf(err, errlen, "zeroing gradients failed at step %lld",
                       (long long)r->st.step);
    double step_loss = 0.0;
    int64_t n_mb = mb_end - r->st.micro_batch;
    bool all_full = mb_end * (int64_t)p->batch_size <= corpus->n_chunks;
    bool fused = p->fuse_accumulation && n_mb > 1 && all_full;
    if (fused) {
        /* equal micro-batches: mean over all = (1/n)·Σ means, so scale by n/grad_accum */
        int rows = 0;
        for (int64_t mb = r->st.micro_batch; mb < mb_end; mb++)
            rows += hs_surgery_gather_micro_batch(corpus, r->order, mb, p->batch_size,
                                                  r->ids + (size_t)rows * corpus->chunk_len);
        double l;
        if (hs_model_trainer_step(r->tr, r->ids, rows, (float)((double)n_mb / p->grad_accum), &l,
                                  err, errlen) != 0)
            return -1;
        step_loss = l * (double)n_mb / p->grad_accum;
    }
    for (int64_t mb = r->st.micro_batch; !fused && mb < mb_end; mb++) {
        int B = hs_surgery_gather_micro_batch(corpus, r->order, mb, p->batch_size, r->ids);
        double l;
        if (hs_model_trainer_step(r->tr, r->ids, B, (float)(1.0 / p->grad_accum), &l, err,
                                  errlen) != 0)
            return -1;
        step_loss += l / p->grad_accum;
    }
    r->st.micro_batch = mb_end;
    /* Logged loss: the mean chunk loss of the group (= the scripts' Σ loss/grad_accum for a
     * full group), so the short last group of an epoch does not show as a dip. */
    *loss = step_loss * (double)p->grad_accum / (double)n_mb;
    return 0;
}

/* Clipping and the AdamW step at the schedule's learning rate; a non-finite loss or norm
 * ends the run as diverged. */
static int optimizer_update(surgery_run *r, double loss, double *lr, double *norm, char *err,
                            size_t errlen)
{
    *lr = hs_surgery_lr_at(&r->sched, r->st.step);
    if (hs_surgery_clip_grads(r->opt, r->p->clip, norm, err, errlen) != 0 ||
        hs_surgery_optimizer_step(r->opt, *lr, err, errlen) != 0)
        return -1;
    if (!isfinite(loss) || !isfinite(*norm))
        return hs_errf(err, errlen, "training diverged at step %lld: loss %g, grad norm %g",
                       (long long)r->st.step, loss, *norm);
    return 0;
}

static void report_step(const surgery_run *r, double loss, double lr, double norm)
{
    if (!r->hooks || !r->hooks->on_step)
        return;
    double elapsed = now_s() - r->t_start;
    /* This step's own evaluation is still to come, so it counts among those left. */
    hs_surgery_eta_in eta = {
        .elapsed_s = elapsed, .eval_spent_s = r->step_eval_spent_s,
        .steps_done = r->st.step - r->first_step, .steps_left = r->total - r->st.step,
        .eval_each_s = r->n_step_evals > 0 ? r->step_eval_spent_s / (double)r->n_step_evals
                                           : r->full_eval_s,
        .evals_left = r->n_eval > 0 ? hs_surgery_evals_due(r->st.step - 1, r->total,
                                                           r->p->eval_every_steps,
                                                           r->p->diagnose_every_steps)
                                    : 0,
    };
    hs_surgery_step_report rep = {
        .step = r->st.step, .total = r->total, .epoch = fractional_epoch(r),
        .loss = loss, .lr = lr, .grad_norm = norm, .elapsed_s = elapsed,
        .eta_s = hs_surgery_eta_s(&eta),
    };
    r->hooks->on_step(r->hooks->arg, &rep);
}

/* One optimizer step with its bookkeeping: the epoch boundary, the report, a cooperative
 * stop (*stop), and the checkpoint every checkpoint_every epochs. */
static int train_one_step(surgery_run *r, bool *stop, char *err, size_t errlen)
{
    double loss = 0.0, lr = 0.0, norm = 0.0;
    if (accumulate_group(r, &loss, err, errlen) != 0 ||
        optimizer_update(r, loss, &lr, &norm, err, errlen) != 0)
        return -1;
    r->st.step++;
    bool epoch_done = r->st.micro_batch == r->mb_per_epoch;
    if (epoch_done) {
        r->st.epoch++;
        r->st.micro_batch = 0;
    }
    report_step(r, loss, lr, norm);
    char why[256] = "";
    if (r->hooks && r->hooks->failed && r->hooks->failed(r->hooks->arg, why, sizeof why))
        return hs_errf(err, errlen, "%s", why);
    if (r->hooks && r->hooks->should_stop && r->hooks->should_stop(r->hooks->arg)) {
        *stop = true;
        return 0;
    }
    if (epoch_done && r->st.epoch % r->p->checkpoint_every == 0) {
        char name[48];
        snprintf(name, sizeof name, "%sepoch-%d", r->p->ckpt_prefix, r->st.epoch);
        if (checkpoint(r, name, true, err, errlen) != 0)
            return -1;
        if (r->st.early_stopped)
            run_logf(r, "early stop: %d checkpoints without perplexity improvement",
                     r->st.patience_count);
    }
    /* The last step's `final` checkpoint comes in finish_run; its evaluation is shared. */
    bool final_pending = r->st.step >= r->total && r->st.step != r->last_ckpt_step;
    if (!final_pending)
        return step_evaluation(r, stop, err, errlen);
    return 0;
}

/* After the loop: a stopped run keeps its progress as a "cancelled-step-N" checkpoint (returns
 * 1); a finished one gets "final" unless its last step was just checkpointed. */
static int finish_run(surgery_run *r, bool stopped, hs_surgery_outcome *out, char *err,
                      size_t errlen)
{
    const char *prefix = r->p->ckpt_prefix;
    char name[96];
    if (stopped) {
        if (r->st.step != r->last_ckpt_step && r->st.step > 0) {
            snprintf(name, sizeof name, "%scancelled-step-%lld", prefix, (long long)r->st.step);
            if (checkpoint(r, name, false, err, errlen) != 0)
                return -1;
        }
        run_logf(r, "stopped at step %lld of %lld", (long long)r->st.step, (long long)r->total);
        out->cancelled = true;
    } else if (r->st.step != r->last_ckpt_step) {
        snprintf(name, sizeof name, "%sfinal", prefix);
        bool stop_ignored = false; /* training is over: nothing left to stop */
        if (checkpoint(r, name, true, err, errlen) != 0 ||
            step_evaluation(r, &stop_ignored, err, errlen) != 0)
            return -1;
    }
    if (copy_outcome(r, out, err, errlen) != 0)
        return -1;
    return stopped ? 1 : 0;
}

int hs_surgery_train(hs_model *m, const hs_head_target *targets, int n_targets,
                     const hs_surgery_params *p, const hs_surgery_corpus *corpus,
                     const hs_token_seq *eval, int n_eval, const char *checkpoints_dir,
                     bool resume, const hs_surgery_hooks *hooks, hs_surgery_outcome *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (corpus->chunk_len != p->max_length)
        return hs_errf(err, errlen, "corpus chunks of %d tokens, max_length %d",
                       corpus->chunk_len, p->max_length);
    if (p->batch_size < 1 || p->grad_accum < 1 || p->epochs < 1 || p->checkpoint_every < 1)
        return hs_errf(err, errlen, "batch_size, grad_accum, epochs and checkpoint_every must be >= 1");
    surgery_run run = {
        .m = m, .p = p, .hooks = hooks, .targets = targets, .n_targets = n_targets,
        .eval = eval, .n_eval = n_eval, .dir = checkpoints_dir, .last_ckpt_step = -1,
        .corpus = corpus, .order_epoch = -1, .full_eval_s = -1.0,
    };
    surgery_run *r = &run;
    r->st.best_ppl = NAN;
    snprintf(r->st.prefix, sizeof r->st.prefix, "%s", p->ckpt_prefix);
    r->mb_per_epoch = hs_surgery_micro_batches_per_epoch(corpus->n_chunks, p->batch_size);
    r->steps_per_epoch = hs_surgery_steps_per_epoch(corpus->n_chunks, p->batch_size,
                                                    p->grad_accum);
    r->total = hs_surgery_total_steps(p->epochs, r->steps_per_epoch, p->max_steps);
    out->total_steps = r->total;
    out->steps_per_epoch = r->steps_per_epoch;
    r->sched = (hs_lr_schedule){
        .peak_lr = p->lr,
        .warmup = p->warmup_steps >= 0 ? p->warmup_steps : hs_surgery_default_warmup(r->total),
        .total = r->total,
    };
    int rc = prepare_run(r, resume, out, err, errlen);
    if (rc == 0) {
        run_logf(r, "training: %d chunks of %d tokens, %lld micro-batches and %lld optimizer "
                    "steps per epoch, %lld steps in all, warm-up %lld",
                 corpus->n_chunks, corpus->chunk_len, (long long)r->mb_per_epoch,
                 (long long)r->steps_per_epoch, (long long)r->total, (long long)r->sched.warmup);
        r->t_start = now_s();
        r->first_step = r->st.step;
        bool stop = false;
        /* A crash may have come between the checkpoint and its step's evaluation: redo it
         * (its curve points replace any stored before). */
        if (out->resumed)
            rc = step_evaluation(r, &stop, err, errlen);
        while (rc == 0 && r->st.step < r->total && !r->st.early_stopped && !stop)
            rc = train_one_step(r, &stop, err, errlen);
        if (rc == 0)
            rc = finish_run(r, stop, out, err, errlen);
    }
    if (r->have_ckpt_eval)
        hs_diagnosis_free(&r->ckpt_eval_diag);
    hs_surgery_optimizer_free(r->opt);
    hs_model_trainer_free(r->tr);
    hs_surgery_state_free(&r->st);
    free(r->ids);
    free(r->order);
    return rc;
}
