/* Unit tests of the surgery's Xavier draws: bounds, mean and variance against torch's
 * formulas for a [3d, C] block (fan_in = C, fan_out = 3d), determinism by (seed, layer,
 * head), and independence between heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/surgery/surgery_reinit.h"

enum { HID = 256, HD = 64, NH = 4 };

static void moments(const float *x, size_t n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *var = ss / n;
}

static void test_xavier_uniform_statistics(void **state)
{
    (void)state;
    size_t n = 3 * HD * HID;
    float *b = malloc(n * sizeof(float));
    assert_non_null(b);
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_UNIFORM, 1, 5, 2, NH, HD, HID, b);
    double bound = sqrt(6.0 / (HID + 3.0 * HD)), mean, var, maxabs = 0;
    for (size_t i = 0; i < n; i++)
        maxabs = fmax(maxabs, fabs(b[i]));
    moments(b, n, &mean, &var);
    assert_true(maxabs <= bound);
    assert_true(maxabs > 0.99 * bound);                 /* the range is used */
    double want_var = bound * bound / 3.0;              /* = 2 / (fan_in + fan_out) */
    assert_true(fabs(mean) < 4 * sqrt(want_var / n));   /* 4 standard errors */
    assert_true(fabs(var / want_var - 1.0) < 0.02);
    free(b);
}

static void test_xavier_normal_statistics(void **state)
{
    (void)state;
    size_t n = 3 * HD * HID;
    float *b = malloc(n * sizeof(float));
    assert_non_null(b);
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_NORMAL, 9, 0, 3, NH, HD, HID, b);
    double std = sqrt(2.0 / (HID + 3.0 * HD)), mean, var;
    moments(b, n, &mean, &var);
    assert_true(fabs(mean) < 4 * std / sqrt((double)n));
    assert_true(fabs(var / (std * std) - 1.0) < 0.02);
    size_t within = 0;
    for (size_t i = 0; i < n; i++)
        within += fabs(b[i]) <= std;
    assert_true(fabs((double)within / n - 0.6827) < 0.01); /* normal, not uniform (0.577) */
    free(b);
}

static void test_draws_are_keyed_by_seed_layer_head(void **state)
{
    (void)state;
    size_t n = 3 * HD * HID;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_UNIFORM, 7, 3, 1, NH, HD, HID, a);
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_UNIFORM, 7, 3, 1, NH, HD, HID, b);
    assert_memory_equal(a, b, n * sizeof(float));
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_UNIFORM, 7, 3, 2, NH, HD, HID, b);
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    assert_true(fabs(dot / sqrt(na * nb)) < 0.02); /* another head: uncorrelated */
    hs_surgery_draw_qkv_block(HS_SURGERY_INIT_XAVIER_UNIFORM, 8, 3, 1, NH, HD, HID, b);
    assert_true(memcmp(a, b, n * sizeof(float)) != 0); /* another seed */
    free(a);
    free(b);
}

static void test_init_names(void **state)
{
    (void)state;
    hs_surgery_init init;
    assert_int_equal(hs_surgery_init_from_name("xavier_normal", &init), 0);
    assert_int_equal(init, HS_SURGERY_INIT_XAVIER_NORMAL);
    assert_int_equal(hs_surgery_init_from_name("none", &init), 0);
    assert_int_equal(init, HS_SURGERY_INIT_NONE);
    assert_int_equal(hs_surgery_init_from_name("kaiming", &init), -1);
    assert_string_equal(hs_surgery_init_name(HS_SURGERY_INIT_XAVIER_UNIFORM), "xavier_uniform");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xavier_uniform_statistics),
        cmocka_unit_test(test_xavier_normal_statistics),
        cmocka_unit_test(test_draws_are_keyed_by_seed_layer_head),
        cmocka_unit_test(test_init_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
