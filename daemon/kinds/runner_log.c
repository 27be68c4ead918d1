/* hs_job_logf (runner.h): printf-style log lines for runners, whatever the context; and
 * hs_runner_keep_result, shared by the runner API implementations that hold a result. */
#include "runner.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void hs_job_logf(hs_job_ctx *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof buf) {
        c->ops->log_line(c, buf);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        c->ops->log_line(c, buf); /* truncated rather than lost */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->ops->log_line(c, big);
    free(big);
}

int hs_runner_keep_result(cJSON **slot, const cJSON *result)
{
    cJSON *copy = cJSON_Duplicate(result, 1);
    if (!copy)
        return -1;
    cJSON_Delete(*slot);
    *slot = copy;
    return 0;
}
