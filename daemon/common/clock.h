/* Wall-clock time as the daemon stores it (integer milliseconds since the Unix epoch, UTC) and
 * its ISO-8601 form on the API ("2026-11-29T06:00:00.123Z"). */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H
#include <stddef.h>
#include <stdint.h>

#define HS_TIME_LEN 64

int64_t hs_now_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least HS_TIME_LEN bytes); returns buf. */
char *hs_format_time(int64_t ms, char *buf);
/* Parses ISO-8601 UTC ("...Z" or "+00:00", fraction optional) or an integer of milliseconds.
 * 0 on success, -1 if the text is not such a time. */
int hs_parse_time(const char *text, int64_t *ms);

#endif
