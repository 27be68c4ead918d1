/* Forward pieces shared by every form of the model graph (model_graph.h): the embedding and
 * its optional layernorm, the one pre-LN transformer block forward that inference and training
 * both run (docs/model-families.md "BLOOM block"; MPT's block has the same shape without
 * biases), token checks and op-failure messages. Holds no buffers of its own. */
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
    if (!m->p.wte_ln_w) {
        if (m->be->embedding(m->bctx, x, ids, hs_model_wte(m), N, C) != 0)
            return hs_model_op_error(m, -1, "embedding", err, errlen);
        return 0;
    }
    if (m->be->embedding(m->bctx, gather, ids, hs_model_wte(m), N, C) != 0)
        return hs_model_op_error(m, -1, "embedding", err, errlen);
    if (m->be->layernorm(m->bctx, x, NULL, NULL, gather, m->p.wte_ln_w, m->p.wte_ln_b, N, C,
                         eps) != 0)
        return hs_model_op_error(m, -1, "embedding layernorm", err, errlen);
    return 0;
}

int hs_model_block_forward(hs_model *m, int layer, const float *x_in, float *x_out,
                           const hs_block_buffers *buf, int B, int T, float *stats,
                           bool attention_only, char *err, size_t errlen)
{
    const hs_backend *be = m->be;
    hs_backend_ctx *ctx = m->bctx;
    const hs_layer_params *lp = hs_model_layer(m, layer, err, errlen);
    if (!lp)
        return -1;
    const hs_model_config *c = &m->cfg;
    const int C = c->hidden_size, F = c->mlp_hidden, N = B * T;
    const size_t NC = (size_t)N * (size_t)C;
    const float eps = (float)c->layer_norm_epsilon;

    if (be->layernorm(ctx, buf->ln1, buf->ln1_mean, buf->ln1_rstd, x_in, lp->ln1_w, lp->ln1_b,
                      N, C, eps) != 0)
        return hs_model_op_error(m, layer, "attention layernorm", err, errlen);
    if (hs_model_linear(m, buf->qkv, buf->ln1, lp->qkv_w, lp->qkv_b, N, 3 * C, C) != 0)
        return hs_model_op_error(m, layer, "QKV projection", err, errlen);
    if (buf->kv) {
        if (be->attention_decode(ctx, buf->attn, buf->kv->k, buf->kv->v, buf->qkv, buf->kv->past,
                                 m->slopes, B, T, c->n_head, c->head_dim, buf->kv->t_max) != 0)
            return hs_model_op_error(m, layer, "KV-cached attention", err, errlen);
    } else if (be->attention(ctx, buf->attn, buf->probs, stats, buf->qkv, m->slopes, B, T,
                             c->n_head, c->head_dim) != 0) {
        return hs_model_op_error(m, layer, "attention", err, errlen);
    }
    if (attention_only)
        return 0;
    if (hs_model_linear(m, buf->proj, buf->attn, lp->dense_w, lp->dense_b, N, C, C) != 0)
        return hs_model_op_error(m, layer, "attention output projection", err, errlen);
    if (be->add(ctx, buf->x1, x_in, buf->proj, NC) != 0)
        return hs_model_op_error(m, layer, "attention residual", err, errlen);
    if (be->layernorm(ctx, buf->ln2, buf->ln2_mean, buf->ln2_rstd, buf->x1, lp->ln2_w, lp->ln2_b,
                      N, C, eps) != 0)
        return hs_model_op_error(m, layer, "MLP layernorm", err, errlen);
    if (hs_model_linear(m, buf->fc_pre, buf->ln2, lp->fc_w, lp->fc_b, N, F, C) != 0)
        return hs_model_op_error(m, layer, "MLP up projection", err, errlen);
    if (be->gelu(ctx, buf->fc_act, buf->fc_pre, (size_t)N * (size_t)F, c->family->gelu) != 0)
        return hs_model_op_error(m, layer, "gelu", err, errlen);
    if (hs_model_linear(m, buf->proj, buf->fc_act, lp->proj_w, lp->proj_b, N, C, F) != 0)
        return hs_model_op_error(m, layer, "MLP down projection", err, errlen);
    if (be->add(ctx, x_out, buf->x1, buf->proj, NC) != 0)
        return hs_model_op_error(m, layer, "MLP residual", err, errlen);
    return 0;
}
