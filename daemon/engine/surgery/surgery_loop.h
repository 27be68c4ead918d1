/* The surgery training loop (docs/architecture.md "Training semantics"): re-initialisation, epochs of
 * micro-batches with gradient accumulation, clipping, AdamW, the warm-up + cosine schedule,
 * `max_steps`, checkpoints every `checkpoint_every` epochs and at the end with re-diagnosis,
 * perplexity, heads woken and drift, early stopping, cancellation at optimizer-step
 * boundaries and resumption from the newest complete checkpoint. It knows nothing of jobs,
 * SQLite or HTTP: the caller observes it through hooks.
 * At a checkpoint: woken = targets classified healthy now; drift = non-target heads of the
 * layers holding targets whose BOS mass moved by more than drift_threshold since the start
 * (the model as given, before re-initialisation; kept in the checkpoint state for resumes);
 * `best` = the first checkpoint with the lowest perplexity; early stop after `patience`
 * evaluated checkpoints in a row without a strictly lower perplexity.
 * Sub-epoch trajectory: every eval_every_steps optimizer steps the perplexity, every
 * diagnose_every_steps steps the diagnosis, of the eval texts (on_step_eval); a step that also
 * has an evaluated checkpoint reuses the checkpoint's evaluation. Their cost is in the ETA. */
#ifndef HS_SURGERY_LOOP_H
#define HS_SURGERY_LOOP_H
#include "engine/model/model.h"
#include "engine/model/model_train.h"
#include "engine/diagnosis/diagnosis.h"
#include "surgery_checkpoint.h"
#include "surgery_data.h"
#include "surgery_reinit.h"
#include <stdbool.h>
#include <stdint.h>

/* Hyper-parameters; hs_surgery_params_default() gives the defaults of docs/architecture.md "Training semantics". */
typedef struct hs_surgery_params {
    hs_surgery_init init;
    double lr, beta1, beta2, eps, weight_decay, clip;
    int batch_size, grad_accum, max_length, epochs;
    int eval_stride;        /* sliding-window stride of the eval perplexity (0: max_length) */
    int64_t max_steps;     /* 0: epochs × steps per epoch */
    int64_t warmup_steps;  /* -1: min(100, total // 4) */
    bool shuffle;
    uint64_t seed;
    int checkpoint_every;  /* epochs */
    int patience;          /* checkpoints without perplexity improvement; 0 = never stop early */
    int64_t eval_every_steps;     /* step perplexity every N optimizer steps (0: off) */
    int64_t diagnose_every_steps; /* step diagnosis every N optimizer steps (0: off) */
    double drift_threshold; /* BOS-mass change that counts as drift (0.05) */
    /* Run the full micro-batches of one accumulation group as ONE batch of up to
     * batch_size·grad_accum sequences (same math: loss scale n/grad_accum over the mean of the
     * n micro-batches; only the summation order differs). Costs grad_accum× the activation
     * memory; the job turns it on for non-CPU backends. */
    bool fuse_accumulation;
    /* Heads counted as "woken" at checkpoints; NULL: the trained targets (a second pass counts
     * the first pass's targets). */
    const hs_head_target *woken_targets;
    int n_woken_targets;
    char ckpt_prefix[16];  /* prefix of this pass's checkpoint names ("" or e.g. "pass2-"); a
                            * resume only considers checkpoints of the same prefix */
} hs_surgery_params;
void hs_surgery_params_default(hs_surgery_params *p);

/* Reported after every optimizer step. */
typedef struct hs_surgery_step_report {
    int64_t step, total;  /* steps done (1-based count) and the schedule's total */
    double epoch;         /* fractional epochs done */
    double loss;          /* Σ over the step's micro-batches of mean NLL / grad_accum */
    double lr;            /* learning rate this step used */
    double grad_norm;     /* global norm before clipping */
    double elapsed_s, eta_s;
} hs_surgery_step_report;

/* A step evaluation (eval_every_steps / diagnose_every_steps) of the model after `step`. */
typedef struct hs_surgery_step_eval {
    int64_t step;               /* optimizer steps done */
    double epoch;               /* fractional epochs done */
    double ppl;                 /* eval perplexity; NAN when not due at this step */
    const hs_diagnosis *diag;   /* the diagnosis; NULL when not due at this step */
    int woken;                  /* counted targets healthy in diag; -1 without diag */
} hs_surgery_step_eval;

typedef struct hs_surgery_hooks {
    void *arg;
    /* A cooperative stop (cancel, shutdown): the run keeps its progress in a
     * "cancelled-step-N" checkpoint and returns 1. May be NULL. */
    bool (*should_stop)(void *arg);
    /* A failure outside training (e.g. the runner could not store a row): when it returns
     * true, with its reason in why, the run ends at once as failed (−1), writing nothing
     * more. May be NULL. */
    bool (*failed)(void *arg, char *why, size_t why_len);
    void (*on_step)(void *arg, const hs_surgery_step_report *r); /* may be NULL */
    /* Before training (not on resume): the model as given, before re-initialisation. */
    void (*on_start)(void *arg, const hs_diagnosis *diag, double ppl); /* may be NULL */
    /* After each checkpoint is written: all checkpoints so far (the new one last; `best`
     * flags of earlier ones may have changed), and its diagnosis (NULL when not evaluated). */
    void (*on_checkpoint)(void *arg, const hs_surgery_ckpt_entry *ckpts, int n_ckpts,
                          double epoch, const hs_diagnosis *diag); /* may be NULL */
    /* After the step evaluation of a step (see hs_surgery_step_eval). May be NULL. */
    void (*on_step_eval)(void *arg, const hs_surgery_step_eval *e);
    void (*log)(void *arg, const char *line); /* may be NULL */
} hs_surgery_hooks;

typedef struct hs_surgery_outcome {
    hs_surgery_ckpt_entry *ckpts; /* [n_ckpts] malloc'd, in the order written */
    int n_ckpts;
    int64_t steps_done, total_steps, steps_per_epoch;
    bool resumed, early_stopped, cancelled;
} hs_surgery_outcome;
void hs_surgery_outcome_free(hs_surgery_outcome *o);

/* Runs (or resumes, when `resume` and a complete checkpoint exists in checkpoints_dir) the
 * surgery of `targets` on model m (its parameters are modified in place). eval/n_eval are the
 * evaluation texts (n_eval 0: checkpoints are not evaluated).
 * Returns 0 when finished, 1 when should_stop() stopped it (a checkpoint named
 * "cancelled-step-<N>" of the current state is written first unless the last checkpoint is
 * already current), -1 on error. */
int hs_surgery_train(hs_model *m, const hs_head_target *targets, int n_targets,
                     const hs_surgery_params *p, const hs_surgery_corpus *corpus,
                     const hs_token_seq *eval, int n_eval, const char *checkpoints_dir,
                     bool resume, const hs_surgery_hooks *hooks, hs_surgery_outcome *out,
                     char *err, size_t errlen);

#endif
