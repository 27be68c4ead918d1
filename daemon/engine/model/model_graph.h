/* Private to the model graph (model_*.c): the pieces of the forward pass shared by the
 * inference forms (model_forward.c) and the masked trainer (model_train.c) — token checks, the
 * embedding with its optional layernorm, and THE transformer block forward both run — and the
 * op-failure message. */
#ifndef HS_MODEL_GRAPH_H
#define HS_MODEL_GRAPH_H
#include "model.h"

/* The buffers one block forward writes, all backend memory over N = B·T rows. Inference
 * passes scratch and lets buffers alias (x1 = x_out = x_in, fc_act = fc_pre); the trainer
 * passes the activations it keeps for the backward pass. mean/rstd and probs may be NULL. */
/* One layer's view of a KV cache (model_decode.c): when a block forward gets one, its
 * attention is the attention_decode op over the cached positions instead of attention(). */
typedef struct hs_block_kv {
    float *k, *v;        /* [B, H, t_max, d] backend memory, this layer's caches */
    const int32_t *past; /* host [B]: positions already cached per sequence */
    int t_max;
} hs_block_kv;

typedef struct hs_block_buffers {
    float *ln1;                 /* [N, C]  attention layernorm output */
    float *ln1_mean, *ln1_rstd; /* [N] */
    float *qkv;                 /* [N, 3C] fused QKV, rows [head][q|k|v][d] */
    float *probs;               /* [B, H, T, T] softmax, kept for the backward, or NULL */
    float *attn;                /* [N, C]  attention output, heads merged */
    float *proj;                /* [N, C]  a projection's output before its residual add */
    float *x1;                  /* [N, C]  residual after attention */
    float *ln2;                 /* [N, C]  MLP layernorm output */
    float *ln2_mean, *ln2_rstd; /* [N] */
    float *fc_pre;              /* [N, F]  MLP up projection before GELU */
    float *fc_act;              /* [N, F]  after GELU (may equal fc_pre) */
    const hs_block_kv *kv;      /* NULL, or the layer's KV cache (no probs, no stats then) */
} hs_block_buffers;

/* Formats "model M: layer l: what failed: <backend reason>" (layer < 0: no layer) into err;
 * returns -1. */
int hs_model_op_error(const hs_model *m, int layer, const char *what, char *err,
                      size_t errlen);

/* Every id in [0, vocab_size); the error names the position. */
int hs_model_check_ids(const hs_model *m, const int32_t *ids, size_t n, char *err,
                       size_t errlen);

/* x[N, C] = the token embeddings of ids, through the family's embedding layernorm when it has
 * one; gather is scratch [N, C]. ids is backend memory. */
int hs_model_embed(hs_model *m, float *x, float *gather, const int32_t *ids, int N,
                   char *err, size_t errlen);

/* Block `layer` over x_in[B·T, C] into x_out (which may equal x_in): attention layernorm,
 * QKV, ALiBi attention (per-head statistics into stats [B, H, HS_STAT_COUNT] when not NULL),
 * output projection and residual, MLP layernorm, up projection, the family's GELU, down
 * projection and residual. With attention_only the block stops after the attention output
 * (buf->attn), for callers that want only the statistics; x_out is then not written. */
int hs_model_block_forward(hs_model *m, int layer, const float *x_in, float *x_out,
                           const hs_block_buffers *buf, int B, int T, float *stats,
                           bool attention_only, char *err, size_t errlen);

/* y[N, out] = x[N, in]·Wᵀ + b (nn.Linear; W [out, in]; b may be NULL). */
int hs_model_linear(hs_model *m, float *y, const float *x, const float *w, const float *b,
                    int N, int out, int in);

#endif
