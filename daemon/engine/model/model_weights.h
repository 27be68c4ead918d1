/* Private to daemon/engine/model/: the pieces of weight placement that the loader (model.c)
 * and the per-layer widening (model_weights.c) share. */
#ifndef HS_MODEL_WEIGHTS_H
#define HS_MODEL_WEIGHTS_H
#include "model.h"

/* Where the pointer of a per-layer slot lives in lp (NULL for a global slot). */
float **hs_model_layer_slot(hs_layer_params *lp, hs_tensor_slot slot);
/* True for the tensors whose rows the family stores in another order than the engine. */
bool hs_model_needs_row_permutation(const hs_model *m, const hs_tensor_ref *r);
/* dst[engine row] = src[file row] for the fused QKV rows of one tensor (fp32, host memory). */
void hs_model_permute_qkv_rows(const hs_model *m, const hs_tensor_ref *r, const float *src,
                               float *dst);

/* With keep_widened: the token embeddings made resident fp32 (their mapped pages released)
 * before the LM head first reads them (the embedding lookup reads its few rows from the
 * mapping: a diagnosis never widens the table); a no-op otherwise. */
int hs_model_prepare_embeddings(hs_model *m, char *err, size_t errlen);

#endif
