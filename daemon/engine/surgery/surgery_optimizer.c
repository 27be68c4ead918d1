/* AdamW and gradient clipping over the surgery's trainable slices (see surgery_optimizer.h). */
#include "surgery_optimizer.h"
#include "common/errors.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hs_surgery_optimizer {
    const hs_backend *be;
    hs_backend_ctx *bctx;
    hs_head_slices *slices;
    int n_slices, C, d;
    hs_adamw_config cfg;
    int64_t steps;        /* optimizer steps taken (torch's `step` state) */
    float *state;         /* backend: per slice, per part, m then v */
    float *dense_scratch; /* backend [C, d]: the gathered dense columns of one slice */
    size_t per_slice;     /* floats of m + v of one slice */
};

size_t hs_slice_part_numel(hs_slice_part part, int hidden, int head_dim)
{
    switch (part) {
    case HS_SLICE_QKV_W: return (size_t)3 * head_dim * hidden;
    case HS_SLICE_QKV_B: return (size_t)3 * head_dim;
    case HS_SLICE_DENSE: return (size_t)hidden * head_dim;
    default: return 0;
    }
}

const char *hs_slice_part_name(hs_slice_part part)
{
    static const char *const names[] = {"qkv_w", "qkv_b", "dense_w"};
    return (unsigned)part < HS_SLICE_PARTS ? names[part] : "?";
}

bool hs_slice_has_part(const hs_head_slices *s, hs_slice_part part)
{
    return part != HS_SLICE_QKV_B || s->qkv_b != NULL;
}

static size_t part_offset(const hs_surgery_optimizer *o, hs_slice_part part)
{
    size_t off = 0;
    for (int p = 0; p < (int)part; p++)
        off += 2 * hs_slice_part_numel((hs_slice_part)p, o->C, o->d);
    return off;
}

float *hs_surgery_optimizer_moment(hs_surgery_optimizer *o, int slice, hs_slice_part part,
                                   int second)
{
    return o->state + (size_t)slice * o->per_slice + part_offset(o, part) +
           (second ? hs_slice_part_numel(part, o->C, o->d) : 0);
}

hs_surgery_optimizer *hs_surgery_optimizer_new(const hs_backend *be, hs_backend_ctx *bctx,
                                               hs_head_slices *slices, int n_slices, int hidden,
                                               int head_dim, const hs_adamw_config *cfg,
                                               char *err, size_t errlen)
{
    hs_surgery_optimizer *o = calloc(1, sizeof *o);
    if (!o) {
        hs_errf(err, errlen, "optimizer: out of memory");
        return NULL;
    }
    o->be = be;
    o->bctx = bctx;
    o->slices = slices;
    o->n_slices = n_slices;
    o->C = hidden;
    o->d = head_dim;
    o->cfg = *cfg;
    for (int p = 0; p < HS_SLICE_PARTS; p++)
        o->per_slice += 2 * hs_slice_part_numel((hs_slice_part)p, hidden, head_dim);
    o->state = be->alloc(bctx, o->per_slice * (size_t)n_slices * sizeof(float));
    o->dense_scratch = be->alloc(bctx, (size_t)hidden * head_dim * sizeof(float));
    if (!o->state || !o->dense_scratch) {
        hs_errf(err, errlen, "optimizer: cannot allocate AdamW state for %d slices (%zu floats)",
                n_slices, o->per_slice * (size_t)n_slices);
        hs_surgery_optimizer_free(o);
        return NULL;
    }
    return o;
}

void hs_surgery_optimizer_free(hs_surgery_optimizer *o)
{
    if (!o)
        return;
    if (o->state)
        o->be->free(o->bctx, o->state);
    if (o->dense_scratch)
        o->be->free(o->bctx, o->dense_scratch);
    free(o);
}

static float *slice_grad(const hs_head_slices *s, hs_slice_part part)
{
    return part == HS_SLICE_QKV_W ? s->g_qkv_w : part == HS_SLICE_QKV_B ? s->g_qkv_b : s->g_dense;
}

int hs_surgery_grad_norm(hs_surgery_optimizer *o, double *norm, char *err, size_t errlen)
{
    double total = 0.0;
    for (int i = 0; i < o->n_slices; i++)
        for (int p = 0; p < HS_SLICE_PARTS; p++) {
            double ss = 0.0;
            if (!hs_slice_has_part(&o->slices[i], (hs_slice_part)p))
                continue;
            if (o->be->sum_squares(o->bctx, &ss, slice_grad(&o->slices[i], (hs_slice_part)p),
                                   hs_slice_part_numel((hs_slice_part)p, o->C, o->d)) != 0)
                return hs_errf(err, errlen, "gradient norm of layer %d head %d %s: %s",
                               o->slices[i].layer, o->slices[i].head,
                               hs_slice_part_name((hs_slice_part)p), o->be->last_error(o->bctx));
            total += ss;
        }
    *norm = sqrt(total);
    return 0;
}

int hs_surgery_clip_grads(hs_surgery_optimizer *o, double max_norm, double *pre_clip_norm,
                          char *err, size_t errlen)
{
    double norm;
    if (hs_surgery_grad_norm(o, &norm, err, errlen) != 0)
        return -1;
    *pre_clip_norm = norm;
    /* torch computes the coefficient in fp32; multiplying by a clamped 1.0 is a no-op. */
    float coef = (float)max_norm / ((float)norm + 1e-6f);
    if (!(coef < 1.0f))
        return 0;
    for (int i = 0; i < o->n_slices; i++)
        for (int p = 0; p < HS_SLICE_PARTS; p++)
            if (hs_slice_has_part(&o->slices[i], (hs_slice_part)p) &&
                o->be->scale(o->bctx, slice_grad(&o->slices[i], (hs_slice_part)p), coef,
                             hs_slice_part_numel((hs_slice_part)p, o->C, o->d)) != 0)
                return hs_errf(err, errlen, "gradient clipping: %s", o->be->last_error(o->bctx));
    return 0;
}

