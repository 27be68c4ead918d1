/* The `evaluate` job kind: spec fields, checks, and the runner — texts → tokens → perplexity
 * exp(Σ NLL / predicted tokens) over all texts and per text, and with diagnose=true the
 * diagnosis from the same forward passes (head rows stored with checkpoint ""). Result:
 * {"ppl", "tokens", "texts": [{"index", "tokens", "nll", "ppl"}], "diagnosis"?}. */
#include "engine/diagnosis/diagnosis.h"
#include "common/errors.h"
#include "diag_common.h"
#include "kinds.h"
#include "precision.h"
#include <stdio.h>

static const hs_spec_field evaluate_fields[] = {
    HS_DIAG_FIELD_MODEL,
    HS_DIAG_FIELD_TEXTS,
    HS_DIAG_FIELD_TEXT_FILE,
    HS_DIAG_FIELD_MAX_LENGTH,
    HS_DIAG_FIELD_STRIDE,
    {.name = "diagnose", .type = HS_FIELD_BOOL,
     .help = "also diagnose the heads in the same forward passes (default false)"},
    HS_SPEC_FIELD_PRECISION,
    {.name = NULL},
};

static int evaluate_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    if (hs_check_stride(spec, e) != 0)
        return -1;
    return hs_diag_check_common(spec, env, e);
}

static int evaluate_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    const bool want_diag = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "diagnose"));
    hs_diag_inputs in;
    hs_job_progress(ctx, 0, 0, "loading");
    if (hs_diag_inputs_load(ctx, spec, false, true, &in, err, errlen) != 0)
        return -1;
    hs_diagnosis d;
    hs_perplexity p;
    int rc = hs_diag_run(ctx, &in, &hs_diag_default_thresholds, want_diag ? &d : NULL, &p, err,
                         errlen);
    if (rc != 0)
        return rc;
    hs_job_logf(ctx, "perplexity %.6g over %lld predicted tokens", p.ppl, p.tokens);
    cJSON *result = hs_perplexity_to_json(&p);
    if (!result || hs_result_add_precision(result, spec) != 0)
        rc = hs_errf(err, errlen, "out of memory building the result");
    if (rc == 0 && want_diag) {
        cJSON *diag = hs_diag_result_json(&d, &in, spec);
        if (!diag) {
            rc = hs_errf(err, errlen, "out of memory building the result");
        } else {
            cJSON_AddItemToObject(result, "diagnosis", diag);
            rc = hs_diag_store_heads(ctx, &d, err, errlen);
        }
    }
    if (rc == 0 && ctx->ops->store_result(ctx, result) != 0)
        rc = hs_errf(err, errlen, "storing the result failed");
    cJSON_Delete(result);
    if (want_diag)
        hs_diagnosis_free(&d);
    hs_perplexity_free(&p);
    hs_diag_inputs_free(&in);
    return rc;
}

const hs_job_kind hs_kind_evaluate = {
    .name = "evaluate",
    .description = "perplexity of a model over texts (overall and per text), optionally with "
                   "the diagnosis from the same forward passes",
    .fields = evaluate_fields,
    .check = evaluate_check,
    .run = evaluate_run,
};
