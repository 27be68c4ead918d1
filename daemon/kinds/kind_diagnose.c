/* The `diagnose` job kind: spec fields, checks (including the thresholds object's keys), and
 * the runner — texts → tokens → per-head statistics over every text → classes, sick band,
 * MLP dormancy; head rows stored with checkpoint "" and the diagnose result JSON (docs/api.md "Diagnose result")
 * ({"model", "heads", "summary", "sick_band", "mlp_dormancy"}). */
#include "engine/diagnosis/diagnosis.h"
#include "common/errors.h"
#include "diag_common.h"
#include "kinds.h"
#include "precision.h"
#include "spec.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const hs_spec_field diagnose_fields[] = {
    HS_DIAG_FIELD_MODEL,
    HS_DIAG_FIELD_TEXTS,
    HS_DIAG_FIELD_TEXT_FILE,
    HS_DIAG_FIELD_MAX_LENGTH,
    {.name = "thresholds", .type = HS_FIELD_OBJECT,
     .help = "class thresholds {dead_bos, sink_bos, low_entropy, local_mass} (defaults 0.95, "
             "0.5, 0.5, 0.6)"},
    {.name = "prepend_bos", .type = HS_FIELD_BOOL,
     .help = "put <s> before every text (default false: the BLOOM and MPT tokenizers add none)"},
    {.name = "mlp_dormancy_threshold", .type = HS_FIELD_NUMBER, .min = 0, .max = 1e6,
     .exclusive_min = true,
     .help = "an MLP neuron is dormant when |row of dense_h_to_4h|*|column of dense_4h_to_h| is "
             "below this (default 0.01)"},
    HS_SPEC_FIELD_PRECISION,
    {.name = NULL},
};

static const struct {
    const char *key;
    double min, max;
    bool exclusive_min;
} threshold_keys[] = {
    {"dead_bos", 0.0, 1.0, false},
    {"sink_bos", 0.0, 1.0, false},
    {"low_entropy", 0.0, 1e6, true},
    {"local_mass", 0.0, 1.0, false},
};
#define N_THRESHOLD_KEYS (sizeof threshold_keys / sizeof threshold_keys[0])

/* Reads the spec's thresholds over the defaults; the spec was checked by diagnose_check. */
static hs_diag_thresholds thresholds_from_spec(const cJSON *spec)
{
    hs_diag_thresholds t = hs_diag_default_thresholds;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(spec, "thresholds");
    double *slot[N_THRESHOLD_KEYS] = {&t.dead_bos, &t.sink_bos, &t.low_entropy, &t.local_mass};
    for (size_t i = 0; i < N_THRESHOLD_KEYS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, threshold_keys[i].key);
        if (cJSON_IsNumber(v))
            *slot[i] = v->valuedouble;
    }
    const cJSON *dorm = cJSON_GetObjectItemCaseSensitive(spec, "mlp_dormancy_threshold");
    if (cJSON_IsNumber(dorm))
        t.mlp_dormancy = dorm->valuedouble;
    return t;
}

static int check_thresholds(const cJSON *obj, hs_spec_error *e)
{
    if (!obj)
        return 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        size_t k = 0;
        while (k < N_THRESHOLD_KEYS && strcmp(threshold_keys[k].key, item->string) != 0)
            k++;
        if (k == N_THRESHOLD_KEYS)
            return hs_spec_errorf(e, "thresholds",
                                  "unknown key \"%.60s\" (allowed: dead_bos, sink_bos, "
                                  "low_entropy, local_mass)",
                                  item->string);
        double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
        bool low = threshold_keys[k].exclusive_min ? !(v > threshold_keys[k].min)
                                                   : !(v >= threshold_keys[k].min);
        if (!cJSON_IsNumber(item) || !isfinite(v) || low || v > threshold_keys[k].max)
            return hs_spec_errorf(e, "thresholds", "thresholds.%s must be a number in %s%g, %g]",
                                  item->string, threshold_keys[k].exclusive_min ? "(" : "[",
                                  threshold_keys[k].min, threshold_keys[k].max);
    }
    const cJSON *dead = cJSON_GetObjectItemCaseSensitive(obj, "dead_bos");
    const cJSON *sink = cJSON_GetObjectItemCaseSensitive(obj, "sink_bos");
    double d = dead ? dead->valuedouble : hs_diag_default_thresholds.dead_bos;
    double s = sink ? sink->valuedouble : hs_diag_default_thresholds.sink_bos;
    if (s > d)
        return hs_spec_errorf(e, "thresholds",
                              "thresholds.sink_bos (%g) must not exceed thresholds.dead_bos (%g)",
                              s, d);
    return 0;
}

static int diagnose_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    if (check_thresholds(cJSON_GetObjectItemCaseSensitive(spec, "thresholds"), e) != 0)
        return -1;
    return hs_diag_check_common(spec, env, e);
}

static int diagnose_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(spec, "prepend_bos");
    hs_diag_inputs in;
    hs_job_progress(ctx, 0, 0, "loading");
    if (hs_diag_inputs_load(ctx, spec, cJSON_IsTrue(pb), false, &in, err, errlen) != 0)
        return -1;
    const hs_diag_thresholds t = thresholds_from_spec(spec);
    hs_diagnosis d;
    int rc = hs_diag_run(ctx, &in, &t, &d, NULL, err, errlen);
    if (rc != 0)
        return rc;
    hs_job_logf(ctx, "heads: %d healthy, %d bos-sink, %d dead, %d low-entropy",
                d.counts[HS_HEAD_HEALTHY], d.counts[HS_HEAD_BOS_SINK], d.counts[HS_HEAD_DEAD],
                d.counts[HS_HEAD_LOW_ENTROPY]);
    cJSON *result = hs_diag_result_json(&d, &in, spec);
    if (!result || hs_result_add_precision(result, spec) != 0)
        rc = hs_errf(err, errlen, "out of memory building the result");
    if (rc == 0)
        rc = hs_diag_store_heads(ctx, &d, err, errlen);
    if (rc == 0 && ctx->ops->store_result(ctx, result) != 0)
        rc = hs_errf(err, errlen, "storing the result failed");
    cJSON_Delete(result);
    hs_diagnosis_free(&d);
    hs_diag_inputs_free(&in);
    return rc;
}

const hs_job_kind hs_kind_diagnose = {
    .name = "diagnose",
    .description = "per-head attention statistics and classes (dead, bos-sink, low-entropy, "
                   "healthy) of a model over texts, with the sick band and MLP dormancy",
    .fields = diagnose_fields,
    .check = diagnose_check,
    .run = diagnose_run,
};