/* AdamW on one part of slice i; the dense columns go through the compact scratch buffer. */
static int step_part(hs_surgery_optimizer *o, int i, hs_slice_part part, float lr, float bc1,
                     float bc2)
{
    const hs_backend *be = o->be;
    hs_head_slices *s = &o->slices[i];
    size_t n = hs_slice_part_numel(part, o->C, o->d);
    float *param = part == HS_SLICE_QKV_W ? s->qkv_w
                   : part == HS_SLICE_QKV_B ? s->qkv_b
                                            : o->dense_scratch;
    if (part == HS_SLICE_DENSE &&
        be->copy_2d(o->bctx, o->dense_scratch, o->d, s->dense_w, o->C, o->C, o->d) != 0)
        return -1;
    if (be->adamw(o->bctx, param, slice_grad(s, part), hs_surgery_optimizer_moment(o, i, part, 0),
                  hs_surgery_optimizer_moment(o, i, part, 1), n, lr, (float)o->cfg.beta1,
                  (float)o->cfg.beta2, (float)o->cfg.eps, (float)o->cfg.weight_decay, bc1,
                  bc2) != 0)
        return -1;
    if (part == HS_SLICE_DENSE &&
        be->copy_2d(o->bctx, s->dense_w, o->C, o->dense_scratch, o->d, o->C, o->d) != 0)
        return -1;
    return 0;
}

int hs_surgery_optimizer_step(hs_surgery_optimizer *o, double lr, char *err, size_t errlen)
{
    o->steps++;
    float bc1 = (float)(1.0 - pow(o->cfg.beta1, (double)o->steps));
    float bc2 = (float)(1.0 - pow(o->cfg.beta2, (double)o->steps));
    for (int i = 0; i < o->n_slices; i++)
        for (int p = 0; p < HS_SLICE_PARTS; p++)
            if (hs_slice_has_part(&o->slices[i], (hs_slice_part)p) &&
                step_part(o, i, (hs_slice_part)p, (float)lr, bc1, bc2) != 0)
                return hs_errf(err, errlen, "AdamW step %lld on layer %d head %d %s: %s",
                               (long long)o->steps, o->slices[i].layer, o->slices[i].head,
                               hs_slice_part_name((hs_slice_part)p), o->be->last_error(o->bctx));
    return 0;
}

int64_t hs_surgery_optimizer_steps(const hs_surgery_optimizer *o) { return o->steps; }
void hs_surgery_optimizer_set_steps(hs_surgery_optimizer *o, int64_t steps) { o->steps = steps; }

int hs_surgery_slice_download(const hs_backend *be, hs_backend_ctx *bctx,
                              const hs_head_slices *s, hs_slice_part part, int hidden,
                              int head_dim, float *host, char *err, size_t errlen)
{
    size_t n = hs_slice_part_numel(part, hidden, head_dim);
    int rc;
    if (part == HS_SLICE_DENSE) {
        float *tmp = be->alloc(bctx, n * sizeof(float));
        if (!tmp)
            return hs_errf(err, errlen, "slice of layer %d head %d: out of memory", s->layer, s->head);
        rc = be->copy_2d(bctx, tmp, head_dim, s->dense_w, hidden, hidden, head_dim);
        if (rc == 0)
            rc = be->download(bctx, host, tmp, n * sizeof(float));
        be->free(bctx, tmp);
    } else {
        rc = be->download(bctx, host, part == HS_SLICE_QKV_W ? s->qkv_w : s->qkv_b,
                          n * sizeof(float));
    }
    if (rc != 0)
        return hs_errf(err, errlen, "reading slice of layer %d head %d %s: %s", s->layer, s->head,
                       hs_slice_part_name(part), be->last_error(bctx));
    return 0;
}

int hs_surgery_slice_upload(const hs_backend *be, hs_backend_ctx *bctx, const hs_head_slices *s,
                            hs_slice_part part, int hidden, int head_dim, const float *host,
                            char *err, size_t errlen)
{
    size_t n = hs_slice_part_numel(part, hidden, head_dim);
    int rc;
    if (part == HS_SLICE_DENSE) {
        float *tmp = be->alloc(bctx, n * sizeof(float));
        if (!tmp)
            return hs_errf(err, errlen, "slice of layer %d head %d: out of memory", s->layer, s->head);
        rc = be->upload(bctx, tmp, host, n * sizeof(float));
        if (rc == 0)
            rc = be->copy_2d(bctx, s->dense_w, hidden, tmp, head_dim, hidden, head_dim);
        if (rc == 0)
            rc = be->synchronize(bctx);
        be->free(bctx, tmp);
    } else {
        rc = be->upload(bctx, part == HS_SLICE_QKV_W ? s->qkv_w : s->qkv_b, host,
                        n * sizeof(float));
    }
    if (rc != 0)
        return hs_errf(err, errlen, "writing slice of layer %d head %d %s: %s", s->layer, s->head,
                       hs_slice_part_name(part), be->last_error(bctx));
    return 0;
}
