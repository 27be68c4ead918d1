/* CPU backend layernorm and layernorm_backward. Forward against a double-precision LayerNorm
 * written here (biased variance, eps inside the root); backward against central finite
 * differences (step 1e-6, in double) of that double forward for L = Σ r⊙y with a random r,
 * checking that din/dw/db accumulate (+=). Tolerances are stated per check. */
#include "test_kernels_common.h"

#include <string.h>

static void reference_layernorm(double *y, double *mean, double *rstd, const double *x,
                                const double *w, const double *b, int N, int C, double eps)
{
    for (int n = 0; n < N; n++) {
        const double *row = x + (size_t)n * C;
        double mu = 0.0;
        for (int c = 0; c < C; c++)
            mu += row[c];
        mu /= C;
        double var = 0.0;
        for (int c = 0; c < C; c++)
            var += (row[c] - mu) * (row[c] - mu);
        var /= C;
        double rs = 1.0 / sqrt(var + eps);
        if (mean)
            mean[n] = mu;
        if (rstd)
            rstd[n] = rs;
        for (int c = 0; c < C; c++)
            y[(size_t)n * C + c] = (row[c] - mu) * rs * w[c] + b[c];
    }
}

static double *to_double(const float *x, size_t n)
{
    double *d = test_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static void test_layernorm_forward(void **state)
{
    hs_backend_ctx *ctx = *state;
    /* {N, C, offset}: an offset of 1000 checks the variance does not cancel catastrophically */
    const int cases[][3] = {{1, 1, 0}, {5, 7, 0}, {3, 64, 1000}, {33, 1024, 0}, {17, 1000, 3}};
    const float eps = 1e-5f;
    test_rng_seed(21);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int N = cases[t][0], C = cases[t][1];
        size_t NC = (size_t)N * C;
        float *x = test_alloc(NC * sizeof(float)), *y = test_alloc(NC * sizeof(float));
        float *w = test_alloc(C * sizeof(float)), *b = test_alloc(C * sizeof(float));
        float *mean = test_alloc(N * sizeof(float)), *rstd = test_alloc(N * sizeof(float));
        test_fill_uniform(x, NC, -2, 2);
        for (size_t i = 0; i < NC; i++)
            x[i] += (float)cases[t][2];
        test_fill_uniform(w, C, 0.5, 1.5);
        test_fill_uniform(b, C, -0.5, 0.5);
        double *xd = to_double(x, NC), *wd = to_double(w, C), *bd = to_double(b, C);
        double *yr = test_alloc(NC * sizeof(double));
        double *mr = test_alloc(N * sizeof(double)), *rr = test_alloc(N * sizeof(double));
        reference_layernorm(yr, mr, rr, xd, wd, bd, N, C, eps);

        assert_int_equal(hs_cpu_backend.layernorm(ctx, y, mean, rstd, x, w, b, N, C, eps), 0);
        /* |y| <= ~4 here; fp32 rounding of (x−mean)·rstd·w + b plus the input's own rounding
         * relative to the large offset gives well under 1e-4 */
        double ey = test_assert_close("layernorm y", y, yr, NC, 2e-5 + 1e-7 * cases[t][2], 1e-5);
        double em = test_assert_close("layernorm mean", mean, mr, N, 1e-6, 1e-6);
        double er = test_assert_close("layernorm rstd", rstd, rr, N, 0, 1e-5);
        /* mean/rstd are optional outputs */
        assert_int_equal(hs_cpu_backend.layernorm(ctx, y, NULL, NULL, x, w, b, N, C, eps), 0);
        test_assert_close("layernorm y (no stats)", y, yr, NC, 2e-5 + 1e-7 * cases[t][2], 1e-5);
        print_message("layernorm N=%d C=%d offset=%d: max |err| y %.3g mean %.3g rstd %.3g\n", N,
                      C, cases[t][2], ey, em, er);
        free(x), free(y), free(w), free(b), free(mean), free(rstd);
        free(xd), free(wd), free(bd), free(yr), free(mr), free(rr);
    }
}

static double functional(const double *y, const double *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += y[i] * r[i];
    return s;
}

