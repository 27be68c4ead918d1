/* Shared parts of the diagnose and evaluate job kinds (job_diag_common.h): the cross-field
 * check, text loading, model loading through the device cache, tokenization, progress and
 * the head-statistics rows. Never touches SQLite or HTTP (the runner API does). */
#include "job_diag_common.h"
#include "device.h"
#include "errors.h"
#include "paths.h"
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int spec_err(hs_spec_error *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int spec_err(hs_spec_error *e, const char *field, const char *fmt, ...)
{
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
    return -1;
}

int hs_diag_check_common(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (!cJSON_IsString(model))
        return spec_err(e, "model", "model must be a string");
    if (hs_resolve_model(env, model->valuestring, path, sizeof path, why, sizeof why) != 0)
        return spec_err(e, "model", "%s", why);
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(spec, "texts");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "text_file");
    if (!texts && !file)
        return spec_err(e, "texts", "one of texts (an array of strings) or text_file is required");
    if (texts && file)
        return spec_err(e, "text_file", "give either texts or text_file, not both");
    if (file) {
        if (!cJSON_IsString(file))
            return spec_err(e, "text_file", "text_file must be a string");
        if (hs_resolve_corpus(env, file->valuestring, path, sizeof path, why, sizeof why) != 0)
            return spec_err(e, "text_file", "%s", why);
    }
    return 0;
}

static void free_texts(char **texts, int n)
{
    for (int i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
}

static int copy_text_array(const cJSON *arr, char ***out, int *n, char *err, size_t errlen)
{
    int count = cJSON_GetArraySize(arr);
    char **t = calloc(count > 0 ? (size_t)count : 1, sizeof *t);
    if (!t)
        return hs_errf(err, errlen, "texts: out of memory");
    for (int i = 0; i < count; i++) {
        const cJSON *item = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(item)) {
            free_texts(t, i);
            return hs_errf(err, errlen, "texts[%d] must be a string", i);
        }
        if (!(t[i] = strdup(item->valuestring))) {
            free_texts(t, i);
            return hs_errf(err, errlen, "texts: out of memory");
        }
    }
    *out = t;
    *n = count;
    return 0;
}

/* One text per non-empty line (trailing \r\n stripped). */
static int read_text_file(const hs_kind_env *env, const char *name, char ***out, int *n,
                          char *err, size_t errlen)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (hs_resolve_corpus(env, name, path, sizeof path, why, sizeof why) != 0)
        return hs_errf(err, errlen, "text_file: %s", why);
    FILE *f = fopen(path, "r");
    if (!f)
        return hs_errf(err, errlen, "text_file \"%s\": %s", name, strerror(errno));
    char *line = NULL, **t = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0, alloc = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (count == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            char **bigger = realloc(t, (size_t)alloc * sizeof *t);
            if (!bigger) {
                rc = hs_errf(err, errlen, "text_file \"%s\": out of memory", name);
                break;
            }
            t = bigger;
        }
        if (!(t[count] = strdup(line))) {
            rc = hs_errf(err, errlen, "text_file \"%s\": out of memory", name);
            break;
        }
        count++;
    }
    if (rc == 0 && ferror(f))
        rc = hs_errf(err, errlen, "text_file \"%s\": read error", name);
    free(line);
    fclose(f);
    if (rc == 0 && count == 0)
        rc = hs_errf(err, errlen, "text_file \"%s\" holds no text (one text per non-empty line)",
                     name);
    if (rc != 0) {
        free_texts(t, count);
        return -1;
    }
    *out = t;
    *n = count;
    return 0;
}

void hs_diag_inputs_free(hs_diag_inputs *in)
{
    if (!in)
        return;
    hs_token_seqs_free(in->seqs, in->n_texts);
    free_texts(in->texts, in->n_texts);
    memset(in, 0, sizeof *in);
}

int hs_diag_inputs_load(hs_job_ctx *ctx, const cJSON *spec, bool prepend_bos,
                        hs_diag_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    const hs_kind_env env = {
        .model_root = ctx->model_root, .corpus_root = ctx->corpus_root, .data_dir = ctx->data_dir};
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(spec, "texts");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "text_file");
    int rc;
    if (cJSON_IsArray(texts))
        rc = copy_text_array(texts, &in->texts, &in->n_texts, err, errlen);
    else if (cJSON_IsString(file))
        rc = read_text_file(&env, file->valuestring, &in->texts, &in->n_texts, err, errlen);
    else
        rc = hs_errf(err, errlen, "texts: one of texts or text_file is required");
    if (rc != 0)
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
    if (!ctx->device) {
        hs_diag_inputs_free(in);
        return hs_errf(err, errlen, "no compute device is available to this job");
    }
    hs_job_logf(ctx, "loading model %s", model->valuestring);
    in->model = hs_device_model(ctx->device, path, why, sizeof why);
    if (!in->model) {
        hs_diag_inputs_free(in);
        return hs_errf(err, errlen, "loading model \"%s\": %s", model->valuestring, why);
    }
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(spec, "max_length");
    int max_length = cJSON_IsNumber(ml) ? (int)ml->valuedouble : 512;
    if (hs_tokenize_texts(in->model, (const char *const *)in->texts, in->n_texts, max_length,
                          prepend_bos, &in->seqs, err, errlen) != 0) {
        in->model = NULL;
        hs_diag_inputs_free(in);
        return -1;
    }
    for (int i = 0; i < in->n_texts; i++)
        in->n_tokens += in->seqs[i].T;
    hs_job_logf(ctx, "%d text(s), %lld token(s) after truncation to %d", in->n_texts,
                in->n_tokens, max_length);
    return 0;
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
