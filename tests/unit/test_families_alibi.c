/* The families' ALiBi slope rules (daemon/engine/families/alibi_slopes.c). BLOOM's against
 * the values in docs/model-families.md "ALiBi slopes" and against a double-precision
 * re-derivation of transformers' build_alibi_tensor:
 * the fp32-rounded base raised to k, rounded to fp32 (within 1 ulp of powf), and the exact
 * 2^(−8k/cp2) (within k·δ + 2^-23 relative, δ = relative rounding error of the fp32 base).
 * MPT's against a double re-derivation of build_mpt_alibi_tensor (1/2^(k·max/n2), the
 * even-k slopes first when the head count is not a power of two), within 2 ulp. */
#include "test_kernels_common.h"
#include "engine/families/alibi_slopes.h"

#include <string.h>

/* HF: cp2 = 2^floor(log2 H); base = 2^(−8/cp2) in fp32; slopes = base^1..cp2; if H is not a
 * power of two: extra_base = 2^(−4/cp2) in fp32, slopes += extra_base^(1,3,5,..) for
 * min(cp2, H − cp2) terms. exact[] are the powers of two without fp32 rounding of the base. */
static void rederive(int H, double *from_fp32_base, double *exact, double *rel_bound)
{
    int cp2 = 1 << (int)floor(log2((double)H));
    double base_exact = exp2(-8.0 / cp2);
    float base = (float)base_exact;
    double delta = fabs((double)base - base_exact) / base_exact;
    for (int k = 1; k <= cp2; k++) {
        from_fp32_base[k - 1] = pow((double)base, k);
        exact[k - 1] = exp2(-8.0 * k / cp2);
        rel_bound[k - 1] = 1.01 * k * delta + 0x1p-23;
    }
    if (cp2 < H) {
        double extra_exact = exp2(-4.0 / cp2);
        float extra = (float)extra_exact;
        double extra_delta = fabs((double)extra - extra_exact) / extra_exact;
        int n_rem = H - cp2 < cp2 ? H - cp2 : cp2;
        for (int i = 0; i < n_rem; i++) {
            int k = 2 * i + 1;
            from_fp32_base[cp2 + i] = pow((double)extra, k);
            exact[cp2 + i] = exp2(-4.0 * k / cp2);
            rel_bound[cp2 + i] = 1.01 * k * extra_delta + 0x1p-23;
        }
    }
}

static void check_heads(int H)
{
    float slopes[128];
    double from_base[128], exact[128], bound[128];
    memset(slopes, 0, sizeof slopes);
    hs_alibi_slopes_bloom(H, slopes);
    rederive(H, from_base, exact, bound);
    double worst_exact = 0.0;
    for (int h = 0; h < H; h++) {
        float rounded = (float)from_base[h];
        double ulp = nextafterf(rounded, INFINITY) - rounded;
        if (!(fabs((double)slopes[h] - from_base[h]) <= ulp))
            fail_msg("H=%d slope[%d] = %.9g, fp32-base re-derivation %.9g", H, h,
                     (double)slopes[h], from_base[h]);
        double rel = fabs((double)slopes[h] - exact[h]) / exact[h];
        if (!(rel <= bound[h]))
            fail_msg("H=%d slope[%d] = %.9g, exact %.9g (rel %.3g > %.3g)", H, h,
                     (double)slopes[h], exact[h], rel, bound[h]);
        if (rel > worst_exact)
            worst_exact = rel;
    }
    print_message("alibi H=%d: within 1 ulp of the fp32-base derivation, max rel. dev. from "
                  "exact powers %.3g\n",
                  H, worst_exact);
}

