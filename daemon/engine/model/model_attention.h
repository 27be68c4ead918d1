/* Attention matrices of chosen heads for inspection: one forward of one sequence up to the
 * highest chosen layer, the attention op writing its post-softmax probabilities where a chosen
 * head lives, each chosen head's causal [T, T] matrix downloaded (rows above the diagonal 0). */
#ifndef HS_MODEL_ATTENTION_H
#define HS_MODEL_ATTENTION_H
#include "model.h"
#include "model_train.h"

/* maps (host [n, T, T]) = the attention probabilities of heads[k] over ids[T], in the order
 * given. Heads must lie inside the model (the error names the first that does not). */
int hs_model_attention_maps(hs_model *m, const int32_t *ids, int T, const hs_head_target *heads,
                            int n, float *maps, char *err, size_t errlen);

#endif
