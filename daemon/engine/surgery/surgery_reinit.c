/* Xavier re-initialisation of surgery target heads (see surgery_reinit.h). */
#include "surgery_reinit.h"
#include "common/errors.h"
#include "surgery_rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const init_names[] = {
    [HS_SURGERY_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [HS_SURGERY_INIT_XAVIER_NORMAL] = "xavier_normal",
    [HS_SURGERY_INIT_NONE] = "none",
};

const char *hs_surgery_init_name(hs_surgery_init init)
{
    return (unsigned)init < sizeof init_names / sizeof init_names[0] ? init_names[init] : "?";
}

int hs_surgery_init_from_name(const char *name, hs_surgery_init *out)
{
    for (size_t i = 0; i < sizeof init_names / sizeof init_names[0]; i++)
        if (strcmp(name, init_names[i]) == 0) {
            *out = (hs_surgery_init)i;
            return 0;
        }
    return -1;
}

void hs_surgery_draw_qkv_block(hs_surgery_init init, uint64_t seed, int layer, int head,
                               int n_head, int head_dim, int hidden, float *block)
{
    double fan_in = hidden, fan_out = 3.0 * head_dim;
    size_t n = (size_t)3 * head_dim * hidden;
    uint64_t stream = (uint64_t)layer * (uint64_t)n_head + (uint64_t)head;
    if (init == HS_SURGERY_INIT_XAVIER_UNIFORM) {
        double bound = sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < n; i++)
            block[i] = (float)((2.0 * hs_surgery_rng_uniform(seed, stream, i) - 1.0) * bound);
    } else if (init == HS_SURGERY_INIT_XAVIER_NORMAL) {
        double std = sqrt(2.0 / (fan_in + fan_out));
        /* Box–Muller: draws 2k and 2k+1 give elements 2k and 2k+1. */
        for (size_t i = 0; i < n; i += 2) {
            double u1 = 1.0 - hs_surgery_rng_uniform(seed, stream, i); /* (0, 1] */
            double u2 = hs_surgery_rng_uniform(seed, stream, i + 1);
            double r = sqrt(-2.0 * log(u1)) * std;
            block[i] = (float)(r * cos(2.0 * M_PI * u2));
            if (i + 1 < n)
                block[i + 1] = (float)(r * sin(2.0 * M_PI * u2));
        }
    }
}

int hs_surgery_reinit(hs_model *m, const hs_head_target *targets, int n_targets,
                      hs_surgery_init init, uint64_t seed, char *err, size_t errlen)
{
    if (init == HS_SURGERY_INIT_NONE)
        return 0;
    const hs_model_config *cfg = &m->cfg;
    int C = cfg->hidden_size, d = cfg->head_dim, H = cfg->n_head;
    size_t block_n = (size_t)3 * d * C;
    float *block = malloc(block_n * sizeof(float));
    float *zeros = m->be->alloc(m->bctx, (size_t)C * d * sizeof(float)); /* zero-filled */
    int rc = 0;
    if (!block || !zeros) {
        rc = hs_errf(err, errlen, "re-initialisation: out of memory");
        goto done;
    }
    for (int i = 0; i < n_targets; i++) {
        int l = targets[i].layer, h = targets[i].head;
        if (l < 0 || l >= cfg->n_layer || h < 0 || h >= H) {
            rc = hs_errf(err, errlen, "re-initialisation: target (%d, %d) outside the model", l,
                         h);
            goto done;
        }
        /* the head's rows change in place: the layer's QKV and dense weights become its own */
        if (hs_model_make_trainable(m, l, err, errlen) != 0) {
            rc = -1;
            goto done;
        }
        const hs_layer_params *lp = &m->p.layers[l];
        hs_surgery_draw_qkv_block(init, seed, l, h, H, d, C, block);
        /* the head's rows are contiguous in the engine's QKV layout whatever the family's
         * file layout; a family without a QKV bias has none to zero */
        if (m->be->upload(m->bctx, lp->qkv_w + (size_t)h * block_n, block,
                          block_n * sizeof(float)) != 0 ||
            (lp->qkv_b && m->be->fill_zero(m->bctx, lp->qkv_b + (size_t)h * 3 * d,
                                           (size_t)3 * d * sizeof(float)) != 0) ||
            m->be->copy_2d(m->bctx, lp->dense_w + (size_t)h * d, C, zeros, d, C, d) != 0) {
            rc = hs_errf(err, errlen, "re-initialisation of layer %d head %d: %s", l, h,
                         m->be->last_error(m->bctx));
            goto done;
        }
    }
    if (m->be->synchronize(m->bctx) != 0)
        rc = hs_errf(err, errlen, "re-initialisation: %s", m->be->last_error(m->bctx));
done:
    free(block);
    if (zeros)
        m->be->free(m->bctx, zeros);
    return rc;
}
