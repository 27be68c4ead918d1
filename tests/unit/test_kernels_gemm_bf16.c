/* CPU backend in bf16 precision (set_precision(HS_PRECISION_BF16), oneDNN matmul):
 * - the fp32 → bf16 rounding on chosen bit patterns (ties to even, carries into the exponent,
 *   overflow to infinity, infinities, NaNs that truncation would turn into infinities,
 *   subnormals);
 * - matmul against a double-precision GEMM of the inputs rounded to bf16 by this test's own
 *   rounding (rint on a scaled double, independent of the code under test), every combination
 *   of transposes, tight and padded leading dimensions, alpha/beta, with and without bias,
 *   more distinct shapes than the primitive cache holds. The only difference left is fp32
 *   accumulation order: |got − ref| <= 1e-6·(|alpha|·Σ_k|a·b| + |bias| + 1) (|beta·c0| <= 1);
 *   rounding the inputs moves results by ~2^-9 relative, so the test also checks that the
 *   result is NOT within that tolerance of the unrounded product (bf16 really happened);
 * - lm_head_nll, whose chunk GEMMs run inside the LM head's OpenMP region, against the same
 *   kind of reference, and its gradient against fp32's at bf16 precision; two threads running
 *   bf16 GEMMs of the same shape at once each get their own product;
 * - set_precision back to fp32 gives bit-identical fp32 results, unknown precisions are
 *   refused with a reason;
 * - the few-rows vector kernel's rounding of B in registers (decode-step shapes), per variant. */
#include "test_gemm_case.h"

#include "cpu/cpu_bf16.h"

#include <omp.h>
#include <string.h>

static bool have_bf16(void)
{
    return (hs_cpu_backend.caps.precisions & (1u << HS_PRECISION_BF16)) != 0;
}

/* The test's own round-to-nearest-even to 8 significant bits (bf16), through double. */
static double ref_bf16(float x)
{
    if (!isfinite(x) || x == 0.0f)
        return x;
    int e = ilogb(x);
    if (e < -126) /* fp32/bf16 subnormals share the exponent floor */
        e = -126;
    double q = rint(ldexp((double)x, 7 - e)); /* rint: ties to even in the default mode */
    double r = ldexp(q, e - 7);
    return (double)(float)r; /* past the largest bf16 the float conversion gives infinity */
}

static void test_rounding_bit_patterns(void **state)
{
    (void)state;
    const struct {
        uint32_t in;
        uint16_t want;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 exact */
        {0x3f808000u, 0x3f80}, /* tie, kept lsb even: down */
        {0x3f818000u, 0x3f82}, /* tie, kept lsb odd: up */
        {0x3f807fffu, 0x3f80}, /* just below the tie */
        {0x3f808001u, 0x3f81}, /* just above the tie */
        {0xbf818000u, 0xbf82}, /* negative tie, odd: away from zero in magnitude */
        {0x3fffffffu, 0x4000}, /* carry into the exponent */
        {0x7f7f7fffu, 0x7f7f}, /* largest bf16 stays */
        {0x7f7f8000u, 0x7f80}, /* tie above the largest bf16, odd lsb: infinity */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to infinity */
        {0x7f800000u, 0x7f80}, /* +inf */
        {0xff800000u, 0xff80}, /* −inf */
        {0x00008000u, 0x0000}, /* subnormal tie, even: zero */
        {0x00018000u, 0x0002}, /* subnormal tie, odd: up */
        {0x80000000u, 0x8000}, /* −0 keeps its sign */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = hs_cpu_bf16_from_f32(tu_bits_float(cases[i].in));
        if (got != cases[i].want)
            fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].want);
        /* the test's reference rounding agrees on the finite cases */
        double back = hs_cpu_f32_from_bf16(got);
        if (isfinite(tu_bits_float(cases[i].in)))
            assert_true(back == ref_bf16(tu_bits_float(cases[i].in)));
    }
    /* NaNs whose payload lies only in the dropped bits: truncation would give an infinity */
    const uint32_t nans[] = {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7f80ffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t got = hs_cpu_bf16_from_f32(tu_bits_float(nans[i]));
        assert_true(isnan(hs_cpu_f32_from_bf16(got)));
        assert_int_equal(got >> 15, nans[i] >> 31); /* sign kept */
    }
    /* random values: the bit trick and the reference rounding agree */
    test_rng_seed(21);
    for (int i = 0; i < 100000; i++) {
        float x = (float)(test_rng_uniform(-1, 1) * ldexp(1.0, test_rng_int(60) - 30));
        double want = ref_bf16(x);
        double got = hs_cpu_f32_from_bf16(hs_cpu_bf16_from_f32(x));
        if (got != want)
            fail_msg("bf16(%a) = %a, reference %a", (double)x, got, want);
    }
}

