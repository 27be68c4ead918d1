/* CPU backend gelu and gelu_backward (docs/model-families.md "GELU").
 * - forward against 0.5·x·(1 + tanh(0.79788456·x·(1 + 0.044715·x²))) in double; and bit for bit
 *   against HF's op-by-op fp32 order written out here with volatile intermediates (no FMA),
 *   tanh being the correctly rounded fp32 tanh, (float)tanh((double)t);
 * - backward against central finite differences (in double, step 1e-5) of that double forward,
 *   and bit for bit against HF's bloom_gelu_back op order in fp32 (same tanh). */
#include "test_kernels_common.h"

#include <string.h>

static double gelu_double(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456 * x * (1.0 + 0.044715 * x * x)));
}

/* fp32 tanh, correctly rounded (PyTorch's CPU kernel uses Sleef's 1-ulp tanhf; glibc's tanhf is
 * off by one ulp on a few percent of inputs). */
static float tanh_fp32(float t)
{
    return (float)tanh((double)t);
}

/* HF bloom_gelu_forward, one fp32 rounding per Python operation. */
static float gelu_hf_fp32(float x)
{
    volatile float t1 = x * 0.5f;
    volatile float t2 = 0.79788456f * x;
    volatile float t3a = 0.044715f * x;
    volatile float t3 = t3a * x;
    volatile float t4 = 1.0f + t3;
    volatile float t5 = t2 * t4;
    volatile float t6 = tanh_fp32(t5);
    volatile float t7 = 1.0f + t6;
    return t1 * t7;
}

/* HF bloom_gelu_back: tanh_out = tanh(0.79788456*x*(1 + 0.044715*x*x));
 * ff = 0.5*x*((1 - tanh_out*tanh_out)*(0.79788456 + 0.1070322243*x*x)) + 0.5*(1 + tanh_out) */
static float gelu_back_hf_fp32(float x, float g)
{
    volatile float a = 0.79788456f * x;
    volatile float b1 = 0.044715f * x;
    volatile float b = b1 * x;
    volatile float c = 1.0f + b;
    volatile float e = a * c;
    volatile float t = tanh_fp32(e);
    volatile float hx = 0.5f * x;
    volatile float tt = t * t;
    volatile float omt = 1.0f - tt;
    volatile float p1 = 0.1070322243f * x;
    volatile float p = p1 * x;
    volatile float poly = 0.79788456f + p;
    volatile float prod = omt * poly;
    volatile float left = hx * prod;
    volatile float opt = 1.0f + t;
    volatile float right = 0.5f * opt;
    volatile float ff = left + right;
    return ff * g;
}

static float *make_inputs(size_t n)
{
    float *x = test_alloc(n * sizeof(float));
    test_fill_uniform(x, n, -8, 8);
    /* exact points and the region where 1 + tanh cancels */
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 3.0f, -3.0f, -5.5f, 10.0f, -10.0f, 1e-4f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && i < n; i++)
        x[i] = special[i];
    return x;
}

static void test_gelu_forward(void **state)
{
    hs_backend_ctx *ctx = *state;
    const size_t sizes[] = {1, 7, 100003}; /* the last one takes the OpenMP path */
    test_rng_seed(31);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *x = make_inputs(n), *y = test_alloc(n * sizeof(float));
        assert_int_equal(hs_cpu_backend.gelu(ctx, y, x, n, HS_GELU_TANH), 0);
        double worst = 0.0;
        size_t not_bit_exact = 0;
        for (size_t i = 0; i < n; i++) {
            double want = gelu_double(x[i]);
            /* fp32 evaluation: a few ulps of the 0.5·x scale (1 + tanh cancels for x << 0) */
            double tol = 8 * 0x1p-24 * (0.5 * fabs(x[i]) + fabs(want)) + 1e-30;
            double diff = fabs((double)y[i] - want);
            if (!(diff <= tol))
                fail_msg("gelu(%.9g): got %.9g want %.9g", (double)x[i], (double)y[i], want);
            if (diff > worst)
                worst = diff;
            float hf = gelu_hf_fp32(x[i]);
            if (memcmp(&hf, &y[i], sizeof hf) != 0)
                not_bit_exact++;
        }
        assert_int_equal(not_bit_exact, 0);
        print_message("gelu n=%zu: max |err| vs double %.3g, bit-exact with HF fp32 op order\n",
                      n, worst);
        /* in place */
        assert_int_equal(hs_cpu_backend.gelu(ctx, x, x, n, HS_GELU_TANH), 0);
        assert_memory_equal(x, y, n * sizeof(float));
        free(x);
        free(y);
    }
}