/* Central difference of L = Σ r⊙LN(x; w, b) in the element *p (one of xd, wd, bd). */
static double central_difference(double *p, double *y, const double *r, const double *xd,
                                 const double *wd, const double *bd, int N, int C, double eps)
{
    const double h = 1e-6;
    double keep = *p;
    *p = keep + h;
    reference_layernorm(y, NULL, NULL, xd, wd, bd, N, C, eps);
    double up = functional(y, r, (size_t)N * C);
    *p = keep - h;
    reference_layernorm(y, NULL, NULL, xd, wd, bd, N, C, eps);
    double down = functional(y, r, (size_t)N * C);
    *p = keep;
    return (up - down) / (2 * h);
}

static void test_layernorm_backward_finite_differences(void **state)
{
    hs_backend_ctx *ctx = *state;
    const int cases[][2] = {{1, 1}, {1, 2}, {4, 9}, {7, 33}};
    const float eps = 1e-5f;
    test_rng_seed(22);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int N = cases[t][0], C = cases[t][1];
        size_t NC = (size_t)N * C;
        float *x = test_alloc(NC * sizeof(float)), *y = test_alloc(NC * sizeof(float));
        float *w = test_alloc(C * sizeof(float)), *b = test_alloc(C * sizeof(float));
        float *dy = test_alloc(NC * sizeof(float)), *dx = test_alloc(NC * sizeof(float));
        float *dw = test_alloc(C * sizeof(float)), *db = test_alloc(C * sizeof(float));
        float *mean = test_alloc(N * sizeof(float)), *rstd = test_alloc(N * sizeof(float));
        test_fill_uniform(x, NC, -2, 2);
        test_fill_uniform(w, C, 0.5, 1.5);
        test_fill_uniform(b, C, -0.5, 0.5);
        test_fill_uniform(dy, NC, -1, 1);
        /* start the accumulators from random values to check += */
        test_fill_uniform(dx, NC, -1, 1);
        test_fill_uniform(dw, C, -1, 1);
        test_fill_uniform(db, C, -1, 1);
        double *dx0 = to_double(dx, NC), *dw0 = to_double(dw, C), *db0 = to_double(db, C);

        assert_int_equal(hs_cpu_backend.layernorm(ctx, y, mean, rstd, x, w, b, N, C, eps), 0);
        assert_int_equal(
            hs_cpu_backend.layernorm_backward(ctx, dx, dw, db, dy, x, mean, rstd, w, N, C), 0);

        double *xd = to_double(x, NC), *wd = to_double(w, C), *bd = to_double(b, C);
        double *r = to_double(dy, NC), *ybuf = test_alloc(NC * sizeof(double));
        double *gx = test_alloc(NC * sizeof(double)), *gw = test_alloc(C * sizeof(double));
        double *gb = test_alloc(C * sizeof(double));
        for (size_t i = 0; i < NC; i++)
            gx[i] = dx0[i] + central_difference(&xd[i], ybuf, r, xd, wd, bd, N, C, eps);
        for (int c = 0; c < C; c++) {
            gw[c] = dw0[c] + central_difference(&wd[c], ybuf, r, xd, wd, bd, N, C, eps);
            gb[c] = db0[c] + central_difference(&bd[c], ybuf, r, xd, wd, bd, N, C, eps);
        }
        /* The fp32 analytic gradient against a double finite difference (truncation error
         * ~h² ≈ 1e-12, cancellation ~1e-16/h ≈ 1e-10): 2e-5 absolute, 1e-4 relative. */
        double ex = test_assert_close("layernorm din", dx, gx, NC, 2e-5, 1e-4);
        double ew = test_assert_close("layernorm dw", dw, gw, C, 2e-5, 1e-4);
        double eb = test_assert_close("layernorm db", db, gb, C, 2e-5, 1e-4);
        print_message("layernorm backward N=%d C=%d: max |err| din %.3g dw %.3g db %.3g\n", N, C,
                      ex, ew, eb);

        /* dw and db are optional */
        for (size_t i = 0; i < NC; i++)
            dx[i] = (float)dx0[i];
        assert_int_equal(
            hs_cpu_backend.layernorm_backward(ctx, dx, NULL, NULL, dy, x, mean, rstd, w, N, C),
            0);
        test_assert_close("layernorm din (no dw/db)", dx, gx, NC, 2e-5, 1e-4);

        free(x), free(y), free(w), free(b), free(dy), free(dx), free(dw), free(db);
        free(mean), free(rstd), free(dx0), free(dw0), free(db0), free(xd), free(wd), free(bd);
        free(r), free(ybuf), free(gx), free(gw), free(gb);
    }
}

