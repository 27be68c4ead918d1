/* Loading a job's model (job_model.h). */
#include "job_model.h"
#include "engine/device.h"
#include "common/errors.h"
#include "store/paths.h"
#include <limits.h>

hs_model *hs_job_load_model(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
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
    if (!ctx->device) {
        hs_errf(err, errlen, "no compute device is available to this job");
        return NULL;
    }
    hs_job_logf(ctx, "loading model %s", name);
    hs_model *m = hs_device_model(ctx->device, path, why, sizeof why);
    if (!m)
        hs_errf(err, errlen, "loading model \"%s\": %s", name, why);
    return m;
}
