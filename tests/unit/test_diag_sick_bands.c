/* Unit tests of the slope/sickness Spearman correlation of a diagnosis (kinds/sick_bands.c):
 * monotone and reversed orders, ties with average ranks against a value worked out by hand,
 * and the undefined cases (constant input, fewer than two heads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "kinds/sick_bands.h"

/* cmocka's float comparison rounds to float; these values are compared as doubles. */
#define assert_near(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

static void test_monotone_and_reversed(void **state)
{
    (void)state;
    const double slope[5] = {0.5, 0.25, 0.125, 0.0625, 0.03125};
    const double up[5] = {0, 1, 2, 3, 4}, down[5] = {4, 3, 2, 1, 0};
    assert_near(hs_spearman(slope, down, 5), 1.0, 1e-12);
    assert_near(hs_spearman(slope, up, 5), -1.0, 1e-12);
    /* any monotone transform of y has the same rho */
    const double squares[5] = {16, 9, 4, 1, 0};
    assert_near(hs_spearman(slope, squares, 5), 1.0, 1e-12);
}

static void test_ties_use_average_ranks(void **state)
{
    (void)state;
    /* x ranks 1..4; y = {0, 0, 1, 3} ranks {1.5, 1.5, 3, 4}: rho = 4.5 / sqrt(5 * 4.5) */
    const double x[4] = {1, 2, 3, 4}, y[4] = {0, 0, 1, 3};
    assert_near(hs_spearman(x, y, 4), 4.5 / sqrt(5.0 * 4.5), 1e-12);
}

static void test_undefined(void **state)
{
    (void)state;
    const double x[3] = {1, 2, 3}, flat[3] = {2, 2, 2};
    assert_true(isnan(hs_spearman(x, flat, 3)));
    assert_true(isnan(hs_spearman(flat, x, 3)));
    assert_true(isnan(hs_spearman(x, x, 1)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotone_and_reversed),
        cmocka_unit_test(test_ties_use_average_ranks),
        cmocka_unit_test(test_undefined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
