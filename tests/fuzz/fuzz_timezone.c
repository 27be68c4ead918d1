/* libFuzzer target: arbitrary bytes as a schedule's time zone: a name ("Europe/Berlin"), a
 * fixed offset ("+05:30", "UTC-03:00") or anything else. The first line is the zone, an
 * optional second line a cron expression (default "30 2 * * *", a time that daylight-saving
 * changes skip or repeat). An accepted zone must give a firing strictly after each start
 * time, or -1 only when the expression fires nowhere in the look-ahead. */
#include "queue/cron.h"
#include "queue/timezone.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256];
    if (size >= sizeof text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *cron_text = strchr(text, '\n');
    if (cron_text)
        *cron_text++ = '\0';
    if (!cron_text || !*cron_text)
        cron_text = "30 2 * * *";
    hs_tz tz;
    char err[256] = "";
    if (hs_tz_parse(text, &tz, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return 0;
    }
    if (tz.zone[0] == '\0' && (tz.offset_minutes < -24 * 60 || tz.offset_minutes > 24 * 60))
        abort();
    hs_cron c;
    if (hs_cron_parse(cron_text, &c, err, sizeof err) != 0)
        return 0;
    /* 2026-03-29 00:00Z (spring forward in Europe), 2026-10-25 00:00Z, 2026-11-01 05:00Z */
    static const int64_t starts[] = {INT64_C(1774742400000), INT64_C(1792886400000),
                                     INT64_C(1793509200000)};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t next = hs_cron_next_in(&c, starts[i], &tz);
        if (next != -1 && next <= starts[i])
            abort();
        if (next > 0 && hs_cron_next_in(&c, next, &tz) == next)
            abort(); /* never the same firing twice */
    }
    return 0;
}
