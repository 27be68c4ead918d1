/* Private to the BLOOM graph (bloom_*.c): the pieces of the forward pass shared by the
 * inference forms (model_forward.c) and the masked trainer (model_train.c) — token checks,
 * the embedding with its layernorm, one inference block — and the op-failure message. */
#ifndef HS_MODEL_GRAPH_H
#define HS_MODEL_GRAPH_H
#include "model.h"

/* Scratch of one inference block over N rows (backend memory). */
typedef struct hs_model_block_scratch {
    float *ln;   /* [N, C] */
    float *qkv;  /* [N, 3C] */
    float *attn; /* [N, C] */
    float *proj; /* [N, C] */
    float *fc;   /* [N, 4C] */
} hs_model_block_scratch;

/* Formats "model M: layer l: what failed: <backend reason>" (layer < 0: no layer) into err;
 * returns -1. */
int hs_model_op_error(const hs_model *m, int layer, const char *what, char *err,
                      size_t errlen);

/* Every id in [0, vocab_size); the error names the position. */
int hs_model_check_ids(const hs_model *m, const int32_t *ids, size_t n, char *err,
                       size_t errlen);

/* x[N, C] = word_embeddings_layernorm(wte[ids]); gather is scratch [N, C]. ids is backend
 * memory. */
int hs_model_embed(hs_model *m, float *x, float *gather, const int32_t *ids, int N,
                   char *err, size_t errlen);

/* The attention half of block `layer` up to the attention output: s->ln = input_layernorm(x),
 * s->qkv, s->attn; stats [B, H, HS_STAT_COUNT] receives the attention statistics when not
 * NULL. x is not changed. */
int hs_model_block_attention(hs_model *m, int layer, const float *x,
                             const hs_model_block_scratch *s, int B, int T, float *stats,
                             char *err, size_t errlen);

/* x[B·T, C] = block_layer(x) in place, no activations kept; stats [B, H, HS_STAT_COUNT]
 * receives the attention statistics when not NULL. */
int hs_model_block_infer(hs_model *m, int layer, float *x, const hs_model_block_scratch *s,
                         int B, int T, float *stats, char *err, size_t errlen);

/* y[N, out] = x[N, in]·Wᵀ + b (nn.Linear; W [out, in]). */
int hs_model_linear(hs_model *m, float *y, const float *x, const float *w, const float *b,
                    int N, int out, int in);

#endif