static void test_layernorm_large_rows_parallel(void **state)
{
    /* big enough for the OpenMP paths of both passes; gradient checked against the closed form
     * evaluated in double here */
    hs_backend_ctx *ctx = *state;
    enum { N = 64, C = 1024 };
    size_t NC = (size_t)N * C;
    float *x = test_alloc(NC * 4), *y = test_alloc(NC * 4), *dy = test_alloc(NC * 4);
    float *dx = test_alloc(NC * 4), *w = test_alloc(C * 4), *b = test_alloc(C * 4);
    float *dw = test_alloc(C * 4), *db = test_alloc(C * 4), *mean = test_alloc(N * 4),
          *rstd = test_alloc(N * 4);
    test_rng_seed(23);
    test_fill_uniform(x, NC, -3, 3);
    test_fill_uniform(dy, NC, -1, 1);
    test_fill_uniform(w, C, 0.5, 1.5);
    test_fill_uniform(b, C, -1, 1);
    assert_int_equal(hs_cpu_backend.layernorm(ctx, y, mean, rstd, x, w, b, N, C, 1e-5f), 0);
    assert_int_equal(hs_cpu_backend.layernorm_backward(ctx, dx, dw, db, dy, x, mean, rstd, w, N,
                                                       C),
                     0);
    double *gx = test_alloc(NC * 8), *gw = test_alloc(C * 8), *gb = test_alloc(C * 8);
    for (int n = 0; n < N; n++) {
        const float *row = x + (size_t)n * C;
        double mu = 0, var = 0;
        for (int c = 0; c < C; c++)
            mu += row[c];
        mu /= C;
        for (int c = 0; c < C; c++)
            var += (row[c] - mu) * (row[c] - mu);
        double rs = 1 / sqrt(var / C + 1e-5);
        double m1 = 0, m2 = 0;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[(size_t)n * C + c] * w[c];
            double xh = (row[c] - mu) * rs;
            m1 += g;
            m2 += g * xh;
            gw[c] += dy[(size_t)n * C + c] * xh;
            gb[c] += dy[(size_t)n * C + c];
        }
        m1 /= C, m2 /= C;
        for (int c = 0; c < C; c++) {
            double xh = (row[c] - mu) * rs;
            gx[(size_t)n * C + c] = rs * ((double)dy[(size_t)n * C + c] * w[c] - m1 - xh * m2);
        }
    }
    double ex = test_assert_close("din", dx, gx, NC, 1e-5, 1e-4);
    double ew = test_assert_close("dw", dw, gw, C, 1e-4, 1e-4);
    double eb = test_assert_close("db", db, gb, C, 1e-5, 1e-5);
    print_message("layernorm N=%d C=%d closed-form backward: max |err| din %.3g dw %.3g db %.3g\n",
                  N, C, ex, ew, eb);
    free(x), free(y), free(dy), free(dx), free(w), free(b), free(dw), free(db), free(mean);
    free(rstd), free(gx), free(gw), free(gb);
}

static void test_layernorm_rejects_bad_arguments(void **state)
{
    hs_backend_ctx *ctx = *state;
    float buf[8] = {0};
    assert_int_equal(hs_cpu_backend.layernorm(ctx, buf, NULL, NULL, buf, buf, buf, 2, 0, 1e-5f),
                     -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "C=0"));
    assert_int_equal(hs_cpu_backend.layernorm(ctx, buf, NULL, NULL, buf, NULL, buf, 2, 4, 1e-5f),
                     -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "weight is NULL"));
    assert_int_equal(
        hs_cpu_backend.layernorm_backward(ctx, buf, NULL, NULL, buf, buf, NULL, buf, buf, 2, 4),
        -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "mean"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_forward),
        cmocka_unit_test(test_layernorm_backward_finite_differences),
        cmocka_unit_test(test_layernorm_large_rows_parallel),
        cmocka_unit_test(test_layernorm_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("kernels_layernorm", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
