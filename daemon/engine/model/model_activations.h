/* Private to the model graph (model_*.c): the activation buffers of the inference forward
 * pass (hs_model_head_stats / _sequence_nll / _logits), one backend allocation per class
 * sized from a table for the sequence length, reused between calls while large enough. */
#ifndef HS_MODEL_ACTIVATIONS_H
#define HS_MODEL_ACTIVATIONS_H
#include "model_arena.h"
#include "model.h"

/* N = B·T rows; C hidden, H heads, L layers, V vocabulary. */
typedef struct hs_model_fwd_acts {
    hs_model_arena act_arena;    /* class "forward activations": the float rows below */
    hs_model_arena token_arena;  /* class "token ids": ids, targets */
    hs_model_arena logit_arena;  /* class "logits": only hs_model_logits lays it out */
    int N;                       /* rows of the current layout */
    float *x;        /* [N, C]  residual stream, updated in place block after block */
    float *ln;       /* [N, C]  a layernorm's output (first the embedding gather) */
    float *qkv;      /* [N, 3C] fused query_key_value output, rows [head][q|k|v][d] */
    float *attn;     /* [N, C]  attention output, heads merged head-major */
    float *proj;     /* [N, C]  a projection's output before it is added to the residual */
    float *fc;       /* [N, F]  MLP hidden, GELU applied in place */
    float *stats;    /* [L, H, HS_STAT_COUNT] per layer (B = 1): layer l at stats + l·H·3 */
    float *nll;      /* [N]     per-row NLL of the LM head */
    int32_t *ids;     /* [N]    token ids */
    int32_t *targets; /* [N]    ids shifted left by one, −1 on the last row */
    float *logits;   /* [N, V]  only after hs_model_fwd_acts_logits() */
} hs_model_fwd_acts;

/* m->fwd laid out for N rows (allocated on first use, grown when N exceeds it). */
int hs_model_fwd_acts_prepare(hs_model *m, int N, char *err, size_t errlen);
/* m->fwd->logits laid out for N rows. */
int hs_model_fwd_acts_logits(hs_model *m, int N, char *err, size_t errlen);
/* Releases m->fwd (safe when NULL). */
void hs_model_fwd_acts_free(hs_model *m);

#endif
