/* Shared parts of the diagnose and evaluate job kinds (job_diag_common.h): the cross-field
 * check, the inputs (texts through job_texts.c, the model through the device cache,
 * tokenization), running the engine, progress, the result's diagnosis JSON and the
 * head-statistics rows. Never touches SQLite or HTTP (the runner API does). */
#include "diag_common.h"
#include "sick_bands.h"
#include "job_memory.h"
#include "job_model.h"
#include "common/errors.h"
#include "spec.h"
#include "texts.h"
#include "store/paths.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_diag_check_common(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (!cJSON_IsString(model))
        return hs_spec_errorf(e, "model", "model must be a string");
    if (hs_resolve_model(env, model->valuestring, path, sizeof path, why, sizeof why) != 0)
        return hs_spec_errorf(e, "model", "%s", why);
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(spec, "texts");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "text_file");
    if (!texts && !file)
        return hs_spec_errorf(e, "texts",
                              "one of texts (an array of strings) or text_file is required");
    if (texts && file)
        return hs_spec_errorf(e, "text_file", "give either texts or text_file, not both");
    if (file) {
        if (!cJSON_IsString(file))
            return hs_spec_errorf(e, "text_file", "text_file must be a string");
        if (hs_resolve_corpus(env, file->valuestring, path, sizeof path, why, sizeof why) != 0)
            return hs_spec_errorf(e, "text_file", "%s", why);
    }
    return hs_job_texts_check_blank(spec, env, "texts", "text_file", e);
}

void hs_diag_inputs_free(hs_diag_inputs *in)
{
    if (!in)
        return;
    hs_token_seqs_free(in->seqs, in->n_texts);
    hs_job_texts_free(in->texts, in->n_texts);
    memset(in, 0, sizeof *in);
}

int hs_check_stride(const cJSON *spec, hs_spec_error *e)
{
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(spec, "max_length");
    const cJSON *stride = cJSON_GetObjectItemCaseSensitive(spec, "stride");
    int max_length = cJSON_IsNumber(ml) ? (int)ml->valuedouble : 512;
    if (cJSON_IsNumber(stride) && stride->valuedouble > max_length)
        return hs_spec_errorf(e, "stride", "stride (%d) must not exceed max_length (%d)",
                              (int)stride->valuedouble, max_length);
    return 0;
}

int hs_diag_inputs_load(hs_job_ctx *ctx, const cJSON *spec, bool prepend_bos, bool whole_texts,
                        hs_diag_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    const hs_kind_env env = {
        .model_root = ctx->model_root, .corpus_root = ctx->corpus_root, .data_dir = ctx->data_dir,
        .instance = ctx->instance};
    if (hs_job_texts_load(spec, &env, "texts", "text_file", &in->texts, &in->n_texts, err,
                          errlen) != 0)
        return -1;
    if (in->n_texts < 1) {
        hs_diag_inputs_free(in);
        return hs_errf(err, errlen, "texts: at least one text is needed");
    }

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (!cJSON_IsString(model) ||
        hs_resolve_model(&env, model->valuestring, path, sizeof path, why, sizeof why) != 0) {
        hs_diag_inputs_free(in);
        return hs_errf(err, errlen, "model: %s",
                       cJSON_IsString(model) ? why : "must be a string");
    }
    const hs_memory_job shape = hs_job_shape_diag(spec);
    in->model = hs_job_model_at(ctx, path, model->valuestring, &shape, err, errlen);
    if (!in->model) {
        hs_diag_inputs_free(in);
        return -1;
    }
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(spec, "max_length");
    int max_length = cJSON_IsNumber(ml) ? (int)ml->valuedouble : 512;
    const cJSON *stride = cJSON_GetObjectItemCaseSensitive(spec, "stride");
    in->whole_texts = whole_texts;
    in->window = (hs_ppl_window){.max_length = max_length,
                                 .stride = cJSON_IsNumber(stride) ? (int)stride->valuedouble : 0};
    if (hs_tokenize_texts(in->model, (const char *const *)in->texts, in->n_texts,
                          whole_texts ? INT_MAX : max_length, prepend_bos, &in->seqs, err,
                          errlen) != 0) {
        in->model = NULL;
        hs_diag_inputs_free(in);
        return -1;
    }
    for (int i = 0; i < in->n_texts; i++)
        in->n_tokens += in->seqs[i].T;
    if (whole_texts)
        hs_job_logf(ctx, "%d text(s), %lld token(s), windows of %d advancing by %d", in->n_texts,
                    in->n_tokens, max_length, in->window.stride ? in->window.stride : max_length);
    else
        hs_job_logf(ctx, "%d text(s), %lld token(s) after truncation to %d", in->n_texts,
                    in->n_tokens, max_length);
    return 0;
}

int hs_diag_run(hs_job_ctx *ctx, hs_diag_inputs *in, const hs_diag_thresholds *t,
                hs_diagnosis *d, hs_perplexity *p, char *err, size_t errlen)
{
    int rc = hs_diagnose_and_perplexity_windowed(in->model, in->seqs, in->n_texts,
                                                 in->whole_texts ? &in->window : NULL, t, d, p,
                                                 hs_diag_progress, hs_diag_should_stop, ctx,
                                                 err, errlen);
    if (rc != 0) {
        hs_diag_inputs_free(in);
        if (rc == 1)
            hs_job_logf(ctx, "cancelled");
    }
    return rc;
}

cJSON *hs_diag_result_json(const hs_diagnosis *d, const hs_diag_inputs *in, const cJSON *spec)
{
    cJSON *result = hs_diagnosis_to_json(d, in->model);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(result, "model");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (!result || !model || !cJSON_AddStringToObject(model, "name", name->valuestring) ||
        hs_sick_bands_add_json(result, d, &in->model->cfg) != 0) {
        cJSON_Delete(result);
        return NULL;
    }
    return result;
}

void hs_diag_progress(void *arg, int done, int total)
{
    hs_job_ctx *ctx = arg;
    char msg[64];
    snprintf(msg, sizeof msg, "text %d of %d", done, total);
    hs_job_progress(ctx, done, total, msg);
}

bool hs_diag_should_stop(void *arg)
{
    return hs_job_should_stop((hs_job_ctx *)arg);
}

int hs_diag_store_heads(hs_job_ctx *ctx, const hs_diagnosis *d, char *err, size_t errlen)
{
    const int n = d->n_layer * d->n_head;
    hs_head_stat_row *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    if (!rows)
        return hs_errf(err, errlen, "out of memory for %d head statistics rows", n);
    for (int i = 0; i < n; i++) {
        const hs_head_result *r = &d->heads[i];
        rows[i] = (hs_head_stat_row){.layer = r->layer, .head = r->head, .bos_mass = r->bos_mass,
                                     .entropy = r->entropy, .local_mass = r->local_mass,
                                     .cls = hs_head_class_name(r->cls)};
    }
    int rc = ctx->ops->store_head_stats(ctx, "", rows, n);
    free(rows);
    return rc == 0 ? 0 : hs_errf(err, errlen, "storing the head statistics failed");
}
