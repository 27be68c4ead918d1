/* The model a job spec names in its "model" field, resolved inside the roots and loaded on
 * the job's device through its model cache: what the generate and inspect kinds share. */
#ifndef HS_JOB_MODEL_H
#define HS_JOB_MODEL_H
#include "engine/model/model.h"
#include "kinds.h"

/* The loaded model (owned by the device cache), or NULL with a reason naming the model. */
hs_model *hs_job_load_model(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen);

#endif
