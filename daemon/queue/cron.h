/* Cron expressions of schedules: five fields "minute hour day-of-month month day-of-week"
 * (lists, ranges a-b, steps *\/n (every n) and a-b/n, month and weekday names, 0 or 7 = Sunday; when
 * both day fields are restricted a day matching either one fires, as in Vixie cron), the
 * macros @yearly @annually @monthly @weekly @daily @midnight @hourly, and in test builds only (HS_TEST_BUILD)
 * the extension "@every <n>s|m|h" (fires at multiples of the interval since the epoch).
 * An expression that can never fire (February 30th) is refused by hs_cron_parse. Times are computed
 * in a fixed UTC offset here; timezone.h adds zones with daylight-saving time. Pure
 * computation, no I/O. */
#ifndef HS_CRON_H
#define HS_CRON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_cron {
    uint64_t minutes;  /* bit m: minute m (0..59) */
    uint32_t hours;    /* bit h (0..23) */
    uint32_t days;     /* bit d: day of month d (1..31) */
    uint16_t months;   /* bit m: month m (1..12) */
    uint8_t weekdays;  /* bit w: weekday w (0 = Sunday .. 6) */
    bool days_star, weekdays_star; /* the field began with '*' */
    int64_t every_ms;  /* > 0 for "@every" */
} hs_cron;

int hs_cron_parse(const char *expr, hs_cron *out, char *err, size_t errlen);
/* The first firing time strictly after after_ms (ms since epoch, UTC), evaluated in local
 * time = UTC + offset_minutes; -1 when there is none within 28 years (e.g. "0 0 30 2 *"). */
int64_t hs_cron_next(const hs_cron *c, int64_t after_ms, int offset_minutes);

#endif
