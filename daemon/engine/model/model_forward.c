/* The inference forward pass in its three forms (model_forward.h): per-head attention
 * statistics straight from the attention op (no attention matrix kept, no LM head, the last
 * block stopped after its attention), the shifted-target NLL through the chunked LM head op
 * (logits never materialised), and full logits for tests. Order: embedding → the family's
 * embedding layernorm if any → blocks → final layernorm → tied LM head (docs/model-families.md
 * "BLOOM forward"). One sequence (B = 1) per call. */
#include "model_forward.h"
#include "model_activations.h"
#include "model_graph.h"
#include "model_weights.h"
#include "common/errors.h"
#include <stdlib.h>

/* Runs embedding and every block over ids[T] into m->fwd->x; the per-layer statistics go to
 * m->fwd->stats when want_stats; with final_ln, m->fwd->ln = ln_f(x) afterwards. Without
 * final_ln only the statistics are wanted: the last block stops after its attention (m->fwd->x
 * then holds the last block's input, not its output). */
static int forward_trunk(hs_model *m, const int32_t *ids, int T, bool want_stats,
                         bool final_ln, char *err, size_t errlen)
{
    if (!ids || T < 1)
        return hs_errf(err, errlen, "model %s: a sequence needs at least one token (got %d)",
                       m->path, T);
    if (hs_model_check_ids(m, ids, (size_t)T, err, errlen) != 0)
        return -1;
    if (hs_model_fwd_acts_prepare(m, T, err, errlen) != 0)
        return -1;
    hs_model_fwd_acts *a = m->fwd;
    const int C = m->cfg.hidden_size, H = m->cfg.n_head;
    if (m->be->upload(m->bctx, a->ids, ids, (size_t)T * sizeof(int32_t)) != 0)
        return hs_model_op_error(m, -1, "uploading token ids", err, errlen);
    if (hs_model_embed(m, a->x, a->ln, a->ids, T, err, errlen) != 0)
        return -1;
    /* inference: the block runs in place on x, GELU in place on fc, no statistics kept */
    const hs_block_buffers buf = {.ln1 = a->ln, .qkv = a->qkv, .attn = a->attn,
                                  .proj = a->proj, .x1 = a->x, .ln2 = a->ln,
                                  .fc_pre = a->fc, .fc_act = a->fc};
    const int L = m->cfg.n_layer;
    for (int l = 0; l < L; l++) {
        float *stats = want_stats ? a->stats + (size_t)l * H * HS_STAT_COUNT : NULL;
        /* statistics only: nothing reads the last block's output, so its attention
         * projection and MLP are skipped */
        bool attention_only = l == L - 1 && !final_ln;
        if (hs_model_block_forward(m, l, a->x, a->x, &buf, 1, T, stats, attention_only, err,
                                   errlen) != 0)
            return -1;
    }
    if (final_ln && m->be->layernorm(m->bctx, a->ln, NULL, NULL, a->x, m->p.lnf_w, m->p.lnf_b,
                                     T, C, (float)m->cfg.layer_norm_epsilon) != 0)
        return hs_model_op_error(m, -1, "final layernorm", err, errlen);
    return 0;
}

static int download_stats(hs_model *m, double *stats, char *err, size_t errlen)
{
    const size_t n = (size_t)m->cfg.n_layer * (size_t)m->cfg.n_head * HS_STAT_COUNT;
    float *host = malloc(n * sizeof(float));
    if (!host)
        return hs_errf(err, errlen, "model %s: out of memory for head statistics", m->path);
    int rc = m->be->download(m->bctx, host, m->fwd->stats, n * sizeof(float));
    if (rc != 0) {
        free(host);
        return hs_model_op_error(m, -1, "downloading head statistics", err, errlen);
    }
    for (size_t i = 0; i < n; i++)
        stats[i] = host[i];
    free(host);
    return 0;
}

