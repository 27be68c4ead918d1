/* libFuzzer target: arbitrary bytes as a cron expression. An accepted expression has at least
 * one value in every field and fires: from several start times its next firing is strictly
 * later, within the look-ahead, on a minute boundary, and a wall time whose minute, hour,
 * month and day fields all match the expression. */
#include "queue/cron.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_firing(const hs_cron *c, int64_t after_ms, int offset_minutes)
{
    int64_t next = hs_cron_next(c, after_ms, offset_minutes);
    if (next <= after_ms)
        abort(); /* accepted expressions always fire, and strictly later */
    if (c->every_ms > 0) {
        if (next % c->every_ms != 0 || next - after_ms > c->every_ms)
            abort();
        return;
    }
    if (next % 60000 != 0 || next - after_ms > INT64_C(29) * 366 * 86400 * 1000)
        abort();
    time_t local = (time_t)(next / 1000 + (int64_t)offset_minutes * 60);
    struct tm tm;
    if (!gmtime_r(&local, &tm))
        abort();
    if (!((c->minutes >> tm.tm_min) & 1) || !((c->hours >> tm.tm_hour) & 1) ||
        !((c->months >> (tm.tm_mon + 1)) & 1))
        abort();
    bool dom = (c->days >> tm.tm_mday) & 1, dow = (c->weekdays >> tm.tm_wday) & 1;
    if (!c->days_star && !c->weekdays_star ? !(dom || dow) : !(dom && dow))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[512];
    if (size >= sizeof text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    hs_cron c;
    char err[256];
    if (hs_cron_parse(text, &c, err, sizeof err) != 0) {
        if (!err[0] || strlen(err) >= sizeof err)
            abort();
        return 0;
    }
    if (c.every_ms <= 0 && (!c.minutes || !c.hours || !c.days || !c.months || !c.weekdays))
        abort();
    /* 1970, 2024-02-28 23:59:30, 2099-12-31, and a start just before a leap second-ish edge */
    static const int64_t starts[] = {0, INT64_C(1709164770000), INT64_C(4102358400000),
                                     INT64_C(951782399999)};
    static const int offsets[] = {0, 330, -720, 840};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        check_firing(&c, starts[i], offsets[(i + size) % 4]);
    return 0;
}
