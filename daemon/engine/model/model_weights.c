/* The weights of a model whose checkpoint stays mapped (model.h "Where the weights live"):
 * widening a layer's mapped matrices into the layer scratch when the layer runs, or, for a
 * model that fits, into their own fp32 allocations at their first use; making a surgery's
 * target layers trainable (their QKV and dense weights resident fp32), reading any
 * tensor back as fp32 for a checkpoint, the QKV row order of families that store it
 * differently, and the bytes a model holds. */
#include "model_weights.h"
#include "common/errors.h"
#include <string.h>

bool hs_model_needs_row_permutation(const hs_model *m, const hs_tensor_ref *r)
{
    return m->cfg.family->qkv_layout != HS_QKV_INTERLEAVED_PER_HEAD &&
           (r->slot == HS_SLOT_QKV_W || r->slot == HS_SLOT_QKV_B);
}

void hs_model_permute_qkv_rows(const hs_model *m, const hs_tensor_ref *r, const float *src,
                               float *dst)
{
    const int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    const size_t rows = (size_t)r->shape[0], cols = r->ndim == 2 ? (size_t)r->shape[1] : 1;
    for (size_t fr = 0; fr < rows; fr++)
        memcpy(dst + hs_qkv_row_from_file(m->cfg.family->qkv_layout, fr, C, d) * cols,
               src + fr * cols, cols * sizeof(float));
}

/* Mapped tensor r widened to fp32 into dst (memory of the backend, which for a mapped model
 * is host memory), rows in the engine's order. */
static int widen_mapped(const hs_model *m, const hs_tensor_ref *r, float *dst, char *err,
                        size_t errlen)
{
    const hs_backend *be = m->be;
    if (!hs_model_needs_row_permutation(m, r)) {
        if (be->widen(m->bctx, dst, r->file_data, r->file_dtype, r->numel) != 0)
            return hs_errf(err, errlen, "model %s: widening tensor '%s' failed: %s", m->path,
                           r->name, be->last_error(m->bctx));
        return 0;
    }
    const int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    const size_t rows = (size_t)r->shape[0], cols = r->ndim == 2 ? (size_t)r->shape[1] : 1;
    const unsigned char *src = r->file_data;
    for (size_t fr = 0; fr < rows; fr++) {
        size_t er = hs_qkv_row_from_file(m->cfg.family->qkv_layout, fr, C, d);
        if (be->widen(m->bctx, dst + er * cols, src + fr * cols * sizeof(uint16_t), r->file_dtype,
                      cols) != 0)
            return hs_errf(err, errlen, "model %s: widening tensor '%s' failed: %s", m->path,
                           r->name, be->last_error(m->bctx));
    }
    return 0;
}

static int check_layer(const hs_model *m, int layer, char *err, size_t errlen)
{
    if (layer < 0 || layer >= m->cfg.n_layer)
        return hs_errf(err, errlen, "model %s: layer %d outside 0..%d", m->path, layer,
                       m->cfg.n_layer - 1);
    return 0;
}

/* Mapped tensor r made resident: its own fp32 allocation (engine row order), the pointer in
 * m->p set to it, its pages of the mapping released. */
static int promote(hs_model *m, hs_tensor_ref *r, float **slot, char *err, size_t errlen)
{
    float *own = m->be->alloc(m->bctx, r->numel * sizeof(float));
    if (!own)
        return hs_errf(err, errlen, "model %s: cannot allocate %zu bytes for tensor '%s' as "
                       "fp32: %s", m->path, r->numel * sizeof(float), r->name,
                       m->be->last_error(m->bctx));
    if (widen_mapped(m, r, own, err, errlen) != 0) {
        m->be->free(m->bctx, own);
        return -1;
    }
    r->promoted = own;
    *slot = own;
    hs_st_release_pages(r->file_data, r->numel * sizeof(uint16_t));
    return 0;
}

/* Promotes layer `layer`'s mapped matrices: all of them, or only the QKV and dense weights. */
static int promote_layer(hs_model *m, int layer, bool attention_only, char *err, size_t errlen)
{
    for (size_t i = m->layer_refs[layer]; i < m->layer_refs[layer + 1]; i++) {
        hs_tensor_ref *r = &m->tensors[i];
        if (!r->mapped || r->promoted)
            continue;
        if (attention_only && r->slot != HS_SLOT_QKV_W && r->slot != HS_SLOT_DENSE_W)
            continue;
        if (promote(m, r, hs_model_layer_slot(&m->p.layers[layer], r->slot), err, errlen) != 0)
            return -1;
        m->scratch_layer = -1; /* the scratch copy of this layer no longer says where it is */
    }
    return 0;
}

int hs_model_prepare_embeddings(hs_model *m, char *err, size_t errlen)
{
    hs_tensor_ref *wte = &m->tensors[0];
    if (!m->keep_widened || !wte->mapped || wte->promoted)
        return 0;
    if (promote(m, wte, &m->p.wte, err, errlen) != 0)
        return -1;
    m->wte_table = hs_table_f32(m->p.wte);
    return 0;
}

const hs_layer_params *hs_model_layer(hs_model *m, int layer, char *err, size_t errlen)
{
    if (check_layer(m, layer, err, errlen) != 0)
        return NULL;
    if (!m->weights_mapped)
        return &m->p.layers[layer];
    if (m->keep_widened) {
        if (promote_layer(m, layer, false, err, errlen) != 0)
            return NULL;
        return &m->p.layers[layer];
    }
    if (m->scratch_layer == layer)
        return &m->scratch_params;
    hs_layer_params lp = m->p.layers[layer];
    bool widened = false;
    for (size_t i = m->layer_refs[layer]; i < m->layer_refs[layer + 1]; i++) {
        const hs_tensor_ref *r = &m->tensors[i];
        if (!r->mapped || r->promoted)
            continue;
        float *dst = m->layer_scratch + r->scratch_offset;
        if (widen_mapped(m, r, dst, err, errlen) != 0) {
            m->scratch_layer = -1; /* partly overwritten */
            return NULL;
        }
        *hs_model_layer_slot(&lp, r->slot) = dst;
        widened = true;
    }
    if (!widened)
        return &m->p.layers[layer];
    m->scratch_params = lp;
    m->scratch_layer = layer;
    return &m->scratch_params;
}

int hs_model_make_trainable(hs_model *m, int layer, char *err, size_t errlen)
{
    if (check_layer(m, layer, err, errlen) != 0)
        return -1;
    if (!m->weights_mapped)
        return 0;
    return promote_layer(m, layer, true, err, errlen);
}

int hs_model_tensor_to_host(const hs_model *m, const hs_tensor_ref *t, float *host, char *err,
                            size_t errlen)
{
    const float *src = t->promoted ? t->promoted
                       : !t->mapped ? m->param_memory + t->offset
                                    : NULL;
    if (!src) /* still mapped: the mapping is host memory, widen straight into host */
        return widen_mapped(m, t, host, err, errlen);
    if (m->be->download(m->bctx, host, src, t->numel * sizeof(float)) != 0)
        return hs_errf(err, errlen, "model %s: reading tensor '%s' back failed: %s", m->path,
                       t->name, m->be->last_error(m->bctx));
    return 0;
}

size_t hs_model_resident_bytes(const hs_model *m)
{
    size_t bytes = (m->n_params + m->layer_scratch_floats) * sizeof(float);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hs_tensor_ref *r = &m->tensors[i];
        if (r->promoted) /* its mapped pages were released */
            bytes += r->numel * sizeof(float);
        else if (r->mapped)
            bytes += r->numel * sizeof(uint16_t);
    }
    return bytes;
}
