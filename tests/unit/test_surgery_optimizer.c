/* Unit tests of the surgery optimizer on the CPU backend: gradient clipping and AdamW over
 * compact per-slice state, against a naive double-precision AdamW + clip_grad_norm_ written
 * here from torch's documented update; the strided dense columns are gathered/scattered
 * without touching the other heads' columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "engine/surgery/surgery_optimizer.h"

enum { C = 12, H = 3, D = 4, NS = 2, STEPS = 4 };

typedef struct world {
    hs_backend_ctx *ctx;
    float *qkv_w[NS], *qkv_b[NS], *dense;   /* dense: the whole [C, C] weight */
    float *g[NS][3];
    hs_head_slices slices[NS];
    /* the double-precision reference */
    double ref_p[NS][3][3 * D * C], ref_m[NS][3][3 * D * C], ref_v[NS][3][3 * D * C];
} world;

static double frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0 - 0.5;
}

static size_t part_n(int p) { return p == 0 ? 3 * D * C : p == 1 ? 3 * D : C * D; }

/* Element k of slice i's part p inside the model buffers. */
static float *param_at(world *w, int i, int p, size_t k)
{
    if (p == 0)
        return &w->qkv_w[i][k];
    if (p == 1)
        return &w->qkv_b[i][k];
    return &w->dense[(k / D) * C + w->slices[i].head * D + k % D];
}

static void test_clip_and_adamw_match_reference(void **state)
{
    (void)state;
    static world w;
    char err[256];
    const hs_backend *be = &hs_cpu_backend;
    w.ctx = be->init(0, err, sizeof err);
    assert_non_null(w.ctx);
    unsigned seed = 12345;
    w.dense = be->alloc(w.ctx, C * C * sizeof(float));
    for (int k = 0; k < C * C; k++)
        w.dense[k] = (float)frand(&seed);
    float dense_before[C * C];
    memcpy(dense_before, w.dense, sizeof dense_before);
    const int heads[NS] = {2, 0};
    for (int i = 0; i < NS; i++) {
        w.qkv_w[i] = be->alloc(w.ctx, part_n(0) * sizeof(float));
        w.qkv_b[i] = be->alloc(w.ctx, part_n(1) * sizeof(float));
        for (int p = 0; p < 3; p++)
            w.g[i][p] = be->alloc(w.ctx, part_n(p) * sizeof(float));
        w.slices[i] = (hs_head_slices){.layer = 1, .head = heads[i], .qkv_w = w.qkv_w[i],
                                       .qkv_b = w.qkv_b[i], .dense_w = w.dense + heads[i] * D,
                                       .g_qkv_w = w.g[i][0], .g_qkv_b = w.g[i][1],
                                       .g_dense = w.g[i][2]};
        for (size_t k = 0; k < part_n(0); k++)
            w.qkv_w[i][k] = (float)frand(&seed);
        for (size_t k = 0; k < part_n(1); k++)
            w.qkv_b[i][k] = (float)frand(&seed);
        for (int p = 0; p < 3; p++)
            for (size_t k = 0; k < part_n(p); k++)
                w.ref_p[i][p][k] = *param_at(&w, i, p, k);
    }
    const double beta1 = 0.9, beta2 = 0.99, eps = 1e-8, wd = 0.1, max_norm = 0.5;
    hs_adamw_config cfg = {beta1, beta2, eps, wd};
    hs_surgery_optimizer *opt = hs_surgery_optimizer_new(be, w.ctx, w.slices, NS, C, D, &cfg,
                                                         err, sizeof err);
    assert_non_null(opt);
    const double lrs[STEPS] = {1e-2, 5e-3, 2e-2, 1e-3};
    for (int step = 1; step <= STEPS; step++) {
        /* gradients: large on odd steps (clipped), small on even ones (not clipped) */
        double scale = step % 2 ? 3.0 : 0.01, ss = 0;
        static double g[NS][3][3 * D * C];
        for (int i = 0; i < NS; i++)
            for (int p = 0; p < 3; p++)
                for (size_t k = 0; k < part_n(p); k++) {
                    w.g[i][p][k] = (float)(scale * frand(&seed));
                    g[i][p][k] = w.g[i][p][k];
                    ss += g[i][p][k] * g[i][p][k];
                }
        double norm_ref = sqrt(ss), coef = max_norm / (norm_ref + 1e-6);
        if (coef > 1.0)
            coef = 1.0;
        double norm;
        assert_int_equal(hs_surgery_clip_grads(opt, max_norm, &norm, err, sizeof err), 0);
        assert_true(fabs(norm - norm_ref) <= 1e-9 * norm_ref);
        assert_int_equal(hs_surgery_optimizer_step(opt, lrs[step - 1], err, sizeof err), 0);
        double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
        for (int i = 0; i < NS; i++)
            for (int p = 0; p < 3; p++)
                for (size_t k = 0; k < part_n(p); k++) {
                    double gk = g[i][p][k] * coef;
                    double *pr = &w.ref_p[i][p][k], *m = &w.ref_m[i][p][k], *v = &w.ref_v[i][p][k];
                    *pr *= 1 - lrs[step - 1] * wd;
                    *m = beta1 * *m + (1 - beta1) * gk;
                    *v = beta2 * *v + (1 - beta2) * gk * gk;
                    *pr -= lrs[step - 1] / bc1 * *m / (sqrt(*v) / sqrt(bc2) + eps);
                }
        double worst = 0;
        for (int i = 0; i < NS; i++)
            for (int p = 0; p < 3; p++)
                for (size_t k = 0; k < part_n(p); k++) {
                    double diff = fabs(*param_at(&w, i, p, k) - w.ref_p[i][p][k]);
                    if (diff > worst)
                        worst = diff;
                }
        if (worst > 2e-6)
            fail_msg("step %d: max |ours − reference| = %g > 2e-6", step, worst);
    }
    assert_int_equal(hs_surgery_optimizer_steps(opt), STEPS);
    /* Columns of head 1 (no slice) are bit-identical. */
    for (int r = 0; r < C; r++)
        for (int c = D; c < 2 * D; c++)
            assert_memory_equal(&w.dense[r * C + c], &dense_before[r * C + c], sizeof(float));
    /* Moments are compact: slice 0's dense m equals the reference's. */
    float *m_dense = hs_surgery_optimizer_moment(opt, 0, HS_SLICE_DENSE, 0);
    for (size_t k = 0; k < part_n(2); k++)
        assert_true(fabs(m_dense[k] - w.ref_m[0][2][k]) < 1e-6);
    /* download/upload of a strided slice round-trips. */
    float host[C * D];
    assert_int_equal(hs_surgery_slice_download(be, w.ctx, &w.slices[1], HS_SLICE_DENSE, C, D,
                                               host, err, sizeof err), 0);
    for (int k = 0; k < C * D; k++)
        assert_memory_equal(&host[k], param_at(&w, 1, 2, (size_t)k), sizeof(float));
    host[5] = 42.0f;
    assert_int_equal(hs_surgery_slice_upload(be, w.ctx, &w.slices[1], HS_SLICE_DENSE, C, D, host,
                                             err, sizeof err), 0);
    assert_true(*param_at(&w, 1, 2, 5) == 42.0f);

    hs_surgery_optimizer_free(opt);
    for (int i = 0; i < NS; i++) {
        be->free(w.ctx, w.qkv_w[i]);
        be->free(w.ctx, w.qkv_b[i]);
        for (int p = 0; p < 3; p++)
            be->free(w.ctx, w.g[i][p]);
    }
    be->free(w.ctx, w.dense);
    be->shutdown(w.ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_and_adamw_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
