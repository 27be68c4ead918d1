/* Unit tests of the surgery's step-evaluation calendar and ETA arithmetic (surgery_eta.h):
 * the count of evaluations still due against counting step by step, and the ETA against its
 * formula on hand-worked cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "engine/surgery/surgery_eta.h"

/* Steps in (after, upto] that are a multiple of a or of b, counted one by one (0: off). */
static int64_t count_by_walking(int64_t after, int64_t upto, int64_t a, int64_t b)
{
    int64_t n = 0;
    for (int64_t s = after + 1; s <= upto; s++)
        if ((a > 0 && s % a == 0) || (b > 0 && s % b == 0))
            n++;
    return n;
}

static void test_evals_due_matches_walking(void **state)
{
    (void)state;
    for (int64_t a = 0; a <= 7; a++)
        for (int64_t b = 0; b <= 7; b++)
            for (int64_t after = 0; after <= 30; after++)
                for (int64_t upto = 0; upto <= 45; upto++) {
                    int64_t want = count_by_walking(after, upto, a, b);
                    int64_t got = hs_surgery_evals_due(after, upto, a, b);
                    if (got != want)
                        fail_msg("(%lld, %lld] every %lld / %lld: %lld, expected %lld",
                                 (long long)after, (long long)upto, (long long)a, (long long)b,
                                 (long long)got, (long long)want);
                }
}

static void test_evals_due_at_the_caps(void **state)
{
    (void)state;
    /* two coprime periods near the field cap: their lcm (~1e18) must not overflow */
    int64_t a = 999999937, b = 1000000000; /* a is prime */
    int64_t upto = 3000000000000LL;
    assert_int_equal(hs_surgery_evals_due(0, upto, a, b), upto / a + upto / b);
    assert_int_equal(hs_surgery_evals_due(0, upto, 0, 0), 0);
    assert_int_equal(hs_surgery_evals_due(10, 5, 1, 1), 0);
    assert_int_equal(hs_surgery_evals_due(0, 1000000000000LL, 1, 0), 1000000000000LL);
}

static void test_step_due(void **state)
{
    (void)state;
    assert_true(hs_surgery_step_due(4, 2));
    assert_false(hs_surgery_step_due(5, 2));
    assert_true(hs_surgery_step_due(1, 1));
    assert_false(hs_surgery_step_due(3, 0)); /* off */
    assert_false(hs_surgery_step_due(0, 1)); /* no step done yet */
}

static void test_eta(void **state)
{
    (void)state;
    /* 10 steps in 25 s of which 5 s were step evaluations: 2 s per training step; 40 steps
     * and 20 evaluations of 0.5 s each left: 80 + 10 s */
    hs_surgery_eta_in in = {.elapsed_s = 25, .eval_spent_s = 5, .steps_done = 10,
                            .steps_left = 40, .eval_each_s = 0.5, .evals_left = 20};
    assert_true(fabs(hs_surgery_eta_s(&in) - 90.0) < 1e-12);
    /* the evaluation cost not known yet: training time only */
    in.eval_each_s = -1;
    assert_true(fabs(hs_surgery_eta_s(&in) - 80.0) < 1e-12);
    /* step evaluations off: the old estimate, elapsed / steps × steps left */
    hs_surgery_eta_in plain = {.elapsed_s = 30, .steps_done = 3, .steps_left = 7,
                               .eval_each_s = 2.0, .evals_left = 0};
    assert_true(fabs(hs_surgery_eta_s(&plain) - 70.0) < 1e-12);
    /* the last step: only its pending evaluation is left */
    hs_surgery_eta_in last = {.elapsed_s = 8, .eval_spent_s = 3, .steps_done = 5,
                              .steps_left = 0, .eval_each_s = 1.5, .evals_left = 1};
    assert_true(fabs(hs_surgery_eta_s(&last) - 1.5) < 1e-12);
    /* no step done in this process yet: unknown */
    hs_surgery_eta_in none = {.elapsed_s = 1, .steps_left = 4};
    assert_true(isnan(hs_surgery_eta_s(&none)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evals_due_matches_walking),
        cmocka_unit_test(test_evals_due_at_the_caps),
        cmocka_unit_test(test_step_due),
        cmocka_unit_test(test_eta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
