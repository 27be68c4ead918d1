/* Unit tests of schedule time zones (daemon/queue/timezone.c): parsing (fixed offsets, IANA names,
 * refusals), landmarks across 2026's daylight-saving changes checked by hand, and, around
 * every clock change of 2026 in several zones, the whole chain of firing times against a
 * reference written here on glibc's own time-zone database (localtime_r over every minute):
 * an instant fires when some wall time in (the latest wall time seen before it, its own wall
 * time] matches, which is "a repeated wall time fires once, a skipped one at the first
 * instant after the jump". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/timezone.h"

static int64_t utc_ms(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static int64_t next_in(const char *cron, const char *zone, int64_t after)
{
    hs_cron c;
    hs_tz tz;
    char err[256];
    assert_int_equal(hs_cron_parse(cron, &c, err, sizeof err), 0);
    if (hs_tz_parse(zone, &tz, err, sizeof err) != 0)
        fail_msg("%s", err);
    return hs_cron_next_in(&c, after, &tz);
}

static void test_parse(void **state)
{
    (void)state;
    hs_tz tz;
    char err[256];
    assert_int_equal(hs_tz_parse("UTC", &tz, err, sizeof err), 0);
    assert_true(tz.zone[0] == '\0' && tz.offset_minutes == 0);
    assert_int_equal(hs_tz_parse("+02:00", &tz, err, sizeof err), 0);
    assert_int_equal(tz.offset_minutes, 120);
    assert_int_equal(hs_tz_parse("UTC-05:30", &tz, err, sizeof err), 0);
    assert_int_equal(tz.offset_minutes, -330);
    assert_int_equal(hs_tz_parse("Europe/Paris", &tz, err, sizeof err), 0);
    assert_string_equal(tz.zone, "Europe/Paris");
    assert_int_equal(hs_tz_parse("America/Argentina/Buenos_Aires", &tz, err, sizeof err), 0);
    const char *bad[] = {"Mars/Olympus", "Europe/Berlin ", "europe", "", "+2", "+02:60",
                         "+02:00x", "Europe/Berlin/x", "../../etc/passwd",
                         "A_very_long_name_that_is_no_zone_at_all/and_goes_on_and_on_and_on"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (hs_tz_parse(bad[i], &tz, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted as a time zone", bad[i]);
        if (!strstr(err, "timezone"))
            fail_msg("\"%s\": error \"%s\" does not name the field", bad[i], err);
    }
}

/* Hand-checked: Berlin goes 02:00 CET → 03:00 CEST at 2026-03-29 01:00Z and 03:00 CEST →
 * 02:00 CET at 2026-10-25 01:00Z; New York 02:00 EST → 03:00 EDT at 2026-03-08 07:00Z. */
static void test_landmarks(void **state)
{
    (void)state;
    /* Summer and winter: 02:00 Berlin is 00:00Z and 01:00Z. */
    assert_int_equal(next_in("0 2 * * *", "Europe/Berlin", utc_ms(2026, 5, 31, 12, 0)),
                     utc_ms(2026, 6, 1, 0, 0));
    assert_int_equal(next_in("0 2 * * *", "Europe/Berlin", utc_ms(2026, 12, 1, 12, 0)),
                     utc_ms(2026, 12, 2, 1, 0));
    /* 02:30 does not exist on 29 March: it fires at 03:00 CEST (01:00Z), then normally. */
    assert_int_equal(next_in("30 2 * * *", "Europe/Berlin", utc_ms(2026, 3, 28, 12, 0)),
                     utc_ms(2026, 3, 29, 1, 0));
    assert_int_equal(next_in("30 2 * * *", "Europe/Berlin", utc_ms(2026, 3, 29, 1, 0)),
                     utc_ms(2026, 3, 30, 0, 30));
    /* 02:30 happens twice on 25 October: once, at the first (00:30Z); next is the 26th. */
    assert_int_equal(next_in("30 2 * * *", "Europe/Berlin", utc_ms(2026, 10, 24, 12, 0)),
                     utc_ms(2026, 10, 25, 0, 30));
    assert_int_equal(next_in("30 2 * * *", "Europe/Berlin", utc_ms(2026, 10, 25, 0, 30)),
                     utc_ms(2026, 10, 26, 1, 30));
    /* Hourly through the repeated hour: 02:00 (00:00Z) fires, its repeat (01:00Z) does not. */
    assert_int_equal(next_in("0 * * * *", "Europe/Berlin", utc_ms(2026, 10, 25, 0, 0)),
                     utc_ms(2026, 10, 25, 2, 0));
    /* New York's nightly 02:15 on the spring-forward night fires at 03:00 EDT. */
    assert_int_equal(next_in("15 2 * * *", "America/New_York", utc_ms(2026, 3, 7, 12, 0)),
                     utc_ms(2026, 3, 8, 7, 0));
    /* Half-hour zone without daylight-saving time: 09:00 Kolkata is 03:30Z. */
    assert_int_equal(next_in("0 9 * * *", "Asia/Kolkata", utc_ms(2026, 11, 29, 0, 0)),
                     utc_ms(2026, 11, 29, 3, 30));
    /* A fixed offset and UTC still go through the plain computation. */
    assert_int_equal(next_in("@daily", "+02:00", utc_ms(2026, 11, 29, 6, 0)),
                     utc_ms(2026, 11, 29, 22, 0));
    assert_int_equal(next_in("@every 5s", "Europe/Berlin", 12000), 15000);
    /* February 30th is refused at parse time; built by hand it still yields no firing. */
    {
        hs_cron never = {.minutes = 1, .hours = 1, .days = 1u << 30, .months = 1u << 2,
                         .weekdays = 0x7f, .weekdays_star = true};
        hs_tz tz;
        char err[256];
        assert_int_equal(hs_tz_parse("Europe/Berlin", &tz, err, sizeof err), 0);
        assert_int_equal(hs_cron_next_in(&never, utc_ms(2026, 1, 1, 0, 0), &tz), -1);
    }
}