/* Σ NLL of the shifted targets at positions >= first from m->fwd->ln (= ln_f output). */
static int shifted_nll(hs_model *m, const int32_t *ids, int T, int first, double *nll_sum,
                       char *err, size_t errlen)
{
    hs_model_fwd_acts *a = m->fwd;
    const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    int32_t *targets = malloc((size_t)T * sizeof(int32_t));
    float *nll = malloc((size_t)T * sizeof(float));
    if (!targets || !nll) {
        free(targets);
        free(nll);
        return hs_errf(err, errlen, "model %s: out of memory for NLL targets", m->path);
    }
    for (int t = 0; t + 1 < T; t++)
        targets[t] = t + 1 >= first ? ids[t + 1] : -1;
    targets[T - 1] = -1;
    int rc = 0;
    if (m->be->upload(m->bctx, a->targets, targets, (size_t)T * sizeof(int32_t)) != 0)
        rc = hs_model_op_error(m, -1, "uploading NLL targets", err, errlen);
    else if (hs_model_prepare_embeddings(m, err, errlen) != 0)
        rc = -1;
    else if (m->be->lm_head_nll(m->bctx, a->nll, NULL, a->ln, hs_model_wte(m), a->targets, T, C, V) != 0)
        rc = hs_model_op_error(m, -1, "LM head NLL", err, errlen);
    else if (m->be->download(m->bctx, nll, a->nll, (size_t)T * sizeof(float)) != 0)
        rc = hs_model_op_error(m, -1, "downloading NLL", err, errlen);
    if (rc == 0) {
        double sum = 0.0;
        for (int t = first - 1; t + 1 < T; t++)
            sum += nll[t];
        *nll_sum = sum;
    }
    free(targets);
    free(nll);
    return rc;
}

int hs_model_stats_and_nll(hs_model *m, const int32_t *ids, int T, double *stats,
                           double *nll_sum, char *err, size_t errlen)
{
    return hs_model_stats_and_nll_from(m, ids, T, 1, stats, nll_sum, err, errlen);
}

int hs_model_stats_and_nll_from(hs_model *m, const int32_t *ids, int T, int first,
                                double *stats, double *nll_sum, char *err, size_t errlen)
{
    if (nll_sum && T < 2)
        return hs_errf(err, errlen,
                       "model %s: NLL needs a sequence of at least 2 tokens (got %d): no token "
                       "is predicted",
                       m->path, T);
    if (nll_sum && (first < 1 || first >= T))
        return hs_errf(err, errlen, "model %s: no token to score (first %d of %d)", m->path,
                       first, T);
    if (forward_trunk(m, ids, T, stats != NULL, nll_sum != NULL, err, errlen) != 0)
        return -1;
    if (stats && download_stats(m, stats, err, errlen) != 0)
        return -1;
    if (nll_sum && shifted_nll(m, ids, T, first, nll_sum, err, errlen) != 0)
        return -1;
    return 0;
}

int hs_model_head_stats(hs_model *m, const int32_t *ids, int T, double *stats, char *err,
                        size_t errlen)
{
    if (!stats)
        return hs_errf(err, errlen, "hs_model_head_stats: no output buffer");
    return hs_model_stats_and_nll(m, ids, T, stats, NULL, err, errlen);
}

int hs_model_sequence_nll(hs_model *m, const int32_t *ids, int T, double *nll_sum,
                          char *err, size_t errlen)
{
    if (!nll_sum)
        return hs_errf(err, errlen, "hs_model_sequence_nll: no output buffer");
    return hs_model_stats_and_nll(m, ids, T, NULL, nll_sum, err, errlen);
}

int hs_model_logits(hs_model *m, const int32_t *ids, int T, float *logits, char *err,
                    size_t errlen)
{
    if (!logits)
        return hs_errf(err, errlen, "hs_model_logits: no output buffer");
    if (forward_trunk(m, ids, T, false, true, err, errlen) != 0)
        return -1;
    if (hs_model_fwd_acts_logits(m, T, err, errlen) != 0)
        return -1;
    hs_model_fwd_acts *a = m->fwd;
    const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    /* logits[T, V] = ln_f(x)[T, C] · wteᵀ (the tied LM head, no bias). */
    if (hs_model_prepare_embeddings(m, err, errlen) != 0) {
        hs_model_arena_release(&a->logit_arena);
        return -1;
    }
    if (m->be->lm_head_logits(m->bctx, a->logits, a->ln, hs_model_wte(m), T, C, V) != 0) {
        hs_model_arena_release(&a->logit_arena);
        return hs_model_op_error(m, -1, "LM head", err, errlen);
    }
    int rc = 0;
    if (m->be->download(m->bctx, logits, a->logits, (size_t)T * (size_t)V * sizeof(float)) != 0)
        rc = hs_model_op_error(m, -1, "downloading logits", err, errlen);
    /* [T, V] is large (512 MiB for BLOOM-560m at T = 512) and rarely needed: not kept. */
    hs_model_arena_release(&a->logit_arena);
    a->logits = NULL;
    return rc;
}
