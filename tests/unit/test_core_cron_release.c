/* The compile-time switch of the "@every" cron extension (daemon/queue/cron.c): compiled here
 * as a release build compiles it (no HS_TEST_BUILD), "@every" must be refused while the five
 * fields and the macros still parse. This file's copy of cron.c replaces the library's. */
#undef HS_TEST_BUILD
#undef HS_FUZZ_BUILD
#include "queue/cron.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_every_refused_without_test_build(void **state)
{
    (void)state;
    const char *every[] = {"@every 1s", "@every 5m", "@every 2h", "@every"};
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
        hs_cron c;
        char err[256] = "";
        if (hs_cron_parse(every[i], &c, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted in a release build", every[i]);
        if (!strstr(err, "test builds"))
            fail_msg("\"%s\": error \"%s\" does not say why", every[i], err);
    }
    hs_cron c;
    char err[256];
    assert_int_equal(hs_cron_parse("@hourly", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_parse("*/5 * * * *", &c, err, sizeof err), 0);
    assert_int_equal(c.every_ms, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_refused_without_test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
