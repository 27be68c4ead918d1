/* Masked training pass for surgery: the forward pass saving activations only from the lowest
 * target layer up, and a backward pass that computes only what masked training needs — no
 * backward below the lowest target layer, no weight gradient of any frozen tensor, and in a
 * target layer only the target heads' rows of the query_key_value weight/bias gradients and
 * their columns of the dense weight gradient (docs/architecture.md "Engine rules").
 * The optimizer, schedule, clipping and checkpoints are the surgery loop's (surgery_*.c). */
#ifndef HS_MODEL_TRAIN_H
#define HS_MODEL_TRAIN_H
#include "model.h"
#include <stdint.h>

typedef struct hs_head_target {
    int layer, head;
} hs_head_target;

/* The trainable slices of one target head and their gradients, all in backend memory.
 * Parameter views point INTO the model's parameters (updating them updates the model):
 *   qkv_w   [3d, C]  rows head·3d .. head·3d+3d−1 of query_key_value.weight (contiguous)
 *   qkv_b   [3d]     the same rows of query_key_value.bias
 *   dense_w [C, d]   columns head·d .. head·d+d−1 of dense.weight: row r at dense_w + r·C
 *                    (strided, leading dimension C — use copy_2d to gather/scatter)
 * Gradients are compact and owned by the trainer: g_qkv_w [3d, C], g_qkv_b [3d],
 * g_dense [C, d] (leading dimension d). */
typedef struct hs_head_slices {
    int layer, head;
    float *qkv_w, *qkv_b, *dense_w;
    float *g_qkv_w, *g_qkv_b, *g_dense;
} hs_head_slices;

typedef struct hs_model_trainer hs_model_trainer;

/* Prepares training of the given heads (any order, no duplicates; validated against the
 * config) with micro-batches of up to max_batch sequences of exactly T tokens. */
hs_model_trainer *hs_model_trainer_new(hs_model *m, const hs_head_target *targets,
                                       int n_targets, int max_batch, int T, char *err,
                                       size_t errlen);
void hs_model_trainer_free(hs_model_trainer *tr);
/* The slices, one per target, in the order given to _new (the trainer keeps ownership). */
hs_head_slices *hs_model_trainer_slices(hs_model_trainer *tr, int *n_slices);
int hs_model_trainer_zero_grad(hs_model_trainer *tr);
/* One forward + masked backward over ids (HOST int32 [B, T], B <= max_batch; each row is its
 * own labels): accumulates (+=) into the slice gradients the gradient of
 * loss_scale · (mean NLL over the B·(T−1) shifted targets). *loss receives that mean NLL
 * (unscaled). */
int hs_model_trainer_step(hs_model_trainer *tr, const int32_t *ids, int B, float loss_scale,
                          double *loss, char *err, size_t errlen);

#endif
