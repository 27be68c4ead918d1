/* Time zones of schedules (timezone.h): fixed offsets parsed here, IANA zones through ICU's
 * calendar (offsets at an instant, wall time to UTC with the repeated/skipped policy). */
#include "timezone.h"
#include "common/errors.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

/* The cron loop of hs_cron_next_in moves past wall times that map to instants not after the
 * start (a repeated hour); a handful of rounds always suffices. */
#define MAX_WALL_ROUNDS 8

static bool parse_fixed_offset(const char *tz, int *offset_minutes)
{
    if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Z") == 0 || strcmp(tz, "Etc/UTC") == 0) {
        *offset_minutes = 0;
        return true;
    }
    const char *p = strncmp(tz, "UTC", 3) == 0 ? tz + 3 : tz;
    int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
    int hh, mm;
    char tail;
    if (sign && sscanf(p + 1, "%2d:%2d%c", &hh, &mm, &tail) == 2 && strlen(p + 1) == 5 &&
        hh <= 14 && mm < 60) {
        *offset_minutes = sign * (hh * 60 + mm);
        return true;
    }
    return false;
}

/* ICU's UTF-16 form of a zone name (ASCII, shorter than hs_tz.zone). */
typedef struct zone_id {
    UChar chars[sizeof ((hs_tz *)0)->zone];
} zone_id;

static zone_id to_zone_id(const char *zone)
{
    zone_id id;
    u_uastrncpy(id.chars, zone, (int32_t)(sizeof id.chars / sizeof id.chars[0]));
    return id;
}

/* An ICU calendar in zone (a known IANA name), wall-time policy set; NULL on failure. */
static UCalendar *open_zone(const char *zone)
{
    zone_id id = to_zone_id(zone);
    UErrorCode status = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(id.chars, -1, "en_US_POSIX", UCAL_GREGORIAN, &status);
    if (U_FAILURE(status)) {
        if (cal)
            ucal_close(cal);
        return NULL;
    }
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
    ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
    return cal;
}

int hs_tz_parse(const char *text, hs_tz *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return hs_errf(err, errlen, "timezone: missing");
    if (parse_fixed_offset(text, &out->offset_minutes))
        return 0;
    size_t len = strlen(text);
    bool ascii = len > 0 && len < sizeof out->zone;
    for (size_t i = 0; ascii && i < len; i++)
        ascii = text[i] > ' ' && text[i] < 0x7f;
    if (ascii) {
        zone_id id = to_zone_id(text);
        UChar canonical[64];
        UBool system_zone = false;
        UErrorCode status = U_ZERO_ERROR;
        ucal_getCanonicalTimeZoneID(id.chars, (int32_t)len, canonical,
                                    (int32_t)(sizeof canonical / sizeof canonical[0]),
                                    &system_zone, &status);
        if (U_SUCCESS(status) && system_zone) {
            memcpy(out->zone, text, len + 1);
            return 0;
        }
    }
    return hs_errf(err, errlen,
                   "timezone \"%.64s\": expected UTC, a fixed offset such as +02:00, or a time"
                   " zone name such as Europe/Berlin", text);
}

/* Milliseconds east of UTC of cal's zone at utc_ms; false on an ICU error. */
static bool offset_at(UCalendar *cal, int64_t utc_ms, int64_t *offset_ms)
{
    UErrorCode status = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)utc_ms, &status);
    int32_t zone = ucal_get(cal, UCAL_ZONE_OFFSET, &status);
    int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, &status);
    *offset_ms = (int64_t)zone + dst;
    return U_SUCCESS(status);
}

/* The instant of a wall time (given as ms of a UTC-like timeline) in cal's zone. */
static bool wall_to_utc(UCalendar *cal, int64_t wall_ms, int64_t *utc_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return false;
    UErrorCode status = U_ZERO_ERROR;
    ucal_clear(cal);
    ucal_setDateTime(cal, tm.tm_year + 1900, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, &status);
    ucal_set(cal, UCAL_MILLISECOND, 0);
    UDate at = ucal_getMillis(cal, &status);
    *utc_ms = (int64_t)at;
    return U_SUCCESS(status);
}

int64_t hs_cron_next_in(const hs_cron *c, int64_t after_ms, const hs_tz *tz)
{
    if (!tz->zone[0] || c->every_ms > 0)
        return hs_cron_next(c, after_ms, tz->zone[0] ? 0 : tz->offset_minutes);
    UCalendar *cal = open_zone(tz->zone);
    if (!cal)
        return -1;
    int64_t result = -1, offset_ms;
    if (offset_at(cal, after_ms, &offset_ms)) {
        /* Walk the matching wall times after the start's wall time until one maps to an
         * instant after the start (a repeated hour maps some to earlier instants). */
        int64_t wall = after_ms + offset_ms;
        for (int round = 0; round < MAX_WALL_ROUNDS; round++) {
            int64_t next_wall = hs_cron_next(c, wall, 0), at;
            if (next_wall < 0 || !wall_to_utc(cal, next_wall, &at))
                break;
            if (at > after_ms) {
                result = at;
                break;
            }
            wall = next_wall;
        }
    }
    ucal_close(cal);
    return result;
}
