/* hs_errf: the one helper behind the project's error-buffer convention (errors.h). */
#include "errors.h"
#include <stdarg.h>
#include <stdio.h>

int hs_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
