/* fp16/bf16 <-> fp32 conversions against references derived here independently:
 * - every one of the 65536 fp16 and 65536 bf16 bit patterns upcast, against the value built in
 *   double from the IEEE fields with ldexp (sign, exponent, mantissa, subnormals, Inf, NaN);
 * - fp32 -> fp16/bf16 (round to nearest, ties to even) on every representable value, on every
 *   midpoint between neighbours and one fp32 ulp either side, and on 2^21 random fp32 bit
 *   patterns, against the nearest value found by searching the sorted table of all finite
 *   half values in double; NaN gives torch's 0x7E00 (fp16, sign kept) / 0x7FC0 (bf16). */
#include "engine/formats/safetensors.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_util.h"

/* Value of a binary16/bfloat16 pattern from its fields: exp_bits/man_bits/bias. */
static double ref_value(uint32_t h, int exp_bits, int man_bits, int bias)
{
    int sign = (h >> (exp_bits + man_bits)) & 1;
    uint32_t e = (h >> man_bits) & ((1u << exp_bits) - 1);
    uint32_t m = h & ((1u << man_bits) - 1);
    double v;
    if (e == (1u << exp_bits) - 1)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)m, 1 - bias - man_bits);
    else
        v = ldexp(1.0 + ldexp((double)m, -man_bits), (int)e - bias);
    return sign ? -v : v;
}

static void test_upcast_all_patterns(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        double want16 = ref_value(h, 5, 10, 15), want_bf = ref_value(h, 8, 7, 127);
        float got16 = hs_f16_to_f32((uint16_t)h), got_bf = hs_bf16_to_f32((uint16_t)h);
        if (isnan(want16)) {
            assert_true(isnan(got16));
            /* payload and sign kept */
            assert_int_equal(tu_float_bits(got16), ((h & 0x8000u) << 16) | 0x7F800000u | ((h & 0x3FFu) << 13));
        } else {
            assert_true((double)got16 == want16);
            assert_int_equal(signbit(got16) != 0, (h >> 15) & 1);
        }
        if (isnan(want_bf))
            assert_true(isnan(got_bf));
        else {
            assert_true((double)got_bf == want_bf);
            assert_int_equal(signbit(got_bf) != 0, (h >> 15) & 1);
        }
    }
}

/* Sorted non-negative finite values of a format (index = bit pattern). */
typedef struct table {
    double v[65536];
    uint32_t n;        /* count of non-negative finite patterns (0 .. max finite) */
    double overflow;   /* the first value that rounds to Inf: max + half an ulp */
} table;

static void make_table(table *t, int exp_bits, int man_bits, int bias)
{
    uint32_t inf = ((1u << exp_bits) - 1) << man_bits;
    for (uint32_t h = 0; h < inf; h++)
        t->v[h] = ref_value(h, exp_bits, man_bits, bias);
    t->n = inf;
    double max = t->v[inf - 1];
    double ulp = max - t->v[inf - 2];
    t->overflow = max + ulp / 2;
}

/* Reference rounding of x (not NaN) to the format: nearest, ties to the even pattern. */
static uint32_t ref_round(const table *t, double x, int sign_shift)
{
    uint32_t sign = signbit(x) ? 1u << sign_shift : 0;
    double a = fabs(x);
    if (a >= t->overflow)
        return sign | t->n; /* Inf pattern = first pattern after the finite ones */
    uint32_t lo = 0, hi = t->n - 1;
    while (lo < hi) { /* largest index with v <= a */
        uint32_t mid = (lo + hi + 1) / 2;
        if (t->v[mid] <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == t->n - 1 || t->v[lo] == a)
        return sign | lo;
    double dlo = a - t->v[lo], dhi = t->v[lo + 1] - a;
    if (dlo < dhi)
        return sign | lo;
    if (dhi < dlo)
        return sign | (lo + 1);
    return sign | ((lo & 1) ? lo + 1 : lo);
}

static table t16, tbf;

static void check_one(float x)
{
    if (isnan(x)) {
        assert_int_equal(hs_f32_to_f16(x), (tu_float_bits(x) >> 16 & 0x8000u) | 0x7E00u);
        assert_int_equal(hs_f32_to_bf16(x), 0x7FC0u);
        return;
    }
    uint32_t w16 = ref_round(&t16, x, 15), wbf = ref_round(&tbf, x, 15);
    uint16_t g16 = hs_f32_to_f16(x), gbf = hs_f32_to_bf16(x);
    if (g16 != w16 || gbf != wbf)
        fprintf(stderr, "x=%a bits=%08x: f16 %04x want %04x, bf16 %04x want %04x\n", (double)x,
                tu_float_bits(x), g16, w16, gbf, wbf);
    assert_int_equal(g16, w16);
    assert_int_equal(gbf, wbf);
}

static void test_downcast_exact_midpoints_and_random(void **state)
{
    (void)state;
    make_table(&t16, 5, 10, 15);
    make_table(&tbf, 8, 7, 127);
    long checked = 0;
    const table *tabs[2] = {&t16, &tbf};
    for (int k = 0; k < 2; k++) {
        const table *t = tabs[k];
        for (uint32_t h = 0; h < t->n; h++) {
            for (int s = 0; s < 2; s++) {
                double v = s ? -t->v[h] : t->v[h];
                float f = (float)v; /* every half value is exact in fp32 */
                check_one(f);
                check_one(nextafterf(f, INFINITY));
                check_one(nextafterf(f, -INFINITY));
                double next = h + 1 < t->n ? t->v[h + 1] : t->overflow;
                float mid = (float)((s ? -1 : 1) * (t->v[h] + next) / 2);
                check_one(mid);
                check_one(nextafterf(mid, INFINITY));
                check_one(nextafterf(mid, -INFINITY));
                checked += 6;
            }
        }
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < (1 << 21); i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        check_one(tu_bits_float((uint32_t)(rng >> 11)));
        checked++;
    }
    check_one(INFINITY);
    check_one(-INFINITY);
    check_one(NAN);
    check_one(-NAN);
    check_one(tu_bits_float(0x7F800001u)); /* signalling NaN */
    check_one(65520.0f);           /* ties up into Inf */
    check_one(65519.996f);
    check_one(0x1p-25f);           /* half the smallest subnormal: ties to zero */
    check_one(0x1.000002p-25f);
    printf("downcasts checked: %ld\n", checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upcast_all_patterns),
        cmocka_unit_test(test_downcast_exact_midpoints_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
