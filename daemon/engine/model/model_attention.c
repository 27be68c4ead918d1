/* The attention matrices of chosen heads (model_attention.h): the inference forward of
 * model_forward.c block by block, with a [H, T, T] probability buffer handed to the attention
 * op of the layers that hold a chosen head; the walk stops after the highest such layer's
 * attention. */
#include "model_attention.h"
#include "model_activations.h"
#include "model_graph.h"
#include "common/errors.h"

static int check_heads(const hs_model *m, const hs_head_target *heads, int n, int *top,
                       char *err, size_t errlen)
{
    *top = -1;
    for (int k = 0; k < n; k++) {
        if (heads[k].layer < 0 || heads[k].layer >= m->cfg.n_layer || heads[k].head < 0 ||
            heads[k].head >= m->cfg.n_head)
            return hs_errf(err, errlen, "head (%d, %d) is outside the model's %d layers × %d "
                           "heads", heads[k].layer, heads[k].head, m->cfg.n_layer,
                           m->cfg.n_head);
        *top = heads[k].layer > *top ? heads[k].layer : *top;
    }
    return 0;
}

/* Downloads the chosen heads of `layer` from probs [H, T, T] into their slots of maps. */
static int download_layer(hs_model *m, int layer, const float *probs, int T,
                          const hs_head_target *heads, int n, float *maps, char *err,
                          size_t errlen)
{
    const size_t tt = (size_t)T * (size_t)T;
    for (int k = 0; k < n; k++) {
        if (heads[k].layer != layer)
            continue;
        if (m->be->download(m->bctx, maps + (size_t)k * tt, probs + (size_t)heads[k].head * tt,
                            tt * sizeof(float)) != 0)
            return hs_model_op_error(m, layer, "downloading attention probabilities", err,
                                     errlen);
    }
    return 0;
}

static bool layer_wanted(const hs_head_target *heads, int n, int layer)
{
    for (int k = 0; k < n; k++)
        if (heads[k].layer == layer)
            return true;
    return false;
}

int hs_model_attention_maps(hs_model *m, const int32_t *ids, int T, const hs_head_target *heads,
                            int n, float *maps, char *err, size_t errlen)
{
    int top = -1;
    if (!ids || T < 1 || n < 1 || !maps)
        return hs_errf(err, errlen, "attention maps: %d tokens, %d heads", T, n);
    if (check_heads(m, heads, n, &top, err, errlen) != 0 ||
        hs_model_check_ids(m, ids, (size_t)T, err, errlen) != 0 ||
        hs_model_fwd_acts_prepare(m, T, err, errlen) != 0)
        return -1;
    hs_model_fwd_acts *a = m->fwd;
    const size_t bytes = (size_t)m->cfg.n_head * (size_t)T * (size_t)T * sizeof(float);
    float *probs = m->be->alloc(m->bctx, bytes);
    if (!probs)
        return hs_errf(err, errlen, "attention maps: cannot allocate %zu bytes on %s: %s", bytes,
                       m->be->name, m->be->last_error(m->bctx));
    int rc = 0;
    if (m->be->upload(m->bctx, a->ids, ids, (size_t)T * sizeof(int32_t)) != 0)
        rc = hs_model_op_error(m, -1, "uploading token ids", err, errlen);
    else
        rc = hs_model_embed(m, a->x, a->ln, a->ids, T, err, errlen);
    for (int l = 0; rc == 0 && l <= top; l++) {
        bool wanted = layer_wanted(heads, n, l);
        const hs_block_buffers buf = {.ln1 = a->ln, .qkv = a->qkv, .attn = a->attn,
                                      .proj = a->proj, .x1 = a->x, .ln2 = a->ln,
                                      .fc_pre = a->fc, .fc_act = a->fc,
                                      .probs = wanted ? probs : NULL};
        rc = hs_model_block_forward(m, l, a->x, a->x, &buf, 1, T, NULL, l == top, err, errlen);
        if (rc == 0 && wanted)
            rc = download_layer(m, l, probs, T, heads, n, maps, err, errlen);
    }
    m->be->free(m->bctx, probs);
    return rc;
}