static void test_gelu_backward(void **state)
{
    hs_backend_ctx *ctx = *state;
    const size_t sizes[] = {1, 9, 70001};
    test_rng_seed(32);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *x = make_inputs(n), *g = test_alloc(n * sizeof(float));
        float *dx = test_alloc(n * sizeof(float));
        test_fill_uniform(g, n, -2, 2);
        assert_int_equal(hs_cpu_backend.gelu_backward(ctx, dx, x, g, n, HS_GELU_TANH), 0);
        double worst = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double h = 1e-5;
            double fd = (gelu_double((double)x[i] + h) - gelu_double((double)x[i] - h)) / (2 * h);
            double want = fd * g[i];
            /* fp32 error of 0.5·x·(1 − t²)·poly grows like |x|³ (1 − t² cancels); the finite
             * difference contributes ~1e-10 */
            double ax = fabs(x[i]);
            double tol = 1e-6 * (1.0 + ax * ax * ax) * fabs(g[i]) + 1e-9;
            double diff = fabs((double)dx[i] - want);
            if (!(diff <= tol))
                fail_msg("gelu'(%.9g)·%.6g: got %.9g want %.9g", (double)x[i], (double)g[i],
                         (double)dx[i], want);
            if (diff > worst)
                worst = diff;
            float hf = gelu_back_hf_fp32(x[i], g[i]);
            if (memcmp(&hf, &dx[i], sizeof hf) != 0)
                fail_msg("gelu_backward(%.9g) not bit-exact with HF order: %.9g vs %.9g",
                         (double)x[i], (double)dx[i], (double)hf);
        }
        print_message("gelu_backward n=%zu: max |err| vs finite differences %.3g\n", n, worst);
        free(x);
        free(g);
        free(dx);
    }
}

/* The exact GELU x·Φ(x) written here from its definition with long double erfl, and its
 * derivative Φ(x) + x·φ(x) checked against central differences of that reference. */
static long double erf_gelu_ref(long double x)
{
    return 0.5L * x * erfcl(-x / sqrtl(2.0L));
}

static void test_gelu_erf(void **state)
{
    hs_backend_ctx *ctx = *state;
    const size_t n = 50001;
    test_rng_seed(33);
    float *x = make_inputs(n), *y = test_alloc(n * sizeof(float));
    float *g = test_alloc(n * sizeof(float)), *dx = test_alloc(n * sizeof(float));
    test_fill_uniform(g, n, -2, 2);
    assert_int_equal(hs_cpu_backend.gelu(ctx, y, x, n, HS_GELU_ERF), 0);
    assert_int_equal(hs_cpu_backend.gelu_backward(ctx, dx, x, g, n, HS_GELU_ERF), 0);
    double worst_f = 0.0, worst_b = 0.0;
    for (size_t i = 0; i < n; i++) {
        long double xi = x[i];
        long double want = erf_gelu_ref(xi);
        /* one fp32 rounding of the exact value: half an ulp, plus double's error */
        double tol = 0.5 * fabs((double)(nextafterf((float)want, INFINITY) - (float)want)) + 1e-30;
        double diff = fabsl((long double)y[i] - want);
        if (!(diff <= tol * 1.01))
            fail_msg("erf gelu(%.9g): got %.9g want %.12Lg", (double)x[i], (double)y[i], want);
        if (diff > worst_f)
            worst_f = diff;
        const long double h = 1e-6L;
        long double fd = (erf_gelu_ref(xi + h) - erf_gelu_ref(xi - h)) / (2 * h);
        double wantb = (double)(fd * g[i]);
        double tolb = 2e-7 * (fabs(wantb) + fabs(g[i])) + 1e-9;
        double diffb = fabs((double)dx[i] - wantb);
        if (!(diffb <= tolb))
            fail_msg("erf gelu'(%.9g)·%.6g: got %.9g want %.9g", (double)x[i], (double)g[i],
                     (double)dx[i], wantb);
        if (diffb > worst_b)
            worst_b = diffb;
    }
    /* the variants differ: the tanh form is an approximation of this one */
    float t = 0.0f, e = 0.0f, one = 1.0f;
    assert_int_equal(hs_cpu_backend.gelu(ctx, &t, &one, 1, HS_GELU_TANH), 0);
    assert_int_equal(hs_cpu_backend.gelu(ctx, &e, &one, 1, HS_GELU_ERF), 0);
    assert_true(t != e);
    print_message("erf gelu n=%zu: max |err| %.3g (forward), %.3g (backward vs differences)\n",
                  n, worst_f, worst_b);
    free(x);
    free(y);
    free(g);
    free(dx);
}

static void test_gelu_rejects_null(void **state)
{
    hs_backend_ctx *ctx = *state;
    float x = 1.0f;
    assert_int_equal(hs_cpu_backend.gelu(ctx, NULL, &x, 1, HS_GELU_TANH), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "out is NULL"));
    assert_int_equal(hs_cpu_backend.gelu_backward(ctx, &x, &x, NULL, 1, HS_GELU_ERF), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "dout is NULL"));
    assert_int_equal(hs_cpu_backend.gelu(ctx, &x, &x, 1, (hs_gelu_kind)7), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "unknown GELU variant"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_forward),
        cmocka_unit_test(test_gelu_backward),
        cmocka_unit_test(test_gelu_erf),
        cmocka_unit_test(test_gelu_rejects_null),
    };
    return cmocka_run_group_tests_name("kernels_gelu", tests, test_setup_cpu, test_teardown_cpu);
}