/* The rounding the few-rows vector kernel does in registers (cpu_gemm_few_rows.c, B stored
 * [N,K] with at most HS_CPU_FEW_ROWS_MAX rows), each variant this CPU runs, without oneDNN:
 * C = 1·B through the masked tail (K = 1) and through the full-vector loop (K = 16, A one-hot)
 * is B rounded, equal to hs_cpu_bf16_from_f32 on ties, carries, overflow, infinities,
 * subnormals, NaNs and random values; then few-row products against the double reference of
 * the rounded inputs (A comes rounded, as the caller passes it). */
static void test_few_rows_rounding_each_variant(void **state)
{
    (void)state;
    const hs_cpu_few_rows_isa variants[] = {HS_CPU_FEW_ROWS_AVX2, HS_CPU_FEW_ROWS_AVX512};
    const char *names[] = {"AVX2+FMA", "AVX-512F"};
    enum { PATTERNS = 2048, LANES = 16 };
    static const uint32_t special[] = {
        0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0xbf818000u,
        0x3fffffffu, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu, 0x7f800000u, 0xff800000u,
        0x00008000u, 0x00018000u, 0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7f80ffffu};
    const size_t n_special = sizeof special / sizeof special[0];
    float *b = test_alloc(sizeof(float) * PATTERNS);
    float *b16 = test_alloc(sizeof(float) * PATTERNS * LANES);
    float *c = test_alloc(sizeof(float) * PATTERNS);
    test_rng_seed(23);
    for (int j = 0; j < PATTERNS; j++)
        b[j] = (size_t)j < n_special
                   ? tu_bits_float(special[j])
                   : (float)(test_rng_uniform(-1, 1) * ldexp(1.0, test_rng_int(60) - 30));
    int ran = 0;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        if (!hs_cpu_few_rows_isa_available(variants[v])) {
            print_message("few rows bf16: %s not on this CPU, skipped\n", names[v]);
            continue;
        }
        for (int lane = -1; lane < LANES; lane += 5) { /* -1: K = 1, else one-hot at lane */
            int K = lane < 0 ? 1 : LANES;
            float a[LANES] = {0};
            a[lane < 0 ? 0 : lane] = 1.0f;
            for (int j = 0; j < PATTERNS; j++)
                for (int k = 0; k < K; k++)
                    b16[(size_t)j * K + k] = k == (lane < 0 ? 0 : lane) ? b[j] : 0.0f;
            assert_true(hs_cpu_gemm_few_rows_with(variants[v], true, 1, PATTERNS, K, 1.0f, a, K,
                                                  b16, K, 0.0f, c, PATTERNS));
            for (int j = 0; j < PATTERNS; j++) {
                float want = hs_cpu_f32_from_bf16(hs_cpu_bf16_from_f32(b[j]));
                bool same = isnan(want) ? isnan(c[j]) && signbit(c[j]) == signbit(want)
                                        : c[j] == want;
                if (!same)
                    fail_msg("%s K=%d: bf16(0x%08x) gave %a, want %a", names[v], K,
                             (unsigned)tu_float_bits(b[j]), (double)c[j], (double)want);
            }
        }
        const int Ks[] = {1, 15, 16, 33, 100}, Ns[] = {1, 4, 7};
        double worst = 0.0;
        for (int M = 1; M <= HS_CPU_FEW_ROWS_MAX; M++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
                    float beta = (ki + ni) % 2 ? 0.0f : 0.5f; /* 0: C is not read */
                    double w = gemm_case_few_rows(variants[v], true, ref_bf16,
                                                  (gemm_shape){M, Ns[ni], Ks[ki]}, -2.0f, beta,
                                                  (int)(ni % 2), 1e-6, names[v]);
                    worst = w > worst ? w : worst;
                }
        print_message("few rows bf16 %s: %d bit patterns, products worst |err|/scale %.3g "
                      "(tolerance 1e-6)\n", names[v], PATTERNS, worst);
        ran++;
    }
    if (ran == 0)
        print_message("few rows bf16: no vector variant on this CPU\n");
    free(b);
    free(b16);
    free(c);
}

