/* CPU backend matmul and bias_backward against a naive double-precision GEMM written here:
 * every combination of transposes, tight and padded leading dimensions, alpha/beta, with and
 * without bias, shapes that are not multiples of any block size; plus argument errors.
 * Tolerance: |got − ref| <= 1e-5·(|alpha|·Σ_k|a·b| + |bias| + 1) (|beta·c0| <= 1), above the
 * fp32 dot-product error bound K·eps·Σ|a·b| (eps = 2^-24; K <= 65 → 3.9e-6; for the one
 * K = 300 shape the bound is 1.8e-5 but blocked sums grow like sqrt(K)·eps in practice). */
#include "test_gemm_case.h"

#include <string.h>

static const gemm_shape shapes[] = {{1, 1, 1},     {7, 5, 3},  {33, 17, 65}, {64, 130, 37},
                                     {3, 67, 1},    {1, 67, 33}, /* one row: the sgemv path */
                                     {1, 4099, 600}, /* one row cut into column panels */
                                     /* few rows against a transposed B (decode steps), K not
                                      * a multiple of any vector width, then one row past the
                                      * few-rows limit */
                                     {16, 37, 83},  {9, 6, 17}, {17, 11, 40}};

/* A stored [rows_a, cols_a] with lda: element op(A)(i,k). */
static double op_elem(const float *x, int ld, bool trans, int i, int k)
{
    return trans ? x[(size_t)k * ld + i] : x[(size_t)i * ld + k];
}

static void run_case(hs_backend_ctx *ctx, gemm_shape s, bool ta, bool tb, bool with_bias,
                     float alpha, float beta, int pad, double *worst_rel)
{
    const int M = s.M, N = s.N, K = s.K;
    gemm_case g;
    gemm_case_make(&g, s, ta, tb, beta, pad);
    const int lda = g.lda, ldb = g.ldb, ldc = g.ldc;
    float *a = g.a, *b = g.b, *c = g.c, *bias = g.bias;
    double *ref = test_alloc(sizeof(double) * (size_t)M * N);

    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double dot = 0.0;
            for (int k = 0; k < K; k++)
                dot += op_elem(a, lda, ta, i, k) * op_elem(b, ldb, tb, k, j);
            /* beta = 0 means C is not read: it holds NaN then */
            double c0 = beta == 0.0f ? 0.0 : c[(size_t)i * ldc + j];
            ref[(size_t)i * N + j] = alpha * dot + beta * c0 + (with_bias ? bias[j] : 0.0);
        }

    int rc = hs_cpu_backend.matmul(ctx, c, a, b, with_bias ? bias : NULL, M, N, K, ta, tb, lda,
                                   ldb, ldc, alpha, beta);
    assert_int_equal(rc, 0);

    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double mag = 0.0;
            for (int k = 0; k < K; k++)
                mag += fabs(op_elem(a, lda, ta, i, k) * op_elem(b, ldb, tb, k, j));
            double scale = fabs(alpha) * mag + (with_bias ? fabs(bias[j]) : 0.0) + 1.0;
            double got = c[(size_t)i * ldc + j];
            double diff = fabs(got - ref[(size_t)i * N + j]);
            if (!(diff <= 1e-5 * scale))
                fail_msg("M=%d N=%d K=%d ta=%d tb=%d bias=%d alpha=%g beta=%g pad=%d: C[%d,%d] "
                         "got %.9g want %.9g",
                         M, N, K, ta, tb, with_bias, (double)alpha, (double)beta, pad, i, j, got,
                         ref[(size_t)i * N + j]);
            if (diff / scale > *worst_rel)
                *worst_rel = diff / scale;
        }
    gemm_case_finish(&g); /* padding untouched */
    free(ref);
}

static void test_matmul_all_combinations(void **state)
{
    hs_backend_ctx *ctx = *state;
    const float alphas[] = {1.0f, 0.5f, -2.0f};
    const float betas[] = {0.0f, 1.0f, -0.75f};
    double worst = 0.0;
    int cases = 0;
    test_rng_seed(11);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bias = 0; bias < 2; bias++)
                    for (int ab = 0; ab < 3; ab++)
                        for (int pad = 0; pad <= 3; pad += 3) {
                            run_case(ctx, shapes[si], ta, tb, bias, alphas[ab], betas[ab], pad,
                                     &worst);
                            cases++;
                        }
    /* sizes past the backend's parallel threshold (2^21 multiply-adds): one wider than tall
     * (cut into column panels) and one taller than wide (cut into row panels) */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            run_case(ctx, (gemm_shape){150, 260, 300}, ta, tb, true, 0.5f, 1.0f, 5, &worst);
            run_case(ctx, (gemm_shape){600, 70, 64}, ta, tb, true, 0.5f, 1.0f, 5, &worst);
            /* a batch-8 decode step's linear layer, cut into column panels */
            run_case(ctx, (gemm_shape){8, 1029, 300}, ta, tb, true, 1.0f, 0.0f, 0, &worst);
            cases += 3;
        }
    print_message("matmul: %d cases, worst |err|/scale %.3g (tolerance 1e-5)\n", cases, worst);
}

/* Each vector variant of the few-rows GEMM this CPU runs (the matmul above only reaches the
 * widest), called directly: every row count up to the limit, K around each vector width (the
 * masked tail), N around the block of four B rows, with alpha/beta. Operands are allocated to
 * their exact size, so a read past a row's end is a sanitizer report. */
