/* Helpers of the diagnosis unit tests (test_diag_*.c) on top of test_util.h: a CPU backend
 * context. Static functions only: each test binary includes this header once. */
#ifndef TEST_DIAG_UTIL_H
#define TEST_DIAG_UTIL_H
#include "test_util.h"

#include "common/errors.h"
#include "ops.h"
#include <math.h>

static inline hs_backend_ctx *td_cpu(void)
{
    char err[HS_ERR_LEN];
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    if (!ctx)
        fail_msg("cpu backend init: %s", err);
    return ctx;
}

#endif
