/* Error reporting convention of the whole project: functions that can fail return 0 (or a
 * valid pointer) on success and -1 (or NULL) on failure, after writing a one-line,
 * human-readable reason into a caller-provided buffer `char *err, size_t errlen`.
 * A reason names the thing at fault (file, tensor, field) so it can be shown to a user as is. */
#ifndef HS_ERRORS_H
#define HS_ERRORS_H
#include <stddef.h>

#define HS_ERR_LEN 512

/* snprintf into err (if err && errlen); always returns -1 so callers can `return hs_errf(...)`. */
int hs_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