static void test_alibi_published_values(void **state)
{
    float s16[16], s32[32], s6[6], s12[12];
    hs_alibi_slopes_bloom(16, s16);
    /* docs/model-families.md "ALiBi slopes": powf(0.70710677f, 2) = 0.49999997, powf(..., 16) = 0.00390624884 */
    assert_true(s16[0] == 0.70710677f);
    assert_true(s16[1] == 0.49999997f);
    assert_true(s16[15] == 0.00390624884f);
    assert_true(s16[1] != 0.5f);
    hs_alibi_slopes_bloom(32, s32);
    assert_true(s32[7] == 0.25000003f); /* H=32 slope_8 */
    /* H=6: cp2 = 4, base 2^-2 → 1/4 .. 1/256; extra base 2^-1 → 1/2, 1/8 (all exact) */
    hs_alibi_slopes_bloom(6, s6);
    const float want6[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    assert_memory_equal(s6, want6, sizeof want6);
    /* H=12: cp2 = 8, base 1/2 → 2^-1 .. 2^-8; extra base 2^-0.5 in fp32 to the 1,3,5,7 */
    hs_alibi_slopes_bloom(12, s12);
    for (int k = 1; k <= 8; k++)
        assert_true(s12[k - 1] == ldexpf(1.0f, -k));
    assert_true(s12[8] == 0.70710677f);
    for (int i = 1; i < 4; i++) {
        double want = exp2(-(2.0 * i + 1) / 2);
        assert_true(fabs(s12[8 + i] - want) / want < 4e-7);
    }
    (void)state;
}

/* build_mpt_alibi_tensor in double: n2 = next power of two >= H; slopes 1/2^(k·max/n2),
 * k = 1..n2; for H < n2, concat(slopes[1::2], slopes[::2])[:H]. */
static void check_mpt(int H, double bias_max)
{
    float got[128];
    double all[256], want[128];
    int n2 = 1;
    while (n2 < H)
        n2 *= 2;
    for (int k = 1; k <= n2; k++)
        all[k - 1] = exp2(-(double)k * bias_max / n2);
    int out = 0;
    if (n2 == H) {
        for (int i = 0; i < n2; i++)
            want[out++] = all[i];
    } else {
        for (int i = 1; i < n2 && out < H; i += 2)
            want[out++] = all[i];
        for (int i = 0; i < n2 && out < H; i += 2)
            want[out++] = all[i];
    }
    hs_alibi_slopes_mpt(H, bias_max, got);
    for (int h = 0; h < H; h++) {
        float rounded = (float)want[h];
        double ulp = nextafterf(rounded, INFINITY) - rounded;
        /* two fp32 roundings (pow, then the division), as in torch */
        if (!(fabs((double)got[h] - want[h]) <= 2 * ulp))
            fail_msg("MPT H=%d max=%g slope[%d] = %.9g, re-derivation %.9g", H, bias_max, h,
                     (double)got[h], want[h]);
    }
}

static void test_mpt_slopes(void **state)
{
    /* H=6: n2 = 8, 2^-1..2^-8 with the even k first: 2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3 */
    float s6[6];
    hs_alibi_slopes_mpt(6, 8.0, s6);
    const float want6[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    assert_memory_equal(s6, want6, sizeof want6);
    float s4[4];
    hs_alibi_slopes_mpt(4, 16.0, s4); /* alibi_bias_max 16: 2^-4k */
    const float want4[4] = {0.0625f, 0.00390625f, 0.000244140625f, 0.0000152587890625f};
    assert_memory_equal(s4, want4, sizeof want4);
    const int heads[] = {1, 2, 3, 4, 5, 6, 12, 16, 32, 48, 64};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        check_mpt(heads[i], 8.0);
        check_mpt(heads[i], 12.0);
    }
    (void)state;
}

static void test_alibi_rederivation(void **state)
{
    const int heads[] = {1, 2, 3, 5, 6, 12, 16, 20, 32, 48, 112};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        check_heads(heads[i]);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alibi_published_values),
        cmocka_unit_test(test_alibi_rederivation),
        cmocka_unit_test(test_mpt_slopes),
    };
    return cmocka_run_group_tests_name("families_alibi", tests, NULL, NULL);
}
