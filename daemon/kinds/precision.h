/* The "precision" spec field of the kinds that run a model (diagnose, evaluate, generate,
 * inspect, surgery): "fp32" (default) or "bf16", the arithmetic of the model's GEMMs
 * (kernels/ops.h hs_precision). hs_job_kind_run is how every runner host (worker, `surgeond
 * run`, Slurm reports) starts a kind: it sets the spec's precision on the job's device before
 * the run and puts fp32 back after it, whatever way the run ends, since the device serves the
 * next job. */
#ifndef HS_KIND_PRECISION_H
#define HS_KIND_PRECISION_H
#include "kinds.h"

/* Indexed by hs_precision, NULL-terminated: the field's allowed values. */
extern const char *const hs_precision_names[];

#define HS_SPEC_FIELD_PRECISION                                                                \
    {.name = "precision", .type = HS_FIELD_STRING, .enum_values = hs_precision_names,          \
     .help = "GEMM arithmetic: fp32 (default) or bf16 (inputs rounded to bf16, fp32 "          \
             "accumulation; softmax, layernorm and the rest stay fp32); a device without "     \
             "bf16 fails the job"}

/* Runs kind->run(ctx, spec, err, errlen) with the spec's precision applied to ctx->device when
 * the kind has the field (kinds without it leave the device alone; every kind with it sets its
 * precision, fp32 included, before it runs). Returns what run returned, or -1 with err set
 * when the device does not offer the precision. */
int hs_job_kind_run(const hs_job_kind *kind, hs_job_ctx *ctx, const cJSON *spec, char *err,
                    size_t errlen);

/* Adds "precision": "fp32" | "bf16" (what the spec asked for, hence what ran) to a kind's
 * result object. 0, or -1 when out of memory. */
int hs_result_add_precision(cJSON *result, const cJSON *spec);

#endif
