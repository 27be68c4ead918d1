/* Time zones of schedules: "UTC", a fixed offset ("+HH:MM", "-HH:MM", "UTC+HH:MM"), or an IANA
 * zone name ("Europe/Berlin"; ICU's time-zone database, so daylight-saving changes are
 * followed), and the next firing of a cron expression in such a zone. A wall time that a
 * clock change repeats fires once, at its first occurrence; one that a change skips fires at
 * the first instant after the jump (02:30 on a spring-forward night fires at 03:00). */
#ifndef HS_TIMEZONE_H
#define HS_TIMEZONE_H
#include "cron.h"
#include <stddef.h>
#include <stdint.h>

typedef struct hs_tz {
    char zone[64];      /* the IANA name; "" for UTC or a fixed offset */
    int offset_minutes; /* east of UTC, for a fixed offset */
} hs_tz;

/* 0, or -1 with err naming the text when it is neither a fixed offset nor a known zone. */
int hs_tz_parse(const char *text, hs_tz *out, char *err, size_t errlen);
/* The first firing time of c strictly after after_ms (ms since the epoch, UTC), evaluated in
 * tz's wall time; -1 when there is none within 8 years or the zone cannot be loaded. */
int64_t hs_cron_next_in(const hs_cron *c, int64_t after_ms, const hs_tz *tz);

#endif