/* ---- the reference over glibc's zone database --------------------------------------- */

/* Wall time of utc_s in the zone TZ names, as seconds of a UTC-like timeline. */
static int64_t glibc_wall(int64_t utc_s)
{
    time_t t = (time_t)utc_s;
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    return utc_s + tm.tm_gmtoff;
}

/* Every firing in [from_s, to_s) by the reference rule, into out (ms); returns the count. */
static int reference_firings(const hs_cron *c, int64_t from_s, int64_t to_s, int64_t *out,
                             int cap)
{
    int n = 0;
    int64_t latest_wall = glibc_wall(from_s - 60);
    for (int64_t t = from_s; t < to_s; t += 60) {
        int64_t wall = glibc_wall(t);
        if (wall > latest_wall) {
            int64_t first_match = hs_cron_next(c, latest_wall * 1000, 0);
            if (first_match >= 0 && first_match <= wall * 1000) {
                assert_true(n < cap);
                out[n++] = t * 1000;
            }
            latest_wall = wall;
        }
    }
    return n;
}

static void check_zone(const char *zone)
{
    static const char *const crons[] = {"30 2 * * *", "0 * * * *", "*/15 * * * *", "0 0 * * *",
                                        "45 1 * * sun", "5 3 * * *", "0,30 1-3 * * *"};
    setenv("TZ", zone, 1);
    tzset();
    /* Eight days around each clock change of 2026 (hourly scan of glibc's offsets), and eight
     * quiet days. */
    int64_t windows[16];
    int n_windows = 0;
    int64_t year_start = utc_ms(2026, 1, 1, 0, 0) / 1000, year_end = utc_ms(2027, 1, 1, 0, 0) / 1000;
    windows[n_windows++] = utc_ms(2026, 7, 15, 0, 0) / 1000;
    for (int64_t t = year_start; t < year_end && n_windows < 16; t += 3600)
        if (glibc_wall(t + 3600) - (t + 3600) != glibc_wall(t) - t)
            windows[n_windows++] = t - 3 * 86400;
    static int64_t want[8 * 24 * 4 + 16];
    for (size_t k = 0; k < sizeof crons / sizeof crons[0]; k++) {
        hs_cron c;
        hs_tz tz;
        char err[256];
        assert_int_equal(hs_cron_parse(crons[k], &c, err, sizeof err), 0);
        assert_int_equal(hs_tz_parse(zone, &tz, err, sizeof err), 0);
        for (int w = 0; w < n_windows; w++) {
            int64_t from = windows[w], to = from + 8 * 86400; /* has a Sunday */
            int n = reference_firings(&c, from, to, want, (int)(sizeof want / sizeof want[0]));
            assert_true(n > 0);
            int64_t at = from * 1000 - 1;
            for (int i = 0; i < n; i++) {
                at = hs_cron_next_in(&c, at, &tz);
                if (at != want[i])
                    fail_msg("%s \"%s\" window from %lld: firing %d is %lld, reference %lld", zone,
                             crons[k], (long long)from, i, (long long)at, (long long)want[i]);
            }
            int64_t after = hs_cron_next_in(&c, at, &tz);
            assert_true(after >= to * 1000);
        }
    }
    unsetenv("TZ");
    tzset();
}

static void test_chains_match_glibc_reference(void **state)
{
    (void)state;
    /* Berlin and New York (1 h changes on different dates), Lord Howe (a 30-minute change),
     * Chatham (+12:45/+13:45), Santiago (southern hemisphere), Kolkata (no change). */
    const char *zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                           "Pacific/Chatham", "America/Santiago", "Asia/Kolkata"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        check_zone(zones[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_landmarks),
        cmocka_unit_test(test_chains_match_glibc_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
