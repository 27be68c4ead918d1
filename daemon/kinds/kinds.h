/* The job kinds as a table (redis-style command table): name, one-line description, the
 * declarative spec fields validated centrally (spec_validate.c) before any kind code runs, an
 * optional cross-field check, and the runner. GET /api/v1/kinds lists this table. */
#ifndef HS_JOB_KINDS_H
#define HS_JOB_KINDS_H
#include "runner.h"
#include "store/data_dir.h"
#include <cjson/cJSON.h>
#include <stddef.h>

typedef enum hs_field_type {
    HS_FIELD_STRING,       /* JSON string */
    HS_FIELD_INT,          /* JSON number with an integral value */
    HS_FIELD_NUMBER,       /* any JSON number */
    HS_FIELD_BOOL,
    HS_FIELD_STRING_ARRAY, /* array of strings */
    HS_FIELD_NUMBER_ARRAY, /* array of numbers */
    HS_FIELD_OBJECT,       /* any JSON object, checked by the kind's check() */
    HS_FIELD_ANY           /* object or array etc., checked by the kind's check() */
} hs_field_type;

typedef struct hs_spec_field {
    const char *name;
    hs_field_type type;
    bool required;
    double min, max;          /* numeric range (or array length / string length) when min < max */
    bool exclusive_min;       /* value must be > min (e.g. lr > 0) */
    bool nullable;            /* null is accepted and means the same as leaving it out */
    const char *const *enum_values; /* NULL-terminated allowed strings, or NULL */
    const char *help;         /* one line for docs and the OpenAPI document */
} hs_spec_field;

/* Where names in a spec resolve: the daemon's roots (store/data_dir.h). */
typedef hs_roots hs_kind_env;

/* A validation failure: becomes HTTP 400 {"error": "invalid spec", "detail", "field"}. */
typedef struct hs_spec_error {
    char field[128];
    char detail[400];
} hs_spec_error;

typedef struct hs_job_kind {
    const char *name;
    const char *description;
    const hs_spec_field *fields; /* terminated by an entry with name NULL */
    /* Cross-field and file checks after the central field validation (may be NULL):
     * 0 if fine, else -1 with err filled. */
    int (*check)(const cJSON *spec, const hs_kind_env *env, hs_spec_error *err);
    /* Runs the job: 0 = succeeded, -1 = failed with the reason in err, 1 = stopped because
     * should_stop() said so (cancelled). */
    int (*run)(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen);
} hs_job_kind;

extern const hs_job_kind *const hs_job_kinds[];
extern const size_t hs_job_kind_count;
const hs_job_kind *hs_job_kind_find(const char *name);

/* Central validation: every field of spec is known (the common fields "kind", "priority",
 * "client_id", "max_attempts" are handled by the queue, not here), of the right type, in range,
 * required ones present; then kind->check(). 0 or -1 with err. */
int hs_spec_validate(const hs_job_kind *kind, const cJSON *spec, const hs_kind_env *env,
                     hs_spec_error *err);

#endif
