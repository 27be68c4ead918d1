/* The surgery's optimizer over the trainable slices only (docs/architecture.md "Training semantics"):
 * torch's clip_grad_norm_ over every slice gradient, and torch's AdamW with compact state per
 * slice (m, v for the [3d, C] QKV rows, the [3d] bias rows and the [C, d] dense columns). The
 * dense columns are strided inside dense.weight: they are gathered with copy_2d into a compact
 * fp32 buffer, updated, and scattered back. All tensors live in backend memory. */
#ifndef HS_SURGERY_OPTIMIZER_H
#define HS_SURGERY_OPTIMIZER_H
#include "engine/model/model_train.h"
#include "ops.h"
#include <stddef.h>
#include <stdint.h>

typedef struct hs_adamw_config {
    double beta1, beta2, eps, weight_decay;
} hs_adamw_config;

typedef struct hs_surgery_optimizer hs_surgery_optimizer;

/* Floats of one slice's state tensor per part: qkv_w 3d·C, qkv_b 3d, dense C·d. */
typedef enum { HS_SLICE_QKV_W, HS_SLICE_QKV_B, HS_SLICE_DENSE, HS_SLICE_PARTS } hs_slice_part;

/* Whether slice s has this part: the QKV bias exists only in families with biases. */
bool hs_slice_has_part(const hs_head_slices *s, hs_slice_part part);
size_t hs_slice_part_numel(hs_slice_part part, int hidden, int head_dim);
const char *hs_slice_part_name(hs_slice_part part); /* "qkv_w", "qkv_b", "dense_w" */

/* The slices stay owned by the trainer and must outlive the optimizer. */
hs_surgery_optimizer *hs_surgery_optimizer_new(const hs_backend *be, hs_backend_ctx *bctx,
                                               hs_head_slices *slices, int n_slices, int hidden,
                                               int head_dim, const hs_adamw_config *cfg,
                                               char *err, size_t errlen);
void hs_surgery_optimizer_free(hs_surgery_optimizer *opt);

/* L2 norm over every slice gradient (sum of squares accumulated in double). */
int hs_surgery_grad_norm(hs_surgery_optimizer *opt, double *norm, char *err, size_t errlen);
/* clip_grad_norm_: *pre_clip_norm = the norm; gradients scaled by
 * min(1, max_norm / (norm + 1e-6)). */
int hs_surgery_clip_grads(hs_surgery_optimizer *opt, double max_norm, double *pre_clip_norm,
                          char *err, size_t errlen);
/* One AdamW step at learning rate lr over every slice (the step counter advances first). */
int hs_surgery_optimizer_step(hs_surgery_optimizer *opt, double lr, char *err, size_t errlen);
int64_t hs_surgery_optimizer_steps(const hs_surgery_optimizer *opt);

/* State access for checkpoints: the backend pointers of slice i's m or v for a part
 * (compact, hs_slice_part_numel floats), and the step counter. */
float *hs_surgery_optimizer_moment(hs_surgery_optimizer *opt, int slice, hs_slice_part part,
                                   int second);
void hs_surgery_optimizer_set_steps(hs_surgery_optimizer *opt, int64_t steps);

/* Copies slice i's parameters of `part` to/from a compact host buffer (the dense columns are
 * gathered/scattered); used by checkpoints to keep fp32 masters. */
int hs_surgery_slice_download(const hs_backend *be, hs_backend_ctx *bctx,
                              const hs_head_slices *s, hs_slice_part part, int hidden,
                              int head_dim, float *host, char *err, size_t errlen);
int hs_surgery_slice_upload(const hs_backend *be, hs_backend_ctx *bctx, const hs_head_slices *s,
                            hs_slice_part part, int hidden, int head_dim, const float *host,
                            char *err, size_t errlen);

#endif
