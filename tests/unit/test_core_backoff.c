/* Unit tests of the retry backoff (daemon/common/backoff.c): the pause doubles up to its cap,
 * only a streak's 1st, 2nd, 4th, 8th ... failures are to be logged, and a success ends the
 * streak once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"

static void test_doubles_to_cap_and_logs_milestones(void **state)
{
    (void)state;
    hs_backoff b = {.first_ms = 1000, .max_ms = 30000};
    assert_false(hs_backoff_waiting(&b, 0));
    const int64_t pauses[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    int64_t now = 5000;
    int logged = 0;
    for (int i = 0; i < 8; i++) {
        bool log = hs_backoff_fail(&b, now);
        assert_int_equal(log, i == 0 || i == 1 || i == 3 || i == 7);
        logged += log;
        assert_int_equal(b.retry_at_ms - now, pauses[i]);
        assert_true(hs_backoff_waiting(&b, now + pauses[i] - 1));
        assert_false(hs_backoff_waiting(&b, now + pauses[i]));
        now += pauses[i];
    }
    assert_int_equal(logged, 4);
    assert_int_equal(b.since_ms, 5000);
    assert_true(hs_backoff_ok(&b));
    assert_false(hs_backoff_ok(&b)); /* the recovery is reported once */
    assert_false(hs_backoff_waiting(&b, now));
    assert_true(hs_backoff_fail(&b, now)); /* a new streak starts over */
    assert_int_equal(b.retry_at_ms - now, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_to_cap_and_logs_milestones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
