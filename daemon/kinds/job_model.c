/* Loading a job's model with its memory check (job_model.h). */
#include "job_model.h"
#include "job_memory.h"
#include "engine/device.h"
#include "common/errors.h"
#include "store/paths.h"
#include <limits.h>

hs_model *hs_job_model_at(hs_job_ctx *ctx, const char *path, const char *name,
                          const hs_memory_job *shape, char *err, size_t errlen)
{
    char why[HS_ERR_LEN], text[320];
    if (!ctx->device) {
        hs_errf(err, errlen, "no compute device is available to this job");
        return NULL;
    }
    hs_memory_estimate need;
    if (hs_model_memory_estimate_dir(path, &ctx->device->backend->caps, shape, &need, why,
                                     sizeof why) != 0) {
        hs_errf(err, errlen, "loading model \"%s\": %s", name, why);
        return NULL;
    }
    hs_memory_estimate_describe(&need, text, sizeof text);
    hs_job_logf(ctx, "loading model %s: memory estimate %s", name, text);
    hs_model *m = hs_device_model(ctx->device, path, &need, why, sizeof why);
    if (!m)
        hs_errf(err, errlen, "loading model \"%s\": %s", name, why);
    return m;
}

hs_model *hs_job_load_model(hs_job_ctx *ctx, const cJSON *spec, const hs_memory_job *shape,
                            char *err, size_t errlen)
{
    const hs_kind_env env = {
        .model_root = ctx->model_root, .corpus_root = ctx->corpus_root, .data_dir = ctx->data_dir,
        .instance = ctx->instance};
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "model"));
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (!name || hs_resolve_model(&env, name, path, sizeof path, why, sizeof why) != 0) {
        hs_errf(err, errlen, "model: %s", name ? why : "must be a string");
        return NULL;
    }
    return hs_job_model_at(ctx, path, name, shape, err, errlen);
}

hs_model *hs_job_surgery_model(hs_job_ctx *ctx, const cJSON *spec, const char *path,
                               const char *name, int batch_size, int grad_accum, int max_length,
                               char *err, size_t errlen)
{
    char why[HS_ERR_LEN];
    hs_memory_job shape;
    bool fused = ctx->device && ctx->device->backend->caps.batch_accumulation;
    if (hs_job_shape_surgery(spec, path, batch_size, grad_accum, max_length, fused, &shape, why,
                             sizeof why) != 0) {
        hs_errf(err, errlen, "loading model \"%s\": %s", name, why);
        return NULL;
    }
    return hs_job_model_at(ctx, path, name, &shape, err, errlen);
}
