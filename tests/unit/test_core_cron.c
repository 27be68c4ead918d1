/* Unit tests of cron parsing and next-fire computation (daemon/queue/cron.c) against a naive
 * reference written here: scan forward minute by minute with gmtime and test a hand-written
 * predicate per expression (month ends, leap day, day-of-week, ranges, steps, the
 * day-of-month OR day-of-week rule, fixed offsets, macros). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "queue/cron.h"

typedef int (*predicate)(const struct tm *local);

static int p_every_15(const struct tm *t) { return t->tm_min % 15 == 0; }
static int p_day_31(const struct tm *t) { return t->tm_min == 0 && t->tm_hour == 0 && t->tm_mday == 31; }
static int p_leap_day(const struct tm *t)
{
    return t->tm_min == 0 && t->tm_hour == 0 && t->tm_mday == 29 && t->tm_mon == 1;
}
static int p_weekdays_0930(const struct tm *t)
{
    return t->tm_min == 30 && t->tm_hour == 9 && t->tm_wday >= 1 && t->tm_wday <= 5;
}
static int p_sunday_noon(const struct tm *t) { return t->tm_min == 0 && t->tm_hour == 12 && t->tm_wday == 0; }
static int p_13th_or_friday(const struct tm *t)
{
    return t->tm_min == 0 && t->tm_hour == 0 && (t->tm_mday == 13 || t->tm_wday == 5);
}
static int p_complex(const struct tm *t)
{
    /* "5-20/5 3,15 * jan,jul *" */
    return (t->tm_min == 5 || t->tm_min == 10 || t->tm_min == 15 || t->tm_min == 20) &&
           (t->tm_hour == 3 || t->tm_hour == 15) && (t->tm_mon == 0 || t->tm_mon == 6);
}
static int p_weekly(const struct tm *t) { return t->tm_min == 0 && t->tm_hour == 0 && t->tm_wday == 0; }
static int p_daily(const struct tm *t) { return t->tm_min == 0 && t->tm_hour == 0; }
static int p_hourly(const struct tm *t) { return t->tm_min == 0; }
static int p_monthly(const struct tm *t) { return t->tm_min == 0 && t->tm_hour == 0 && t->tm_mday == 1; }
static int p_last_days_step(const struct tm *t)
{
    /* "0 6 28-31/2 * *": days 28 and 30 at 06:00 */
    return t->tm_min == 0 && t->tm_hour == 6 && (t->tm_mday == 28 || t->tm_mday == 30);
}
static int p_start_step(const struct tm *t)
{
    /* "7/20 * * * *": minutes 7, 27, 47 */
    return t->tm_min == 7 || t->tm_min == 27 || t->tm_min == 47;
}
static int p_dom_only_when_dow_star(const struct tm *t)
{
    /* "0 0 1 * *" with dow '*': only the 1st (AND rule) */
    return t->tm_min == 0 && t->tm_hour == 0 && t->tm_mday == 1;
}
static int p_fri_in_feb(const struct tm *t)
{
    /* "0 8 * feb fri" */
    return t->tm_min == 0 && t->tm_hour == 8 && t->tm_mon == 1 && t->tm_wday == 5;
}

/* The reference: the first minute strictly after `after_ms` whose local time satisfies p. */
static int64_t naive_next(predicate p, int64_t after_ms, int offset_minutes, int64_t max_minutes)
{
    int64_t t = (after_ms / 60000 + 1) * 60; /* seconds, whole minutes, after >= 0 here */
    for (int64_t i = 0; i < max_minutes; i++, t += 60) {
        time_t local = (time_t)(t + offset_minutes * 60);
        struct tm tm;
        gmtime_r(&local, &tm);
        if (p(&tm))
            return t * 1000;
    }
    return -1;
}

typedef struct cron_case {
    const char *expr;
    predicate p;
    int64_t horizon_minutes; /* how far the reference scans */
} cron_case;

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000;
}