/* M <= 4 with K <= 4096 is the direct few-rows loop, the rest oneDNN's matmul */
static const gemm_shape shapes[] = {{1, 1, 1},    {7, 5, 3},     {33, 17, 65}, {64, 130, 37},
                                     {3, 67, 1},   {1, 67, 33},   {1, 4099, 600},
                                     {4, 300, 130}, {2, 9, 4100}, {5, 40, 20}};

static double op_elem(const float *x, int ld, bool trans, int i, int k, bool rounded)
{
    float v = trans ? x[(size_t)k * ld + i] : x[(size_t)i * ld + k];
    return rounded ? ref_bf16(v) : v;
}

/* One bf16 matmul; returns whether the result also lies within tolerance of the product of
 * the unrounded inputs (possible only for tiny or exactly representable cases). */
static bool run_case(hs_backend_ctx *ctx, gemm_shape s, bool ta, bool tb, bool with_bias,
                     float alpha, float beta, int pad, double *worst_rel)
{
    const int M = s.M, N = s.N, K = s.K;
    gemm_case g;
    gemm_case_make(&g, s, ta, tb, beta, pad);
    const int lda = g.lda, ldb = g.ldb, ldc = g.ldc;
    float *a = g.a, *b = g.b, *c = g.c, *bias = g.bias;
    double *ref = test_alloc(sizeof(double) * (size_t)M * N);
    double *unrounded = test_alloc(sizeof(double) * (size_t)M * N);
    double *scale = test_alloc(sizeof(double) * (size_t)M * N);

    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double dot = 0.0, dot_unrounded = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                double p = op_elem(a, lda, ta, i, k, true) * op_elem(b, ldb, tb, k, j, true);
                dot += p;
                mag += fabs(p);
                dot_unrounded +=
                    op_elem(a, lda, ta, i, k, false) * op_elem(b, ldb, tb, k, j, false);
            }
            double c0 = beta == 0.0f ? 0.0 : c[(size_t)i * ldc + j];
            double rest = beta * c0 + (with_bias ? bias[j] : 0.0);
            ref[(size_t)i * N + j] = alpha * dot + rest;
            unrounded[(size_t)i * N + j] = alpha * dot_unrounded + rest;
            scale[(size_t)i * N + j] = fabs(alpha) * mag + (with_bias ? fabs(bias[j]) : 0.0) + 1;
        }

    int rc = hs_cpu_backend.matmul(ctx, c, a, b, with_bias ? bias : NULL, M, N, K, ta, tb, lda,
                                   ldb, ldc, alpha, beta);
    if (rc != 0)
        fail_msg("bf16 matmul failed: %s", hs_cpu_backend.last_error(ctx));

    bool near_unrounded = true;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            size_t at = (size_t)i * N + j;
            double got = c[(size_t)i * ldc + j];
            double diff = fabs(got - ref[at]);
            if (!(diff <= 1e-6 * scale[at]))
                fail_msg("M=%d N=%d K=%d ta=%d tb=%d bias=%d alpha=%g beta=%g pad=%d: C[%d,%d] "
                         "got %.9g want %.9g",
                         M, N, K, ta, tb, with_bias, (double)alpha, (double)beta, pad, i, j, got,
                         ref[at]);
            if (diff / scale[at] > *worst_rel)
                *worst_rel = diff / scale[at];
            if (fabs(got - unrounded[at]) > 1e-6 * scale[at])
                near_unrounded = false;
        }
    gemm_case_finish(&g); /* padding untouched */
    free(ref);
    free(unrounded);
    free(scale);
    return near_unrounded;
}

