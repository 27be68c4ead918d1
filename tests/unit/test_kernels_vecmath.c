/* The CPU backend's vectorisable exp and tanh (kernels/cpu/cpu_vecmath.h) against libm in
 * double precision rounded once to float, i.e. the correctly rounded fp32 values:
 * - hs_cpu_tanhf on a sweep of every 1009th float bit pattern of both signs (~4.2M values),
 * - hs_cpu_expf_nonpos on every 101st pattern from −0 down to −128 (~10.5M values),
 * plus the special values. Every result must be within 1 ulp and at most one value per sweep
 * may differ at all: the double evaluation is good to ~1e-15 relative, so a float rounding flips
 * with probability ~1e-15/6e-8 ≈ 2e-8 per value, ~0.2 expected per sweep (0 observed). */
#include "test_kernels_common.h"

#include "cpu/cpu_vecmath.h"

#include <string.h>

/* distance in ulps between two finite floats of the same sign (or both zero) */
static long ulp_distance(float a, float b)
{
    long ia = (long)(tu_float_bits(a) & 0x7fffffffu), ib = (long)(tu_float_bits(b) & 0x7fffffffu);
    if ((tu_float_bits(a) ^ tu_float_bits(b)) & 0x80000000u)
        return ia + ib; /* opposite signs: through zero */
    return ia > ib ? ia - ib : ib - ia;
}

static void test_tanh_sweep(void **state)
{
    long count = 0, inexact = 0, worst = 0;
    for (uint32_t u = 0; u < 0x7f800000u; u += 1009)
        for (int sign = 0; sign < 2; sign++) {
            float x = tu_bits_float(u | (sign ? 0x80000000u : 0));
            float got = hs_cpu_tanhf(x);
            float want = (float)tanh((double)x);
            long d = ulp_distance(got, want);
            if (d > 1)
                fail_msg("tanh(%a = %.9g): got %.9g, want %.9g (%ld ulp)", (double)x, (double)x,
                         (double)got, (double)want, d);
            inexact += d != 0 || tu_float_bits(got) != tu_float_bits(want);
            worst = d > worst ? d : worst;
            count++;
        }
    assert_true(inexact <= 1);
    print_message("tanh: %ld values, %ld not bit-identical to (float)tanh(double), worst %ld ulp\n",
                  count, inexact, worst);
    /* specials and the branch points */
    assert_true(tu_float_bits(hs_cpu_tanhf(0.0f)) == tu_float_bits(0.0f));
    assert_true(tu_float_bits(hs_cpu_tanhf(-0.0f)) == tu_float_bits(-0.0f));
    assert_true(hs_cpu_tanhf(INFINITY) == 1.0f && hs_cpu_tanhf(-INFINITY) == -1.0f);
    assert_true(isnan(hs_cpu_tanhf(NAN)));
    const float edges[] = {0.0625f, nextafterf(0.0625f, 0), 10.0f, 9.0f, 1e-30f, 0.5f, 3.0f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (int sign = 0; sign < 2; sign++) {
            float x = sign ? -edges[i] : edges[i];
            assert_true(ulp_distance(hs_cpu_tanhf(x), (float)tanh((double)x)) == 0);
        }
    (void)state;
}

static void test_exp_sweep(void **state)
{
    long count = 0, inexact = 0, worst = 0;
    for (uint32_t u = 0x80000000u; u <= 0xC3000000u; u += 101) {
        float x = tu_bits_float(u);
        float got = hs_cpu_expf_nonpos(x);
        float want = (float)exp((double)x);
        long d = ulp_distance(got, want);
        if (d > 1)
            fail_msg("exp(%.9g): got %.9g, want %.9g (%ld ulp)", (double)x, (double)got,
                     (double)want, d);
        inexact += d != 0;
        worst = d > worst ? d : worst;
        count++;
    }
    assert_true(inexact <= 1);
    print_message("exp: %ld values in [-128, 0], %ld not bit-identical to (float)exp(double), "
                  "worst %ld ulp\n",
                  count, inexact, worst);
    assert_true(hs_cpu_expf_nonpos(0.0f) == 1.0f && hs_cpu_expf_nonpos(-0.0f) == 1.0f);
    assert_true(hs_cpu_expf_nonpos(-104.0f) == 0.0f);
    assert_true(hs_cpu_expf_nonpos(-1e30f) == 0.0f);
    assert_true(hs_cpu_expf_nonpos(-INFINITY) == 0.0f);
    assert_true(isnan(hs_cpu_expf_nonpos(NAN)) && isnan(hs_cpu_expf_nonpos(-NAN)));
    /* the smallest subnormal results, just above the clamp */
    assert_true(hs_cpu_expf_nonpos(-103.0f) == (float)exp(-103.0));
    /* slightly positive arguments (rounding of x − max) stay exact too */
    assert_true(ulp_distance(hs_cpu_expf_nonpos(1e-3f), (float)exp((double)1e-3f)) == 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tanh_sweep),
        cmocka_unit_test(test_exp_sweep),
    };
    return cmocka_run_group_tests_name("kernels_vecmath", tests, NULL, NULL);
}
