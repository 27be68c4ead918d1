/* Forward pieces shared by every form of the BLOOM graph (model_graph.h): the embedding and
 * its layernorm, one pre-LN block run for inference (HF's BloomBlock, docs/model-families.md "BLOOM block"), token
 * checks and op-failure messages. Holds no buffers of its own. */
#include "model_graph.h"
#include "common/errors.h"

int hs_model_op_error(const hs_model *m, int layer, const char *what, char *err,
                      size_t errlen)
{
    if (layer >= 0)
        return hs_errf(err, errlen, "model %s: layer %d: %s failed: %s", m->path, layer, what,
                       m->be->last_error(m->bctx));
    return hs_errf(err, errlen, "model %s: %s failed: %s", m->path, what,
                   m->be->last_error(m->bctx));
}

int hs_model_check_ids(const hs_model *m, const int32_t *ids, size_t n, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return hs_errf(err, errlen,
                           "token id %d at position %zu is outside the vocabulary of %s (%d)",
                           (int)ids[i], i, m->path, m->cfg.vocab_size);
    return 0;
}

int hs_model_linear(hs_model *m, float *y, const float *x, const float *w, const float *b,
                    int N, int out, int in)
{
    return m->be->matmul(m->bctx, y, x, w, b, N, out, in, false, true, in, in, out, 1.0f, 0.0f);
}

int hs_model_embed(hs_model *m, float *x, float *gather, const int32_t *ids, int N,
                   char *err, size_t errlen)
{
    const int C = m->cfg.hidden_size;
    const float eps = (float)m->cfg.layer_norm_epsilon;
    if (m->be->embedding(m->bctx, gather, ids, m->p.wte, N, C) != 0)
        return hs_model_op_error(m, -1, "embedding", err, errlen);
    if (m->be->layernorm(m->bctx, x, NULL, NULL, gather, m->p.wte_ln_w, m->p.wte_ln_b, N, C,
                         eps) != 0)
        return hs_model_op_error(m, -1, "word_embeddings_layernorm", err, errlen);
    return 0;
}

int hs_model_block_attention(hs_model *m, int layer, const float *x,
                             const hs_model_block_scratch *s, int B, int T, float *stats,
                             char *err, size_t errlen)
{
    const hs_backend *be = m->be;
    hs_backend_ctx *ctx = m->bctx;
    const hs_layer_params *lp = &m->p.layers[layer];
    const int C = m->cfg.hidden_size, H = m->cfg.n_head, d = m->cfg.head_dim, N = B * T;
    const float eps = (float)m->cfg.layer_norm_epsilon;

    if (be->layernorm(ctx, s->ln, NULL, NULL, x, lp->ln1_w, lp->ln1_b, N, C, eps) != 0)
        return hs_model_op_error(m, layer, "input_layernorm", err, errlen);
    if (hs_model_linear(m, s->qkv, s->ln, lp->qkv_w, lp->qkv_b, N, 3 * C, C) != 0)
        return hs_model_op_error(m, layer, "query_key_value", err, errlen);
    if (be->attention(ctx, s->attn, NULL, stats, s->qkv, m->slopes, B, T, H, d) != 0)
        return hs_model_op_error(m, layer, "attention", err, errlen);
    return 0;
}

int hs_model_block_infer(hs_model *m, int layer, float *x, const hs_model_block_scratch *s,
                         int B, int T, float *stats, char *err, size_t errlen)
{
    const hs_backend *be = m->be;
    hs_backend_ctx *ctx = m->bctx;
    const hs_layer_params *lp = &m->p.layers[layer];
    const int C = m->cfg.hidden_size, N = B * T;
    const size_t NC = (size_t)N * (size_t)C;
    const float eps = (float)m->cfg.layer_norm_epsilon;

    if (hs_model_block_attention(m, layer, x, s, B, T, stats, err, errlen) != 0)
        return -1;
    if (hs_model_linear(m, s->proj, s->attn, lp->dense_w, lp->dense_b, N, C, C) != 0)
        return hs_model_op_error(m, layer, "self_attention.dense", err, errlen);
    if (be->add(ctx, x, x, s->proj, NC) != 0)
        return hs_model_op_error(m, layer, "attention residual", err, errlen);
    if (be->layernorm(ctx, s->ln, NULL, NULL, x, lp->ln2_w, lp->ln2_b, N, C, eps) != 0)
        return hs_model_op_error(m, layer, "post_attention_layernorm", err, errlen);
    if (hs_model_linear(m, s->fc, s->ln, lp->fc_w, lp->fc_b, N, 4 * C, C) != 0)
        return hs_model_op_error(m, layer, "mlp.dense_h_to_4h", err, errlen);
    if (be->gelu(ctx, s->fc, s->fc, (size_t)N * 4 * (size_t)C) != 0)
        return hs_model_op_error(m, layer, "gelu", err, errlen);
    if (hs_model_linear(m, s->proj, s->fc, lp->proj_w, lp->proj_b, N, C, 4 * C) != 0)
        return hs_model_op_error(m, layer, "mlp.dense_4h_to_h", err, errlen);
    if (be->add(ctx, x, x, s->proj, NC) != 0)
        return hs_model_op_error(m, layer, "mlp residual", err, errlen);
    return 0;
}