static void test_matmul_bf16_all_combinations(void **state)
{
    hs_backend_ctx *ctx = *state;
    if (!have_bf16())
        skip(); /* built without oneDNN */
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_BF16), 0);
    const float alphas[] = {1.0f, 0.5f, -2.0f};
    const float betas[] = {0.0f, 1.0f, -0.75f};
    double worst = 0.0;
    int cases = 0, rounded_visibly = 0;
    test_rng_seed(22);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bias = 0; bias < 2; bias++)
                    for (int ab = 0; ab < 3; ab++)
                        for (int pad = 0; pad <= 3; pad += 3) {
                            if (!run_case(ctx, shapes[si], ta, tb, bias, alphas[ab], betas[ab],
                                          pad, &worst))
                                rounded_visibly++;
                            cases++;
                        }
    /* larger than oneDNN's blocking in every dimension, taller than wide and wider than tall */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            rounded_visibly += !run_case(ctx, (gemm_shape){150, 260, 300}, ta, tb, true, 0.5f,
                                         1.0f, 5, &worst);
            rounded_visibly += !run_case(ctx, (gemm_shape){600, 70, 64}, ta, tb, true, 0.5f,
                                         1.0f, 5, &worst);
            cases += 2;
        }
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_FP32), 0);
    print_message("bf16 matmul: %d cases (%d distinct from the unrounded product), worst "
                  "|err|/scale %.3g (tolerance 1e-6)\n",
                  cases, rounded_visibly, worst);
    /* only K = 1 products can stay within the tolerance of the unrounded ones */
    assert_true(rounded_visibly >= cases * 8 / 10);
}

/* After set_precision(FP32) the GEMM is OpenBLAS's again: bit-identical to a fresh context. */
static void test_precision_restores_fp32(void **state)
{
    hs_backend_ctx *ctx = *state;
    if (!have_bf16())
        skip();
    enum { M = 37, N = 53, K = 29 };
    float a[M * K], b[N * K], bias[N], c_before[M * N], c_bf16[M * N], c_after[M * N];
    test_rng_seed(23);
    test_fill_uniform(a, M * K, -1, 1);
    test_fill_uniform(b, N * K, -1, 1);
    test_fill_uniform(bias, N, -1, 1);
    assert_int_equal(hs_cpu_backend.matmul(ctx, c_before, a, b, bias, M, N, K, false, true, K, K,
                                           N, 1.0f, 0.0f),
                     0);
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_BF16), 0);
    assert_int_equal(hs_cpu_backend.matmul(ctx, c_bf16, a, b, bias, M, N, K, false, true, K, K, N,
                                           1.0f, 0.0f),
                     0);
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_FP32), 0);
    assert_int_equal(hs_cpu_backend.matmul(ctx, c_after, a, b, bias, M, N, K, false, true, K, K,
                                           N, 1.0f, 0.0f),
                     0);
    assert_memory_equal(c_before, c_after, sizeof c_before);
    assert_memory_not_equal(c_before, c_bf16, sizeof c_before);
}

static void test_set_precision_refuses_unknown(void **state)
{
    hs_backend_ctx *ctx = *state;
    assert_int_equal(hs_cpu_backend.set_precision(ctx, (hs_precision)7), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "unknown precision 7"));
    assert_int_equal(hs_cpu_backend.set_precision(ctx, (hs_precision)-1), -1);
    if (!have_bf16()) {
        assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_BF16), -1);
        assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "bf16"));
    }
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_FP32), 0);
}

