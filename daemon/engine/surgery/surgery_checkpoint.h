/* Surgery checkpoints: HF directories <checkpoints_dir>/<name>/ holding config.json,
 * model.safetensors (HF names, no `transformer.` prefix, no lm_head, in the model's source
 * dtype) and the source's tokenizer files, plus — in files transformers ignores — the state
 * a requeued job resumes from:
 *   surgery_state.safetensors  fp32 masters of every trainable slice and AdamW's m and v
 *                              ("h.<l>.head.<h>.<part>", "....<part>.exp_avg", ".exp_avg_sq")
 *   surgery_state.json         step, data position, seed, best perplexity, patience counter,
 *                              the checkpoints so far and the start BOS masses.
 * A checkpoint is written into a temporary sibling directory (.tmp-<name>-<pid>), every file
 * fsynced, then renamed into place and the parent fsynced: a directory with a plain name is
 * always complete. */
#ifndef HS_SURGERY_CHECKPOINT_H
#define HS_SURGERY_CHECKPOINT_H
#include "engine/model/model.h"
#include "engine/model/model_train.h"
#include "surgery_optimizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_SURGERY_STATE_JSON "surgery_state.json"
#define HS_SURGERY_STATE_TENSORS "surgery_state.safetensors"

/* One checkpoint as reported in the result and stored by the runner. */
typedef struct hs_surgery_ckpt_entry {
    char name[64];
    char path[4096];
    int epoch;      /* completed epochs */
    int64_t step;   /* optimizer steps done */
    double ppl;     /* NAN when not evaluated */
    int woken;      /* -1 when not evaluated */
    int drift;      /* -1 when not evaluated */
    bool best;
} hs_surgery_ckpt_entry;

/* Everything besides tensors that a resumed run needs. */
typedef struct hs_surgery_state {
    char prefix[16];          /* checkpoint-name prefix of this training pass ("", "pass2-") */
    int64_t step;             /* optimizer steps done */
    int epoch;                /* epoch of the next micro-batch (0-based) */
    int64_t micro_batch;      /* next micro-batch within that epoch */
    uint64_t seed;
    bool shuffle;
    double best_ppl;          /* NAN when none yet */
    int patience_count;       /* checkpoints since the last improvement */
    bool early_stopped;
    int n_layer, n_head;
    double *start_bos;        /* [n_layer·n_head] BOS mass before surgery, or NULL */
    hs_head_target *targets;  /* [n_targets] */
    int n_targets;
    hs_surgery_ckpt_entry *ckpts; /* [n_ckpts], this checkpoint last */
    int n_ckpts;
} hs_surgery_state;

void hs_surgery_state_free(hs_surgery_state *st); /* frees the arrays, not st */

/* Writes checkpoint `name` of the model's current parameters with the optimizer state and
 * `st`; full_path receives <checkpoints_dir>/<name>. An existing checkpoint of that name is
 * replaced. */
int hs_surgery_checkpoint_write(const char *checkpoints_dir, const char *name,
                                const hs_model *m, const hs_head_slices *slices,
                                int n_slices, hs_surgery_optimizer *opt,
                                const hs_surgery_state *st, char *err, size_t errlen);

/* Removes leftovers of interrupted writes (.tmp-* and .old-* directories). */
int hs_surgery_checkpoint_cleanup(const char *checkpoints_dir, char *err, size_t errlen);
/* The complete checkpoint of the pass with this prefix that has the most optimizer steps: 1
 * and its directory in path, 0 when there is none (or no checkpoints_dir), -1 on error. */
int hs_surgery_checkpoint_latest(const char *checkpoints_dir, const char *prefix, char *path,
                                 size_t pathlen, char *err, size_t errlen);
/* Reads surgery_state.json of a checkpoint directory (st is overwritten; free with
 * hs_surgery_state_free). */
int hs_surgery_checkpoint_read_state(const char *ckpt_dir, hs_surgery_state *st, char *err,
                                     size_t errlen);
/* Puts the checkpoint's fp32 slices into the model and its AdamW moments and step count into
 * the optimizer. The slices must be the same targets in the same order. */
int hs_surgery_checkpoint_restore(const char *ckpt_dir, const hs_head_slices *slices,
                                  int n_slices, int hidden, int head_dim,
                                  hs_surgery_optimizer *opt, int64_t steps, const hs_backend *be,
                                  hs_backend_ctx *bctx, char *err, size_t errlen);

#endif