static void test_few_rows_each_variant(void **state)
{
    (void)state;
    const hs_cpu_few_rows_isa variants[] = {HS_CPU_FEW_ROWS_AVX2, HS_CPU_FEW_ROWS_AVX512};
    const char *names[] = {"AVX2+FMA", "AVX-512F"};
    const int Ks[] = {1, 7, 8, 9, 15, 16, 17, 33, 250};
    const int Ns[] = {1, 3, 4, 5, 9};
    int ran = 0;
    test_rng_seed(14);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        if (!hs_cpu_few_rows_isa_available(variants[v])) {
            print_message("few rows: %s not on this CPU, skipped\n", names[v]);
            continue;
        }
        double worst = 0.0;
        int cases = 0;
        for (int M = 1; M <= HS_CPU_FEW_ROWS_MAX; M++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
                    const int N = Ns[ni], K = Ks[ki];
                    const float alpha = cases % 2 ? 0.5f : 1.0f, beta = cases % 3 ? 0.0f : -0.75f;
                    double w = gemm_case_few_rows(variants[v], false, NULL, (gemm_shape){M, N, K},
                                                  alpha, beta, cases % 2, 1e-5, names[v]);
                    worst = w > worst ? w : worst;
                    cases++;
                }
        /* outside 1..HS_CPU_FEW_ROWS_MAX it declines and leaves C alone */
        float one = 1.0f, c = 7.0f;
        assert_false(hs_cpu_gemm_few_rows_with(variants[v], false, HS_CPU_FEW_ROWS_MAX + 1, 1, 1,
                                               1.0f, &one, 1, &one, 1, 0.0f, &c, 1));
        assert_true(c == 7.0f);
        print_message("few rows %s: %d cases, worst |err|/scale %.3g (tolerance 1e-5)\n",
                      names[v], cases, worst);
        ran++;
    }
    if (ran == 0)
        print_message("few rows: no vector variant on this CPU; matmul takes OpenBLAS for them\n");
}

/* nn.Linear as ops.h spells it: y = x·Wᵀ + b with W stored [out, in]. */
static void test_matmul_linear_layer(void **state)
{
    hs_backend_ctx *ctx = *state;
    enum { ROWS = 9, IN = 24, OUT = 13 };
    float x[ROWS * IN], w[OUT * IN], bias[OUT], y[ROWS * OUT];
    test_rng_seed(12);
    test_fill_uniform(x, ROWS * IN, -1, 1);
    test_fill_uniform(w, OUT * IN, -1, 1);
    test_fill_uniform(bias, OUT, -1, 1);
    assert_int_equal(hs_cpu_backend.matmul(ctx, y, x, w, bias, ROWS, OUT, IN, false, true, IN, IN,
                                           OUT, 1.0f, 0.0f),
                     0);
    double ref[ROWS * OUT];
    for (int r = 0; r < ROWS; r++)
        for (int o = 0; o < OUT; o++) {
            double s = bias[o];
            for (int i = 0; i < IN; i++)
                s += (double)x[r * IN + i] * w[o * IN + i];
            ref[r * OUT + o] = s;
        }
    test_assert_close("linear y", y, ref, ROWS * OUT, 2e-5, 1e-5);
}

static void test_bias_backward(void **state)
{
    hs_backend_ctx *ctx = *state;
    const int dims[][3] = {{1, 1, 1}, {5, 7, 9}, {300, 517, 520}};
    test_rng_seed(13);
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        int M = dims[t][0], N = dims[t][1], ld = dims[t][2];
        float *dout = test_alloc(sizeof(float) * (size_t)M * ld);
        float *db = test_alloc(sizeof(float) * (size_t)N);
        double *ref = test_alloc(sizeof(double) * (size_t)N);
        test_fill_uniform(dout, (size_t)M * ld, -1, 1);
        test_fill_uniform(db, (size_t)N, -1, 1);
        for (int j = 0; j < N; j++) {
            ref[j] = db[j]; /* accumulates */
            for (int i = 0; i < M; i++)
                ref[j] += dout[(size_t)i * ld + j];
        }
        assert_int_equal(hs_cpu_backend.bias_backward(ctx, db, dout, M, N, ld), 0);
        double worst = test_assert_close("db", db, ref, (size_t)N, 1e-5, 1e-6);
        print_message("bias_backward M=%d N=%d ld=%d: max |err| %.3g\n", M, N, ld, worst);
        free(dout);
        free(db);
        free(ref);
    }
}

static void test_matmul_rejects_bad_arguments(void **state)
{
    hs_backend_ctx *ctx = *state;
    float a[16] = {0}, b[16] = {0}, c[16] = {0};
    /* lda below K for a non-transposed A */
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, a, b, NULL, 2, 2, 4, false, false, 3, 2, 2, 1, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "lda=3"));
    /* ldb below K for a transposed B */
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, a, b, NULL, 2, 2, 4, false, true, 4, 3, 2, 1, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "ldb=3"));
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, a, b, NULL, 2, 3, 2, false, false, 2, 3, 2, 1, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "ldc=2"));
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, a, b, NULL, -1, 2, 2, false, false, 2, 2, 2, 1, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "M=-1"));
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, NULL, b, NULL, 2, 2, 2, false, false, 2, 2, 2, 1, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "A is NULL"));
    assert_int_equal(hs_cpu_backend.bias_backward(ctx, c, a, 2, 4, 3), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "ld=3"));
    /* empty products are a successful no-op */
    assert_int_equal(
        hs_cpu_backend.matmul(ctx, c, a, b, NULL, 0, 2, 2, false, false, 2, 2, 2, 1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_all_combinations),
        cmocka_unit_test(test_few_rows_each_variant),
        cmocka_unit_test(test_matmul_linear_layer),
        cmocka_unit_test(test_bias_backward),
        cmocka_unit_test(test_matmul_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("kernels_matmul", tests, test_setup_cpu, test_teardown_cpu);
}
