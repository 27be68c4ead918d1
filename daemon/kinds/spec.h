/* A whole job spec as submitted (API, `surgeond run`, a schedule's "job"): the common fields
 * "kind", "priority", "client_id", "max_attempts" plus the kind's own fields, validated
 * together (spec_validate.c); and hs_spec_errorf, how every check reports a failure. */
#ifndef HS_JOB_SPEC_H
#define HS_JOB_SPEC_H
#include "kinds.h"
#include <stdbool.h>

typedef struct hs_job_spec {
    const hs_job_kind *kind;
    int priority;          /* default 0, higher runs first */
    const char *client_id; /* points into the cJSON spec; NULL when absent */
    int max_attempts;      /* 1..10, default 3 */
} hs_job_spec;

/* Fills e (when not NULL) with field ("" for NULL) and the formatted detail; returns -1. */
int hs_spec_errorf(hs_spec_error *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool hs_spec_is_common_field(const char *name);
/* The common field "slurm": {partition, gres, cpus, mem, time}, Slurm resources of this job
 * when the daemon runs jobs through Slurm (spec_slurm.c). 0 or -1 with err. */
int hs_spec_check_slurm(const cJSON *v, hs_spec_error *err);
/* Validates the common fields, finds the kind and runs hs_spec_validate. 0 or -1 with err. */
int hs_job_spec_parse(const cJSON *spec, const hs_kind_env *env, hs_job_spec *out,
                      hs_spec_error *err);

#endif
