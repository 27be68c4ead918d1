/* The test-only job kind "test-steps" (test builds only, HS_TEST_BUILD): counts steps with a
 * sleep per step, reporting progress, a log line and a "loss" curve point each step, checking
 * should_stop at every step boundary, optionally failing at a given step. It exercises the
 * queue, the runner API and the dashboard without a model. Compiled to nothing otherwise. */
#ifdef HS_TEST_BUILD
#include "common/errors.h"
#include "kinds.h"
#include <stdio.h>
#include <time.h>

static const hs_spec_field test_steps_fields[] = {
    {.name = "steps", .type = HS_FIELD_INT, .required = true, .min = 1, .max = 1000000,
     .help = "number of steps to run"},
    {.name = "step_ms", .type = HS_FIELD_INT, .min = 0, .max = 60000,
     .help = "milliseconds to sleep per step (default 0)"},
    {.name = "fail_at", .type = HS_FIELD_INT, .min = 1, .max = 1000000,
     .help = "fail with reason \"fail_at reached\" at this step"},
    {.name = "log_every", .type = HS_FIELD_INT, .min = 1, .max = 1000000,
     .help = "write a log line every this many steps (default 1)"},
    {.name = NULL},
};

static int int_field(const cJSON *spec, const char *name, int fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : fallback;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int test_steps_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    int steps = int_field(spec, "steps", 1);
    int step_ms = int_field(spec, "step_ms", 0);
    int fail_at = int_field(spec, "fail_at", 0);
    int log_every = int_field(spec, "log_every", 1);
    int done = 0;
    hs_job_progress(ctx, 0, steps, "starting");
    for (int step = 1; step <= steps; step++) {
        if (hs_job_should_stop(ctx)) {
            hs_job_logf(ctx, "stopped before step %d", step);
            return 1;
        }
        if (step_ms > 0)
            sleep_ms(step_ms);
        if (fail_at == step) {
            hs_job_logf(ctx, "failing at step %d", step);
            return hs_errf(err, errlen, "fail_at reached");
        }
        done = step;
        char msg[64];
        snprintf(msg, sizeof msg, "step %d of %d", step, steps);
        hs_job_progress(ctx, step, steps, msg);
        if (step % log_every == 0)
            hs_job_logf(ctx, "step %d of %d", step, steps);
        if (ctx->ops->add_curve_point(ctx, step, 0.0, "loss", 1.0 / (step + 1)) != 0)
            return hs_errf(err, errlen, "storing the loss curve point of step %d failed", step);
    }
    cJSON *result = cJSON_CreateObject();
    if (!result || !cJSON_AddNumberToObject(result, "steps_done", done)) {
        cJSON_Delete(result);
        return hs_errf(err, errlen, "out of memory building the result");
    }
    int rc = ctx->ops->store_result(ctx, result);
    cJSON_Delete(result);
    return rc == 0 ? 0 : hs_errf(err, errlen, "storing the result failed");
}

const hs_job_kind hs_kind_test_steps = {
    .name = "test-steps",
    .description = "test-only: counts steps with progress, log lines and a loss curve",
    .fields = test_steps_fields,
    .check = NULL,
    .run = test_steps_run,
};
#else
typedef int hs_job_test_steps_not_in_release_builds; /* an empty unit is not ISO C */
#endif
