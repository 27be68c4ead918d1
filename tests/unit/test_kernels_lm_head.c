/* CPU backend lm_head_nll and lm_head_nll_backward against a double-precision reference
 * written here: full logits x·embᵀ, logsumexp, nll = lse − logit[target], rows with a negative
 * target ignored (nll 0, dx 0). Vocabulary sizes below, equal to and not a multiple of the
 * kernel's 4096-row chunk. The backward is checked against central finite differences (step
 * 1e-5, in double) of scale·Σ nll of the double reference, and against the closed form
 * scale·Σ_v (softmax_v − onehot_v)·emb[v]. */
#include "test_kernels_common.h"

#include <string.h>

/* lse[N] (all rows) and Σ-able nll[N] (0 for ignored rows) in double. */
static void reference_nll(const double *x, const float *emb, const int32_t *targets, int N, int C,
                          int V, double *nll, double *lse, double *probs /* [N,V] or NULL */)
{
    double *logits = test_alloc((size_t)V * sizeof(double));
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = 0.0;
            for (int c = 0; c < C; c++)
                s += x[(size_t)n * C + c] * emb[(size_t)v * C + c];
            logits[v] = s;
            if (s > mx)
                mx = s;
        }
        double z = 0.0;
        for (int v = 0; v < V; v++)
            z += exp(logits[v] - mx);
        double l = mx + log(z);
        if (lse)
            lse[n] = l;
        nll[n] = targets[n] >= 0 ? l - logits[targets[n]] : 0.0;
        if (probs)
            for (int v = 0; v < V; v++)
                probs[(size_t)n * V + v] = exp(logits[v] - l);
    }
    free(logits);
}

typedef struct {
    int N, C, V;
} head_shape;

static void fill_targets(int32_t *t, int N, int V)
{
    for (int n = 0; n < N; n++)
        t[n] = test_rng_int(V);
    if (N > 2) {
        t[1] = -100; /* HF's ignore_index */
        t[N - 1] = -1;
    }
    if (N > 3)
        t[2] = V - 1; /* last row of the last, partial chunk */
}

static void test_lm_head_forward(void **state)
{
    hs_backend_ctx *ctx = *state;
    /* the last shape has so many rows that the kernel shrinks its chunk below 4096 */
    const head_shape shapes[] = {{1, 1, 1},     {5, 16, 50},     {7, 16, 4096},
                                 {6, 12, 8229}, {130, 32, 5000}, {4100, 2, 5000}};
    test_rng_seed(51);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s].N, C = shapes[s].C, V = shapes[s].V;
        float *x = test_alloc((size_t)N * C * 4), *emb = test_alloc((size_t)V * C * 4);
        float *nll = test_alloc((size_t)N * 4), *lse = test_alloc((size_t)N * 4);
        int32_t *targets = test_alloc((size_t)N * 4);
        test_fill_uniform(x, (size_t)N * C, -1, 1);
        test_fill_uniform(emb, (size_t)V * C, -1, 1);
        fill_targets(targets, N, V);
        double *xd = test_alloc((size_t)N * C * 8), *nll_r = test_alloc((size_t)N * 8),
               *lse_r = test_alloc((size_t)N * 8);
        for (size_t i = 0; i < (size_t)N * C; i++)
            xd[i] = x[i];
        reference_nll(xd, emb, targets, N, C, V, nll_r, lse_r, NULL);
        for (int n = 0; n < N; n++)
            nll[n] = 99.0f; /* must be overwritten, including ignored rows */
        assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, N, C, V), 0);
        /* logits are sums of C products of magnitude <= 1: fp32 error <= C·2^-24·C; lse and
         * nll are good to ~1e-6 absolute here */
        double e1 = test_assert_close("nll", nll, nll_r, (size_t)N, 1e-5, 1e-6);
        double e2 = test_assert_close("lse", lse, lse_r, (size_t)N, 1e-5, 1e-6);
        for (int n = 0; n < N; n++)
            if (targets[n] < 0)
                assert_true(nll[n] == 0.0f);
        /* lse is optional */
        assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll, NULL, x, hs_table_f32(emb), targets, N, C, V), 0);
        test_assert_close("nll (no lse)", nll, nll_r, (size_t)N, 1e-5, 1e-6);
        print_message("lm_head_nll N=%d C=%d V=%d: max |err| nll %.3g lse %.3g\n", N, C, V, e1,
                      e2);
        free(x), free(emb), free(nll), free(lse), free(targets), free(xd), free(nll_r),
            free(lse_r);
    }
}