static void check_against_reference(const cron_case *c, int offset_minutes)
{
    hs_cron cron;
    char err[256];
    if (hs_cron_parse(c->expr, &cron, err, sizeof err) != 0)
        fail_msg("%s: %s", c->expr, err);
    /* Starting points around month ends, a leap year, a year end and odd seconds. */
    const int64_t starts[] = {
        utc_ms(2024, 1, 31, 23, 59, 59), utc_ms(2024, 2, 28, 0, 0, 0),
        utc_ms(2024, 2, 29, 0, 0, 0),   utc_ms(2025, 2, 28, 23, 30, 12),
        utc_ms(2025, 12, 31, 23, 59, 0), utc_ms(2026, 4, 30, 6, 0, 0),
        utc_ms(2026, 11, 29, 6, 0, 0) + 123, utc_ms(2027, 7, 15, 14, 59, 59),
        utc_ms(2028, 2, 29, 0, 0, 0),   utc_ms(2026, 1, 13, 0, 0, 0),
    };
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t want = naive_next(c->p, starts[i], offset_minutes, c->horizon_minutes);
        int64_t got = hs_cron_next(&cron, starts[i], offset_minutes);
        if (want != got)
            fail_msg("%s (offset %d) after %lld: got %lld, reference %lld", c->expr,
                     offset_minutes, (long long)starts[i], (long long)got, (long long)want);
        /* chaining: the next after a firing is the reference's next after it */
        if (got > 0) {
            int64_t want2 = naive_next(c->p, got, offset_minutes, c->horizon_minutes);
            int64_t got2 = hs_cron_next(&cron, got, offset_minutes);
            if (want2 != got2)
                fail_msg("%s after firing %lld: got %lld, reference %lld", c->expr,
                         (long long)got, (long long)got2, (long long)want2);
        }
    }
}

static const cron_case cases[] = {
    {"*/15 * * * *", p_every_15, 60},
    {"0 0 31 * *", p_day_31, 70 * 24 * 60},
    {"0 0 29 2 *", p_leap_day, 5 * 366 * 24 * 60},
    {"30 9 * * 1-5", p_weekdays_0930, 8 * 24 * 60},
    {"0 12 * * sun", p_sunday_noon, 8 * 24 * 60},
    {"0 12 * * 7", p_sunday_noon, 8 * 24 * 60},
    {"0 0 13 * 5", p_13th_or_friday, 8 * 24 * 60},
    {"5-20/5 3,15 * jan,jul *", p_complex, 200 * 24 * 60},
    {"@weekly", p_weekly, 8 * 24 * 60},
    {"@daily", p_daily, 2 * 24 * 60},
    {"@midnight", p_daily, 2 * 24 * 60},
    {"@hourly", p_hourly, 61},
    {"@monthly", p_monthly, 32 * 24 * 60},
    {"0 6 28-31/2 * *", p_last_days_step, 40 * 24 * 60},
    {"7/20 * * * *", p_start_step, 61},
    {"0 0 1 * *", p_dom_only_when_dow_star, 32 * 24 * 60},
    {"0 8 * FEB Fri", p_fri_in_feb, 400 * 24 * 60},
};

static void test_next_matches_reference_utc(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_against_reference(&cases[i], 0);
}

static void test_next_matches_reference_with_offsets(void **state)
{
    (void)state;
    const int offsets[] = {120, -330, 345};
    for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (cases[i].horizon_minutes <= 400 * 24 * 60)
                check_against_reference(&cases[i], offsets[o]);
}

