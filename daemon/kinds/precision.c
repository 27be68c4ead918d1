/* The "precision" spec field: its values, applying it to the job's device around a kind's run,
 * and naming it in the result (precision.h). */
#include "precision.h"
#include "common/errors.h"
#include "engine/device.h"
#include <string.h>

const char *const hs_precision_names[] = {
    [HS_PRECISION_FP32] = "fp32",
    [HS_PRECISION_BF16] = "bf16",
    NULL,
};

static bool kind_has_precision(const hs_job_kind *kind)
{
    for (const hs_spec_field *f = kind->fields; f && f->name; f++)
        if (strcmp(f->name, "precision") == 0)
            return true;
    return false;
}

/* The spec's precision (validated against hs_precision_names already), fp32 when absent. */
static hs_precision spec_precision(const cJSON *spec)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "precision"));
    for (int p = 0; s && hs_precision_names[p]; p++)
        if (strcmp(s, hs_precision_names[p]) == 0)
            return (hs_precision)p;
    return HS_PRECISION_FP32;
}

int hs_job_kind_run(const hs_job_kind *kind, hs_job_ctx *ctx, const cJSON *spec, char *err,
                    size_t errlen)
{
    hs_device *dev = ctx->device;
    if (!kind_has_precision(kind) || !dev) /* no device: the kind says so itself */
        return kind->run(ctx, spec, err, errlen);
    hs_precision want = spec_precision(spec);
    const hs_backend *be = dev->backend;
    if (!(be->caps.precisions & (1u << want)))
        return hs_errf(err, errlen,
                       "precision: device %s (%s backend) does not offer %s GEMMs in this build",
                       dev->spec, be->name, hs_precision_names[want]);
    /* also for fp32: whatever an earlier job left behind does not leak into this one */
    if (be->set_precision(dev->bctx, want) != 0)
        return hs_errf(err, errlen, "precision: setting %s on device %s failed: %s",
                       hs_precision_names[want], dev->spec, be->last_error(dev->bctx));
    if (want != HS_PRECISION_FP32)
        hs_job_logf(ctx, "GEMMs in %s on %s", hs_precision_names[want], dev->spec);
    int rc = kind->run(ctx, spec, err, errlen);
    /* A failure here cannot reach the next model job (it sets its own precision first): it
     * is logged, the outcome of this run stands. */
    if (be->set_precision(dev->bctx, HS_PRECISION_FP32) != 0)
        hs_job_logf(ctx, "putting device %s back to fp32 failed: %s", dev->spec,
                    be->last_error(dev->bctx));
    return rc;
}

int hs_result_add_precision(cJSON *result, const cJSON *spec)
{
    return cJSON_AddStringToObject(result, "precision", hs_precision_names[spec_precision(spec)])
               ? 0
               : -1;
}