static void test_lm_head_backward(void **state)
{
    hs_backend_ctx *ctx = *state;
    const head_shape shapes[] = {{1, 4, 3}, {5, 8, 4096 * 2 + 37}, {4, 6, 300}};
    const float scales[] = {1.0f, 0.25f, -0.5f};
    test_rng_seed(52);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s].N, C = shapes[s].C, V = shapes[s].V;
        float scale = scales[s];
        size_t NC = (size_t)N * C;
        float *x = test_alloc(NC * 4), *emb = test_alloc((size_t)V * C * 4);
        float *nll = test_alloc((size_t)N * 4), *lse = test_alloc((size_t)N * 4);
        float *dx = test_alloc(NC * 4);
        int32_t *targets = test_alloc((size_t)N * 4);
        test_fill_uniform(x, NC, -1, 1);
        test_fill_uniform(emb, (size_t)V * C, -1, 1);
        fill_targets(targets, N, V);
        test_fill_uniform(dx, NC, 50, 60); /* overwritten, not accumulated */
        assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, N, C, V), 0);
        assert_int_equal(hs_cpu_backend.lm_head_nll_backward(ctx, dx, x, hs_table_f32(emb), targets, lse, scale,
                                                             N, C, V),
                         0);
        /* The same gradient through the path that recomputes the logits: the backend reuses
         * what the forward kept only for the very same embedding table, so a copy forces it. */
        float *emb_copy = test_alloc((size_t)V * C * 4), *dx_recomputed = test_alloc(NC * 4);
        memcpy(emb_copy, emb, (size_t)V * C * 4);
        test_fill_uniform(dx_recomputed, NC, 50, 60);
        assert_int_equal(hs_cpu_backend.lm_head_nll_backward(ctx, dx_recomputed, x, hs_table_f32(emb_copy),
                                                             targets, lse, scale, N, C, V),
                         0);

        double *xd = test_alloc(NC * 8), *nll_r = test_alloc((size_t)N * 8);
        double *probs = test_alloc((size_t)N * V * 8), *closed = test_alloc(NC * 8);
        double *fd = test_alloc(NC * 8);
        for (size_t i = 0; i < NC; i++)
            xd[i] = x[i];
        reference_nll(xd, emb, targets, N, C, V, nll_r, NULL, probs);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double g = 0.0;
                if (targets[n] >= 0) {
                    for (int v = 0; v < V; v++)
                        g += (probs[(size_t)n * V + v] - (v == targets[n])) * emb[(size_t)v * C + c];
                    g *= scale;
                }
                closed[(size_t)n * C + c] = g;
            }
        /* finite differences: row n of x only affects nll[n] */
        for (size_t i = 0; i < NC; i++) {
            int n = (int)(i / (size_t)C);
            const double h = 1e-5;
            double keep = xd[i], up, down, l1;
            xd[i] = keep + h;
            reference_nll(xd + (size_t)n * C, emb, targets + n, 1, C, V, &l1, NULL, NULL);
            up = l1;
            xd[i] = keep - h;
            reference_nll(xd + (size_t)n * C, emb, targets + n, 1, C, V, &l1, NULL, NULL);
            down = l1;
            xd[i] = keep;
            fd[i] = scale * (up - down) / (2 * h);
        }
        /* fp32 chunked gradient vs double: |err| <= 2e-5 + 1e-4·|grad| */
        double e_fd = test_assert_close("dx vs finite differences", dx, fd, NC, 2e-5, 1e-4);
        double e_cf = test_assert_close("dx vs closed form", dx, closed, NC, 2e-5, 1e-4);
        test_assert_close("dx (recomputed logits) vs closed form", dx_recomputed, closed, NC, 2e-5,
                          1e-4);
        free(emb_copy), free(dx_recomputed);
        for (int n = 0; n < N; n++)
            if (targets[n] < 0)
                for (int c = 0; c < C; c++)
                    assert_true(dx[(size_t)n * C + c] == 0.0f);
        print_message("lm_head_nll_backward N=%d C=%d V=%d scale=%g: max |err| vs FD %.3g, vs "
                      "closed form %.3g (max |grad| %.3g)\n",
                      N, C, V, (double)scale, e_fd, e_cf, test_max_abs(closed, NC));
        free(x), free(emb), free(nll), free(lse), free(dx), free(targets), free(xd), free(nll_r);
        free(probs), free(closed), free(fd);
    }
}

/* The chunks are shared among threads with a fixed schedule and merge order: repeated calls
 * give bit-identical results (resumed or repeated jobs rely on it). */
static void test_lm_head_repeatable(void **state)
{
    hs_backend_ctx *ctx = *state;
    enum { N = 9, C = 8, V = 4096 * 3 + 5 };
    float *x = test_alloc(N * C * 4), *emb = test_alloc((size_t)V * C * 4);
    float nll[2][N], lse[2][N], dx[2][N * C];
    int32_t targets[N];
    test_rng_seed(53);
    test_fill_uniform(x, N * C, -1, 1);
    test_fill_uniform(emb, (size_t)V * C, -1, 1);
    fill_targets(targets, N, V);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll[r], lse[r], x, hs_table_f32(emb), targets, N, C, V),
                         0);
        assert_int_equal(hs_cpu_backend.lm_head_nll_backward(ctx, dx[r], x, hs_table_f32(emb), targets, lse[r],
                                                             0.5f, N, C, V),
                         0);
    }
    assert_memory_equal(nll[0], nll[1], sizeof nll[0]);
    assert_memory_equal(lse[0], lse[1], sizeof lse[0]);
    assert_memory_equal(dx[0], dx[1], sizeof dx[0]);
    free(x);
    free(emb);
}

static void test_lm_head_rejects_bad_targets(void **state)
{
    hs_backend_ctx *ctx = *state;
    float x[8] = {0}, emb[40] = {0}, nll[2], lse[2] = {0}, dx[8];
    int32_t targets[2] = {3, 10};
    assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, 2, 4, 10), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "target 10 at row 1"));
    assert_int_equal(
        hs_cpu_backend.lm_head_nll_backward(ctx, dx, x, hs_table_f32(emb), targets, lse, 1.0f, 2, 4, 10), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "outside the vocabulary"));
    targets[1] = 1;
    assert_int_equal(
        hs_cpu_backend.lm_head_nll_backward(ctx, dx, x, hs_table_f32(emb), targets, NULL, 1.0f, 2, 4, 10), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "lse"));
    assert_int_equal(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, 2, 4, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "V=0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lm_head_forward),
        cmocka_unit_test(test_lm_head_backward),
        cmocka_unit_test(test_lm_head_repeatable),
        cmocka_unit_test(test_lm_head_rejects_bad_targets),
    };
    return cmocka_run_group_tests_name("kernels_lm_head", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
