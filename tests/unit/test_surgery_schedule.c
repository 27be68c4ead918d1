/* Unit tests of the surgery's learning-rate schedule and step counting against closed forms
 * written here from docs/architecture.md "Training semantics" (not from the code under test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "engine/surgery/surgery_data.h"
#include "engine/surgery/surgery_schedule.h"

/* docs/architecture.md "Training semantics": lr·s/warmup while s < warmup, then lr·0.5·(1 + cos(π·(s − warmup)/(total − warmup))). */
static double reference_lr(double lr, long s, long warmup, long total)
{
    if (s < warmup)
        return lr * (double)s / (double)warmup;
    return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)(s - warmup) /
                                 (double)(total - warmup)));
}

static void test_schedule_matches_closed_form(void **state)
{
    (void)state;
    const long cases[][2] = {{5, 1}, {10, 0}, {100, 25}, {1000, 100}, {7, 3}, {2, 0}, {400, 100}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long total = cases[c][0], warmup = cases[c][1];
        hs_lr_schedule s = {.peak_lr = 3e-4, .warmup = warmup, .total = total};
        for (long step = 0; step < total; step++) {
            double want = reference_lr(3e-4, step, warmup, total);
            double got = hs_surgery_lr_at(&s, step);
            if (fabs(got - want) > 1e-15)
                fail_msg("total %ld warmup %ld step %ld: lr %.17g, expected %.17g", total,
                         warmup, step, got, want);
        }
    }
}

static void test_schedule_landmarks(void **state)
{
    (void)state;
    hs_lr_schedule s = {.peak_lr = 1e-2, .warmup = 1, .total = 5};
    assert_true(hs_surgery_lr_at(&s, 0) == 0.0);         /* step 0 uses lr 0 with warm-up */
    assert_true(fabs(hs_surgery_lr_at(&s, 1) - 1e-2) < 1e-18); /* peak right after warm-up */
    hs_lr_schedule no_warm = {.peak_lr = 1e-2, .warmup = 0, .total = 4};
    assert_true(fabs(hs_surgery_lr_at(&no_warm, 0) - 1e-2) < 1e-18); /* full lr at once */
    assert_true(fabs(hs_surgery_lr_at(&no_warm, 2) - 0.5e-2) < 1e-15); /* half way: lr/2 */
}

static void test_default_warmup(void **state)
{
    (void)state;
    assert_int_equal(hs_surgery_default_warmup(5), 1);
    assert_int_equal(hs_surgery_default_warmup(3), 0);
    assert_int_equal(hs_surgery_default_warmup(399), 99);
    assert_int_equal(hs_surgery_default_warmup(400), 100);
    assert_int_equal(hs_surgery_default_warmup(100000), 100);
}

/* Steps per epoch by simulating the rule of docs/architecture.md "Training semantics": a step after every grad_accum micro-batches
 * and after the last micro-batch of the epoch. */
static long simulate_steps(long chunks, int batch, int accum)
{
    long micro = 0, steps = 0, pending = 0;
    for (long c = 0; c < chunks; c += batch)
        micro++;
    for (long mb = 0; mb < micro; mb++) {
        pending++;
        if (pending == accum || mb == micro - 1) {
            steps++;
            pending = 0;
        }
    }
    return steps;
}

static void test_step_counting(void **state)
{
    (void)state;
    for (long chunks = 1; chunks <= 40; chunks++)
        for (int batch = 1; batch <= 5; batch++)
            for (int accum = 1; accum <= 9; accum++) {
                long want = simulate_steps(chunks, batch, accum);
                long got = (long)hs_surgery_steps_per_epoch(chunks, batch, accum);
                if (got != want)
                    fail_msg("chunks %ld batch %d accum %d: %ld steps, expected %ld", chunks,
                             batch, accum, got, want);
            }
    assert_int_equal(hs_surgery_micro_batches_per_epoch(10, 3), 4);
    assert_int_equal(hs_surgery_total_steps(15, 7, 0), 105);
    assert_int_equal(hs_surgery_total_steps(15, 7, 5), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_matches_closed_form),
        cmocka_unit_test(test_schedule_landmarks),
        cmocka_unit_test(test_default_warmup),
        cmocka_unit_test(test_step_counting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