/* lm_head_nll's chunk GEMMs run inside its OpenMP region, one bf16 GEMM per thread at the
 * same time: the NLL must be the log-softmax of the logits of the bf16-rounded x and emb, on
 * every call (two threads sharing oneDNN's library scratchpad gave NLLs off by ~1 nat from
 * call to call at N = 16, C = 128). V = 8192 at N <= 16 is two 4096-row chunks, one per
 * thread. */
static void lm_head_case(hs_backend_ctx *ctx, int N)
{
    enum { N_MAX = 16, C = 128, V = 8192, CALLS = 3 };
    assert_true(N <= N_MAX);
    float *x = test_alloc(sizeof(float) * N * C);
    float *emb = test_alloc(sizeof(float) * (size_t)V * C);
    double *emb_rounded = test_alloc(sizeof(double) * (size_t)V * C);
    int32_t targets[N_MAX];
    float nll[N_MAX], lse[N_MAX];
    double ref_nll[N_MAX], ref_lse[N_MAX], x_rounded[C];
    double *logits = test_alloc(sizeof(double) * V);
    test_rng_seed(24);
    test_fill_uniform(x, N * C, -1, 1);
    test_fill_uniform(emb, (size_t)V * C, -1, 1);
    for (size_t i = 0; i < (size_t)V * C; i++)
        emb_rounded[i] = ref_bf16(emb[i]);
    for (int n = 0; n < N; n++)
        targets[n] = n == 1 ? -1 : test_rng_int(V);
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++)
            x_rounded[c] = ref_bf16(x[n * C + c]);
        double m = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = 0.0;
            for (int c = 0; c < C; c++)
                s += x_rounded[c] * emb_rounded[(size_t)v * C + c];
            logits[v] = s;
            m = s > m ? s : m;
        }
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += exp(logits[v] - m);
        ref_lse[n] = m + log(sum);
        ref_nll[n] = targets[n] >= 0 ? ref_lse[n] - logits[targets[n]] : 0.0;
    }
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_BF16), 0);
    for (int call = 0; call < CALLS; call++) {
        int rc =
            hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, N, C, V);
        if (rc != 0)
            fail_msg("bf16 lm_head_nll failed: %s", hs_cpu_backend.last_error(ctx));
        /* logits are sums of 128 products of magnitude <= 1: fp32 order differences ~1e-5 */
        test_assert_close("bf16 lse", lse, ref_lse, N, 1e-4, 1e-6);
        test_assert_close("bf16 nll", nll, ref_nll, N, 1e-4, 1e-6);
    }

    /* The gradient, recomputed chunk by chunk (a copy of emb defeats the forward's memo): its
     * second GEMM rounds the softmax weights to bf16 as well, so it is compared with the fp32
     * gradient at bf16's precision: |Δ| <= 2^-7·max|dx_fp32| (a few bf16 ulps of the largest). */
    float *emb_copy = test_alloc(sizeof(float) * (size_t)V * C);
    float *dx_bf16 = test_alloc(sizeof(float) * N * C);
    float *dx_fp32 = test_alloc(sizeof(float) * N * C);
    double *dx_ref = test_alloc(sizeof(double) * N * C);
    memcpy(emb_copy, emb, sizeof(float) * (size_t)V * C);
    int rc = hs_cpu_backend.lm_head_nll_backward(ctx, dx_bf16, x, hs_table_f32(emb_copy), targets,
                                             lse, 0.5f, N, C, V);
    if (rc != 0)
        fail_msg("bf16 lm_head_nll_backward failed: %s", hs_cpu_backend.last_error(ctx));
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_FP32), 0);
    assert_int_equal(hs_cpu_backend.lm_head_nll_backward(ctx, dx_fp32, x, hs_table_f32(emb_copy),
                                                         targets, lse, 0.5f, N, C, V),
                     0);
    double largest = 0.0;
    for (int i = 0; i < N * C; i++) {
        dx_ref[i] = dx_fp32[i];
        largest = fabs(dx_ref[i]) > largest ? fabs(dx_ref[i]) : largest;
    }
    assert_true(largest > 0.0);
    double worst = test_assert_close("bf16 dx", dx_bf16, dx_ref, N * C, 0x1p-7 * largest, 0.0);
    assert_true(worst > 0.0); /* the bf16 path really ran */
    free(emb_copy);
    free(dx_bf16);
    free(dx_fp32);
    free(dx_ref);
    free(x);
    free(emb);
    free(emb_rounded);
    free(logits);
}

