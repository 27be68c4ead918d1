/* KV cache and cached forward of generation (model_decode.h): the cache is one "KV cache"
 * allocation [L][B][H][t_max][d] for keys and one for values; a call runs the family's block
 * (model_block.c) with the layer's cache view, so attention is the attention_decode op, then
 * the final layernorm and the tied LM head on each sequence's last new row only. */
#include "model_decode.h"
#include "model_arena.h"
#include "model_graph.h"
#include "model_weights.h"
#include "common/errors.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hs_kv_cache {
    int B, t_max, max_rows;
    size_t layer_floats;   /* B·H·t_max·d: one layer's keys (or values) */
    int32_t *len;          /* host [B] */
    hs_model_arena cache_arena, act_arena, token_arena;
    float *k, *v;          /* [L, B, H, t_max, d] */
    float *x, *ln, *qkv, *attn, *proj, *fc; /* [max_rows, ·] as in model_activations.h */
    float *last, *last_ln; /* [B, C] each sequence's last new row, and ln_f of it */
    float *logits;         /* [B, V] */
    int32_t *ids;          /* [max_rows] */
};

/* a·b saturating at SIZE_MAX */
static size_t mul_sat(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

size_t hs_kv_cache_bytes(const hs_model_config *c, int B, int t_max, int max_rows)
{
    const size_t F4 = sizeof(float);
    size_t layer = mul_sat(mul_sat(mul_sat((size_t)B, (size_t)c->n_head), (size_t)t_max),
                           (size_t)c->head_dim);
    size_t cache = mul_sat(mul_sat(layer, 2 * (size_t)c->n_layer), F4);
    size_t per_row = (7 * (size_t)c->hidden_size + (size_t)c->mlp_hidden) * F4 + sizeof(int32_t);
    size_t rows = mul_sat((size_t)max_rows, per_row);
    size_t per_seq = (2 * (size_t)c->hidden_size + (size_t)c->vocab_size) * F4;
    return add_sat(add_sat(cache, rows), mul_sat((size_t)B, per_seq));
}

void hs_kv_cache_free(hs_kv_cache *c)
{
    if (!c)
        return;
    hs_model_arena_release(&c->cache_arena);
    hs_model_arena_release(&c->act_arena);
    hs_model_arena_release(&c->token_arena);
    free(c->len);
    free(c);
}

int hs_kv_cache_length(const hs_kv_cache *c, int b)
{
    return c->len[b];
}

int hs_kv_cache_create(hs_model *m, int B, int t_max, int max_rows, hs_kv_cache **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (B < 1 || t_max < 1 || max_rows < 1)
        return hs_errf(err, errlen, "KV cache: bad shape B=%d t_max=%d rows=%d", B, t_max,
                       max_rows);
    hs_kv_cache *c = calloc(1, sizeof *c);
    if (c)
        c->len = calloc((size_t)B, sizeof *c->len);
    if (!c || !c->len) {
        free(c);
        return hs_errf(err, errlen, "KV cache: out of host memory");
    }
    const hs_model_config *cfg = &m->cfg;
    hs_model_arena init = {.be = m->be, .bctx = m->bctx};
    c->cache_arena = c->act_arena = c->token_arena = init;
    c->B = B, c->t_max = t_max, c->max_rows = max_rows;
    c->layer_floats = (size_t)B * cfg->n_head * (size_t)t_max * cfg->head_dim;
    const size_t F4 = sizeof(float), L = (size_t)cfg->n_layer, C = (size_t)cfg->hidden_size;
    const size_t R = (size_t)max_rows;
    const hs_model_arena_row cache_rows[] = {
        {(void **)&c->k, L * c->layer_floats * F4}, {(void **)&c->v, L * c->layer_floats * F4}};
    const hs_model_arena_row act_rows[] = {
        {(void **)&c->x, R * C * F4},    {(void **)&c->ln, R * C * F4},
        {(void **)&c->qkv, R * 3 * C * F4}, {(void **)&c->attn, R * C * F4},
        {(void **)&c->proj, R * C * F4}, {(void **)&c->fc, R * (size_t)cfg->mlp_hidden * F4},
        {(void **)&c->last, (size_t)B * C * F4}, {(void **)&c->last_ln, (size_t)B * C * F4},
        {(void **)&c->logits, (size_t)B * (size_t)cfg->vocab_size * F4}};
    const hs_model_arena_row token_rows[] = {{(void **)&c->ids, R * sizeof(int32_t)}};
    if (hs_model_arena_layout(&c->cache_arena, cache_rows, 2, "KV cache", err, errlen) != 0 ||
        hs_model_arena_layout(&c->act_arena, act_rows, sizeof act_rows / sizeof act_rows[0],
                              "decode activations", err, errlen) != 0 ||
        hs_model_arena_layout(&c->token_arena, token_rows, 1, "decode token ids", err,
                              errlen) != 0) {
        hs_kv_cache_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int check_decode_call(const hs_model *m, const hs_kv_cache *c, int b0, int nb,
                             const int32_t *ids, int T_new, char *err, size_t errlen)
{
    if (b0 < 0 || nb < 1 || b0 + nb > c->B || T_new < 1)
        return hs_errf(err, errlen, "decode: sequences %d..%d of %d with %d new tokens", b0,
                       b0 + nb - 1, c->B, T_new);
    if ((long long)nb * T_new > c->max_rows)
        return hs_errf(err, errlen, "decode: %d × %d rows exceed the %d the cache was sized for",
                       nb, T_new, c->max_rows);
    for (int b = b0; b < b0 + nb; b++)
        if ((long long)c->len[b] + T_new > c->t_max)
            return hs_errf(err, errlen, "decode: sequence %d: %d cached + %d new positions "
                           "exceed the cache of %d", b, c->len[b], T_new, c->t_max);
    return hs_model_check_ids(m, ids, (size_t)nb * T_new, err, errlen);
}

/* logits[nb, V] (host) = ln_f of each sequence's last new row · wteᵀ. */
static int last_rows_logits(hs_model *m, hs_kv_cache *c, int nb, int T_new, float *logits,
                            char *err, size_t errlen)
{
    const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    if (m->be->copy_2d(m->bctx, c->last, C, c->x + (size_t)(T_new - 1) * C, T_new * C, nb, C) != 0)
        return hs_model_op_error(m, -1, "gathering the last rows", err, errlen);
    if (m->be->layernorm(m->bctx, c->last_ln, NULL, NULL, c->last, m->p.lnf_w, m->p.lnf_b, nb, C,
                         (float)m->cfg.layer_norm_epsilon) != 0)
        return hs_model_op_error(m, -1, "final layernorm", err, errlen);
    if (hs_model_prepare_embeddings(m, err, errlen) != 0)
        return -1;
    if (m->be->lm_head_logits(m->bctx, c->logits, c->last_ln, hs_model_wte(m), nb, C, V) != 0)
        return hs_model_op_error(m, -1, "LM head", err, errlen);
    if (m->be->download(m->bctx, logits, c->logits, (size_t)nb * V * sizeof(float)) != 0)
        return hs_model_op_error(m, -1, "downloading logits", err, errlen);
    return 0;
}

int hs_model_decode(hs_model *m, hs_kv_cache *c, int b0, int nb, const int32_t *ids,
                    int T_new, float *logits, char *err, size_t errlen)
{
    if (check_decode_call(m, c, b0, nb, ids, T_new, err, errlen) != 0)
        return -1;
    const int N = nb * T_new;
    if (m->be->upload(m->bctx, c->ids, ids, (size_t)N * sizeof(int32_t)) != 0)
        return hs_model_op_error(m, -1, "uploading token ids", err, errlen);
    if (hs_model_embed(m, c->x, c->ln, c->ids, N, err, errlen) != 0)
        return -1;
    const size_t seq_floats = c->layer_floats / (size_t)c->B;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        size_t off = (size_t)l * c->layer_floats + (size_t)b0 * seq_floats;
        const hs_block_kv kv = {.k = c->k + off, .v = c->v + off, .past = c->len + b0,
                                .t_max = c->t_max};
        const hs_block_buffers buf = {.ln1 = c->ln, .qkv = c->qkv, .attn = c->attn,
                                      .proj = c->proj, .x1 = c->x, .ln2 = c->ln,
                                      .fc_pre = c->fc, .fc_act = c->fc, .kv = &kv};
        if (hs_model_block_forward(m, l, c->x, c->x, &buf, nb, T_new, NULL, false, err,
                                   errlen) != 0)
            return -1;
    }
    if (last_rows_logits(m, c, nb, T_new, logits, err, errlen) != 0)
        return -1;
    for (int b = b0; b < b0 + nb; b++)
        c->len[b] += T_new;
    return 0;
}
