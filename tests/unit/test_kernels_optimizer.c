/* CPU backend adamw against a scalar double-precision implementation of torch.optim.AdamW's
 * update written here (decoupled decay p·(1 − lr·wd); m = β1·m + (1−β1)·g;
 * v = β2·v + (1−β2)·g²; p −= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)), over several steps with
 * fresh gradients, including zero gradients and the OpenMP-sized path. */
#include "test_kernels_common.h"

#include <string.h>

static void adamw_reference(double *p, const float *g, double *m, double *v, size_t n, double lr,
                            double b1, double b2, double eps, double wd, int step)
{
    double bc1 = 1.0 - pow(b1, step), bc2 = 1.0 - pow(b2, step);
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1.0 - lr * wd;
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * (double)g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

static void run_adamw(hs_backend_ctx *ctx, size_t n, float lr, float wd, int steps)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float *p = test_alloc(n * 4), *g = test_alloc(n * 4), *m = test_alloc(n * 4),
          *v = test_alloc(n * 4);
    double *pr = test_alloc(n * 8), *mr = test_alloc(n * 8), *vr = test_alloc(n * 8);
    test_fill_uniform(p, n, -1, 1);
    for (size_t i = 0; i < n; i++)
        pr[i] = p[i];
    float first_before = p[0];
    double ep = 0, em = 0, ev = 0;
    for (int step = 1; step <= steps; step++) {
        test_fill_uniform(g, n, -0.1, 0.1);
        if (n > 3)
            g[3] = 0.0f; /* an element that never moves by gradient: v stays 0 */
        float bc1 = (float)(1.0 - pow(b1, step)), bc2 = (float)(1.0 - pow(b2, step));
        assert_int_equal(hs_cpu_backend.adamw(ctx, p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2),
                         0);
        adamw_reference(pr, g, mr, vr, n, lr, b1, b2, eps, wd, step);
        /* parameters O(1), each step moves them by <= ~lr: fp32 keeps 1e-6 absolute over these
         * few steps; v (a sum of positive terms) is good to 1e-5 relative; m sums signed
         * gradients |g| <= 0.1 and may cancel, so its bound is absolute: 1e-6·max|g| */
        double e1 = test_assert_close("adamw param", p, pr, n, 1e-6, 0);
        double e2 = test_assert_close("adamw m", m, mr, n, 1e-7, 0);
        double e3 = test_assert_close("adamw v", v, vr, n, 1e-12, 1e-5);
        ep = e1 > ep ? e1 : ep, em = e2 > em ? e2 : em, ev = e3 > ev ? e3 : ev;
    }
    /* the comparison is not vacuous: the parameter moved by about lr per step */
    assert_true(fabs((double)p[0] - first_before) > 0.1 * lr);
    print_message("adamw n=%zu lr=%g wd=%g, %d steps: max |err| param %.3g m %.3g v %.3g\n", n,
                  (double)lr, (double)wd, steps, ep, em, ev);
    free(p), free(g), free(m), free(v), free(pr), free(mr), free(vr);
}

static void test_adamw_matches_torch_formula(void **state)
{
    hs_backend_ctx *ctx = *state;
    test_rng_seed(61);
    run_adamw(ctx, 1, 1e-3f, 0.0f, 3);
    run_adamw(ctx, 37, 1e-2f, 0.1f, 6);
    run_adamw(ctx, 100003, 3e-4f, 0.01f, 4);
}

static void test_adamw_rejects_bad_arguments(void **state)
{
    hs_backend_ctx *ctx = *state;
    float x[4] = {0};
    assert_int_equal(hs_cpu_backend.adamw(ctx, x, x, NULL, x, 4, 1e-3f, 0.9f, 0.999f, 1e-8f, 0,
                                          0.1f, 0.001f),
                     -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "m is NULL"));
    assert_int_equal(
        hs_cpu_backend.adamw(ctx, x, x, x, x, 4, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0.0f, 0.001f), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "bc1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_matches_torch_formula),
        cmocka_unit_test(test_adamw_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("kernels_optimizer", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
