/* Re-initialisation of surgery targets (docs/architecture.md "Training semantics"): for each
 * target head, its [3d, C] block of the fused QKV weight (engine rows head·3d .. head·3d+3d−1:
 * its q, k and v rows whatever the family's file layout) is drawn Xavier uniform or Xavier
 * normal with torch's fan_in = C, fan_out = 3d for that block, its 3d QKV bias rows are zeroed
 * (families with a QKV bias) and its d columns of the attention output projection are zeroed. Init "none" leaves every weight
 * untouched (the gradient-only control). Draws come from the counter-based RNG of
 * surgery_rng.h, stream layer·H + head, so they depend only on (seed, layer, head). */
#ifndef HS_SURGERY_REINIT_H
#define HS_SURGERY_REINIT_H
#include "engine/model/model.h"
#include "engine/model/model_train.h"
#include <stdint.h>

typedef enum hs_surgery_init {
    HS_SURGERY_INIT_XAVIER_UNIFORM,
    HS_SURGERY_INIT_XAVIER_NORMAL,
    HS_SURGERY_INIT_NONE
} hs_surgery_init;

const char *hs_surgery_init_name(hs_surgery_init init); /* "xavier_uniform" ... */
int hs_surgery_init_from_name(const char *name, hs_surgery_init *out);

/* The host values of one head's [3d, C] block (rows·cols = 3d·C floats) as the given init
 * draws them (not for HS_SURGERY_INIT_NONE). */
void hs_surgery_draw_qkv_block(hs_surgery_init init, uint64_t seed, int layer, int head,
                               int n_head, int head_dim, int hidden, float *block);

/* Applies the init to every target in the model's parameters (backend memory). */
int hs_surgery_reinit(hs_model *m, const hs_head_target *targets, int n_targets,
                      hs_surgery_init init, uint64_t seed, char *err, size_t errlen);

#endif