static void test_landmarks(void **state)
{
    (void)state;
    hs_cron c;
    char err[256];
    /* Leap day from 2025-03-01: the next is 2028-02-29. */
    assert_int_equal(hs_cron_parse("0 0 29 2 *", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, utc_ms(2025, 3, 1, 0, 0, 0), 0), utc_ms(2028, 2, 29, 0, 0, 0));
    /* The 31st after 2026-04-15 is 2026-05-31 (April has 30 days). */
    assert_int_equal(hs_cron_parse("0 0 31 * *", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, utc_ms(2026, 4, 15, 0, 0, 0), 0), utc_ms(2026, 5, 31, 0, 0, 0));
    /* Strictly after: a firing time itself is not returned again. */
    assert_int_equal(hs_cron_parse("@daily", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, utc_ms(2026, 11, 29, 0, 0, 0), 0), utc_ms(2026, 11, 30, 0, 0, 0));
    /* Local midnight at UTC+02:00 is 22:00 UTC the day before. */
    assert_int_equal(hs_cron_next(&c, utc_ms(2026, 11, 29, 6, 0, 0), 120), utc_ms(2026, 11, 29, 22, 0, 0));
    /* 2026-11-29 is a Sunday: the next weekday 09:30 is Monday 30th. */
    assert_int_equal(hs_cron_parse("30 9 * * mon-fri", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, utc_ms(2026, 11, 29, 6, 0, 0), 0), utc_ms(2026, 11, 30, 9, 30, 0));
    /* Leap day across 2100 (no leap year): 2096-02-29, then 2104-02-29. */
    assert_int_equal(hs_cron_parse("0 0 29 2 *", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, utc_ms(2096, 3, 1, 0, 0, 0), 0), utc_ms(2104, 2, 29, 0, 0, 0));
}

/* Expressions that can never fire are refused at parse time with "never matches"; those that
 * fire rarely (leap day, 31st only in some months, leap day OR a weekday) are accepted. */
static void test_never_matching(void **state)
{
    (void)state;
    const char *never[] = {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "* * 30-31 feb *",
                           "0 12 31 apr *", "0 0 30,31 2 *"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        hs_cron c;
        char err[256] = "";
        if (hs_cron_parse(never[i], &c, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted though it never fires", never[i]);
        if (!strstr(err, "never matches"))
            fail_msg("\"%s\": error \"%s\" does not say it never matches", never[i], err);
    }
    const char *rare[] = {"0 0 29 2 *", "0 0 31 2,3 *", "0 0 30 2 mon", "0 0 */30 2 *",
                          "0 0 31 * *", "59 23 29 feb *"};
    for (size_t i = 0; i < sizeof rare / sizeof rare[0]; i++) {
        hs_cron c;
        char err[256] = "";
        if (hs_cron_parse(rare[i], &c, err, sizeof err) != 0)
            fail_msg("\"%s\" was refused: %s", rare[i], err);
    }
}

static void test_every_extension(void **state)
{
    (void)state;
    hs_cron c;
    char err[256];
    assert_int_equal(hs_cron_parse("@every 5s", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, 12000, 0), 15000);
    assert_int_equal(hs_cron_next(&c, 15000, 0), 20000);
    assert_int_equal(hs_cron_next(&c, 14999, 0), 15000);
    assert_int_equal(hs_cron_parse("@every 2m", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, 60000, 0), 120000);
    assert_int_equal(hs_cron_parse("@every 1h", &c, err, sizeof err), 0);
    assert_int_equal(hs_cron_next(&c, 3600000, 0), 7200000);
}

static void test_invalid_expressions(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
        "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "1,,2 * * * *",
        "* * * foo *", "@yearlyish", "@every", "@every 0s", "@every 5x", "@every -5s", "1- * * * *",
        "*/ * * * *",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_cron c;
        char err[256] = "";
        if (hs_cron_parse(bad[i], &c, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
        if (strncmp(err, "cron", 4) != 0)
            fail_msg("\"%s\": error \"%s\" does not name the cron field", bad[i], err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_matches_reference_utc),
        cmocka_unit_test(test_next_matches_reference_with_offsets),
        cmocka_unit_test(test_landmarks),
        cmocka_unit_test(test_every_extension),
        cmocka_unit_test(test_invalid_expressions),
        cmocka_unit_test(test_never_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
