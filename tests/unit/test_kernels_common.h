/* Helpers shared by the test_kernels_*.c unit tests of the CPU backend (each test is its own
 * binary, so everything here is static inline): a seeded random source, the cpu context the
 * tests run against, and closeness checks that report the worst element. References are always
 * computed by the test itself in double precision, never taken from the code under test. */
#ifndef TEST_KERNELS_COMMON_H
#define TEST_KERNELS_COMMON_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/errors.h"
#include "ops.h"
#include "test_util.h"

/* ---- random numbers (splitmix64; reproducible across runs) ------------------------------ */
static uint64_t test_rng_state = 0x9E3779B97F4A7C15ull;

static inline void test_rng_seed(uint64_t seed)
{
    test_rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}

static inline uint64_t test_rng_next(void)
{
    uint64_t z = (test_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline double test_rng_uniform(double lo, double hi)
{
    return lo + (hi - lo) * ((double)(test_rng_next() >> 11) * 0x1.0p-53);
}

static inline int test_rng_int(int n) /* uniform in [0, n) */
{
    return (int)(test_rng_next() % (uint64_t)n);
}

static inline void test_fill_uniform(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)test_rng_uniform(lo, hi);
}

/* ---- allocation and the backend ------------------------------------------------------- */
static inline void *test_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    return p;
}

static inline hs_backend_ctx *test_cpu_open(void)
{
    char err[HS_ERR_LEN] = "";
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    if (!ctx)
        fail_msg("cpu init failed: %s", err);
    return ctx;
}

static inline int test_setup_cpu(void **state)
{
    *state = test_cpu_open();
    return 0;
}

static inline int test_teardown_cpu(void **state)
{
    hs_cpu_backend.shutdown(*state);
    return 0;
}

/* Fails (naming what, the element and both values) unless every
 * |got[i] − want[i]| <= atol + rtol·|want[i]|. Returns the largest |got − want| seen. */
static inline double test_assert_close(const char *what, const float *got, const double *want,
                                       size_t n, double atol, double rtol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - want[i]);
        if (!(diff <= atol + rtol * fabs(want[i])))
            fail_msg("%s[%zu]: got %.9g, want %.9g (|diff| %.3g > atol %.3g + rtol %.3g·|want|)",
                     what, i, (double)got[i], want[i], diff, atol, rtol);
        if (diff > worst)
            worst = diff;
    }
    return worst;
}

static inline double test_max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m)
            m = fabs(x[i]);
    return m;
}

#endif