/* Two threads running the same bf16 GEMM shape at the same moment, as the LM head's threads
 * do with their chunks, each on its own data, 20 times each: every result must be its own
 * product (with oneDNN's shared library scratchpad they corrupted each other). */
static void test_concurrent_gemms(void **state)
{
    hs_backend_ctx *ctx = *state;
    if (!have_bf16())
        skip();
    enum { M = 16, N = 4096, K = 128, THREADS = 2, ROUNDS = 20 };
    float *a[THREADS], *b[THREADS], *c[THREADS];
    double *ref[THREADS];
    test_rng_seed(25);
    for (int t = 0; t < THREADS; t++) {
        a[t] = test_alloc(sizeof(float) * M * K);
        b[t] = test_alloc(sizeof(float) * (size_t)N * K);
        c[t] = test_alloc(sizeof(float) * (size_t)M * N);
        ref[t] = test_alloc(sizeof(double) * (size_t)M * N);
        test_fill_uniform(a[t], (size_t)M * K, -1, 1);
        test_fill_uniform(b[t], (size_t)N * K, -1, 1);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += ref_bf16(a[t][i * K + k]) * ref_bf16(b[t][(size_t)j * K + k]);
                ref[t][(size_t)i * N + j] = s;
            }
    }
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_BF16), 0);
    int bad_rc = 0, bad_value = 0;
#pragma omp parallel num_threads(THREADS) reduction(+ : bad_rc, bad_value)
    {
        int t = omp_get_thread_num();
        for (int round = 0; round < ROUNDS; round++) {
#pragma omp barrier
            bad_rc += hs_cpu_backend.matmul(ctx, c[t], a[t], b[t], NULL, M, N, K, false, true, K,
                                            K, N, 1.0f, 0.0f) != 0;
            for (size_t i = 0; i < (size_t)M * N; i++) /* |Σ a·b| <= 128: 1e-4 is ~1e-6·scale */
                bad_value += !(fabs(c[t][i] - ref[t][i]) <= 1e-4);
        }
    }
    assert_int_equal(hs_cpu_backend.set_precision(ctx, HS_PRECISION_FP32), 0);
    assert_int_equal(bad_rc, 0);
    if (bad_value)
        fail_msg("%d elements of concurrent bf16 GEMMs differ from their products", bad_value);
    for (int t = 0; t < THREADS; t++) {
        free(a[t]);
        free(b[t]);
        free(c[t]);
        free(ref[t]);
    }
}

/* N = 16 rows: oneDNN per chunk; N = 2: the few-rows loop (a decode step's shape). */
static void test_lm_head_bf16(void **state)
{
    if (!have_bf16())
        skip();
    lm_head_case(*state, 16);
    lm_head_case(*state, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding_bit_patterns),
        cmocka_unit_test(test_few_rows_rounding_each_variant),
        cmocka_unit_test(test_matmul_bf16_all_combinations),
        cmocka_unit_test(test_precision_restores_fp32),
        cmocka_unit_test(test_set_precision_refuses_unknown),
        cmocka_unit_test(test_lm_head_bf16),
        cmocka_unit_test(test_concurrent_gemms),
    };
    return cmocka_run_group_tests_name("kernels_gemm_bf16", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
