/* A job's model, resolved inside the roots and loaded on the job's device through its model
 * cache after the memory check: the job's estimate (model_memory.h, for the shape of
 * job_memory.h) against the memory available plus what the cache can evict, refused before
 * anything loads when it does not fit. What every kind that runs a model goes through. */
#ifndef HS_JOB_MODEL_H
#define HS_JOB_MODEL_H
#include "engine/model/model.h"
#include "engine/model/model_memory.h"
#include "kinds.h"

/* The model in directory `path` (already resolved; `name` as the spec gives it, for messages
 * and the log) for a job of this shape: the estimate logged, checked, the model loaded or
 * taken from the cache (owned by it). NULL with a reason naming the model — for a job that
 * cannot fit, both numbers. */
hs_model *hs_job_model_at(hs_job_ctx *ctx, const char *path, const char *name,
                          const hs_memory_job *shape, char *err, size_t errlen);

/* The same for the spec's "model" field. */
hs_model *hs_job_load_model(hs_job_ctx *ctx, const cJSON *spec, const hs_memory_job *shape,
                            char *err, size_t errlen);

/* hs_job_model_at for a surgery: the shape from the spec's targets and these training
 * parameters (hs_job_shape_surgery), the accumulation fused where the device does so. */
hs_model *hs_job_surgery_model(hs_job_ctx *ctx, const cJSON *spec, const char *path,
                               const char *name, int batch_size, int grad_accum, int max_length,
                               char *err, size_t errlen);

#endif
