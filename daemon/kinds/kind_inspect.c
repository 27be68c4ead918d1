/* The `inspect` job kind: one text and up to 64 heads — given as [layer, head] pairs or as a
 * rule {"from_run", "classes", "layers", "heads"} resolved against a finished diagnosis the way
 * surgery targets are — → each head's causal attention matrix (engine/model/model_attention.h)
 * stored as fp16 in <run-dir>/attention.safetensors (served by GET /api/v1/runs/{id}/attention)
 * and per-token BOS mass, entropy and local mass in the result: {"model", "tokens",
 * "token_ids", "heads": [{"layer", "head", "bos_mass", "entropy", "local_mass"}],
 * "attention_file", "attention_dtype"}. */
#include "engine/diagnosis/diagnosis.h"
#include "engine/inspect/inspect.h"
#include "engine/model/model_attention.h"
#include "engine/surgery/surgery_targets.h"
#include "common/errors.h"
#include "job_memory.h"
#include "job_model.h"
#include "kinds.h"
#include "precision.h"
#include "spec.h"
#include "store/paths.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_HEADS = 64, MAX_TOKENS = 512 };

static const hs_spec_field inspect_fields[] = {
    {.name = "model", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 4096,
     .help = "model directory under --model-root, or run:<id>/<checkpoint>"},
    {.name = "text", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 1000000,
     .help = "the text (at most 512 tokens)"},
    {.name = "heads", .type = HS_FIELD_ANY, .required = true,
     .help = "[[layer, head], ...] (1-64 pairs) or {\"from_run\": id, \"classes\": [...], "
             "\"layers\": \"a-b\", \"heads\": \"a-b\"} resolved against a finished diagnosis"},
    {.name = "prepend_bos", .type = HS_FIELD_BOOL,
     .help = "put the model's bos token before the text (default false)"},
    HS_SPEC_FIELD_PRECISION,
    {.name = NULL},
};

static int check_pairs(const cJSON *heads, hs_spec_error *e)
{
    int n = cJSON_GetArraySize(heads);
    if (n < 1 || n > MAX_HEADS)
        return hs_spec_errorf(e, "heads", "heads must list 1 to %d [layer, head] pairs (got %d)",
                              MAX_HEADS, n);
    for (int i = 0; i < n; i++) {
        const cJSON *pair = cJSON_GetArrayItem(heads, i);
        const cJSON *l = cJSON_GetArrayItem(pair, 0), *h = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(l) ||
            !cJSON_IsNumber(h) || l->valuedouble != (int)l->valuedouble ||
            h->valuedouble != (int)h->valuedouble || l->valuedouble < 0 || h->valuedouble < 0 ||
            l->valuedouble > 100000 || h->valuedouble > 100000)
            return hs_spec_errorf(e, "heads", "heads[%d] must be [layer, head] with two "
                                  "non-negative integers", i);
    }
    return 0;
}

static int check_rule(const cJSON *heads, hs_spec_error *e)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, heads)
    {
        const char *k = item->string;
        if (strcmp(k, "from_run") != 0 && strcmp(k, "classes") != 0 &&
            strcmp(k, "layers") != 0 && strcmp(k, "heads") != 0)
            return hs_spec_errorf(e, "heads", "unknown key \"%.60s\" (allowed: from_run, "
                                  "classes, layers, heads)", k);
    }
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(heads, "from_run");
    if (!cJSON_IsNumber(run) || run->valuedouble < 1 || run->valuedouble > 9.0e15 ||
        run->valuedouble != (double)(long long)run->valuedouble)
        return hs_spec_errorf(e, "heads.from_run", "from_run must be a positive job id");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(heads, "classes");
    if (classes && !cJSON_IsArray(classes))
        return hs_spec_errorf(e, "heads.classes", "classes must be an array of class names");
    cJSON_ArrayForEach(item, classes)
    {
        hs_head_class c;
        if (!cJSON_IsString(item) || hs_head_class_from_name(item->valuestring, &c) != 0)
            return hs_spec_errorf(e, "heads.classes", "classes holds healthy, bos-sink, dead "
                                  "or low-entropy");
    }
    return 0;
}

static int inspect_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (hs_resolve_model(env, model->valuestring, path, sizeof path, why, sizeof why) != 0)
        return hs_spec_errorf(e, "model", "%s", why);
    const cJSON *heads = cJSON_GetObjectItemCaseSensitive(spec, "heads");
    if (cJSON_IsArray(heads))
        return check_pairs(heads, e);
    if (cJSON_IsObject(heads))
        return check_rule(heads, e);
    return hs_spec_errorf(e, "heads", "heads must be an array of [layer, head] pairs or an "
                          "object with from_run");
}

/* The spec's heads as targets (pairs in the order given, or the rule's matches). */
static int resolve_heads(hs_job_ctx *ctx, const cJSON *spec, const hs_model_config *cfg,
                         hs_head_target **t, int *n, char *err, size_t errlen)
{
    const cJSON *heads = cJSON_GetObjectItemCaseSensitive(spec, "heads");
    *t = NULL;
    *n = 0;
    if (cJSON_IsArray(heads)) {
        int count = cJSON_GetArraySize(heads);
        *t = calloc((size_t)count, sizeof **t);
        if (!*t)
            return hs_errf(err, errlen, "out of memory for %d heads", count);
        for (int i = 0; i < count; i++) {
            const cJSON *pair = cJSON_GetArrayItem(heads, i);
            (*t)[i].layer = cJSON_GetArrayItem(pair, 0)->valueint;
            (*t)[i].head = cJSON_GetArrayItem(pair, 1)->valueint;
            if ((*t)[i].layer >= cfg->n_layer || (*t)[i].head >= cfg->n_head)
                return hs_errf(err, errlen, "heads[%d]: (%d, %d) is outside the model's %d "
                               "layers × %d heads", i, (*t)[i].layer, (*t)[i].head,
                               cfg->n_layer, cfg->n_head);
        }
        *n = count;
        return 0;
    }
    hs_target_rule rule;
    char field[128], why[HS_ERR_LEN];
    if (hs_targets_parse_rule(heads, cfg->n_layer, cfg->n_head, &rule, field, sizeof field, why,
                              sizeof why) != 0)
        return hs_errf(err, errlen, "heads: %s", why);
    cJSON *rows = ctx->ops->load_diagnosis(ctx, rule.from_run, why, sizeof why);
    if (!rows)
        return hs_errf(err, errlen, "heads.from_run %lld: %s", (long long)rule.from_run, why);
    int rc = hs_targets_from_diagnosis(&rule, rows, t, n, err, errlen);
    cJSON_Delete(rows);
    if (rc == 0 && (*n < 1 || *n > MAX_HEADS))
        rc = hs_errf(err, errlen, "heads.from_run %lld: the rule matches %d heads; inspect "
                     "takes 1 to %d", (long long)rule.from_run, *n, MAX_HEADS);
    if (rc == 0)
        hs_job_logf(ctx, "heads.from_run %lld: %d heads match the rule",
                    (long long)rule.from_run, *n);
    return rc;
}

static cJSON *double_array(const double *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

/* {"layer", "head", "bos_mass", "entropy", "local_mass"} of one map. */
static cJSON *head_json(const hs_head_target *t, const float *map, int T, double *scratch)
{
    double *bos = scratch, *ent = scratch + T, *loc = scratch + 2 * (size_t)T;
    hs_attention_token_stats(map, T, bos, ent, loc);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddItemToObject(o, "layer", cJSON_CreateNumber(t->layer));
    cJSON_AddItemToObject(o, "head", cJSON_CreateNumber(t->head));
    cJSON_AddItemToObject(o, "bos_mass", double_array(bos, T));
    cJSON_AddItemToObject(o, "entropy", double_array(ent, T));
    cJSON_AddItemToObject(o, "local_mass", double_array(loc, T));
    return o;
}

/* The tokens as strings (each id decoded alone) and their ids. */
static int add_tokens(cJSON *result, const hs_model *m, const hs_token_seq *seq, char *err,
                      size_t errlen)
{
    cJSON *tokens = cJSON_AddArrayToObject(result, "tokens");
    cJSON *ids = cJSON_AddArrayToObject(result, "token_ids");
    if (!tokens || !ids)
        return hs_errf(err, errlen, "out of memory building the result");
    for (int t = 0; t < seq->T; t++) {
        char *text = NULL;
        size_t len = 0;
        if (hs_tokenizer_decode(m->tok, &seq->ids[t], 1, &text, &len, err, errlen) != 0)
            return -1;
        cJSON_AddItemToArray(tokens, cJSON_CreateString(text));
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(seq->ids[t]));
        free(text);
    }
    return 0;
}

static cJSON *result_json(const cJSON *spec, const hs_model *m, const hs_token_seq *seq,
                          const hs_head_target *t, int n, const float *maps, char *err,
                          size_t errlen)
{
    const int T = seq->T;
    cJSON *result = cJSON_CreateObject();
    double *scratch = malloc(3 * (size_t)T * sizeof(double));
    cJSON *heads = result ? cJSON_CreateArray() : NULL;
    int rc = result && scratch && heads ? 0 : hs_errf(err, errlen, "out of memory");
    if (rc == 0) {
        cJSON_AddItemToObject(result, "model", cJSON_Duplicate(
            cJSON_GetObjectItemCaseSensitive(spec, "model"), true));
        rc = add_tokens(result, m, seq, err, errlen);
    }
    for (int k = 0; rc == 0 && k < n; k++) {
        cJSON *h = head_json(&t[k], maps + (size_t)k * T * T, T, scratch);
        if (!h)
            rc = hs_errf(err, errlen, "out of memory building the result");
        cJSON_AddItemToArray(heads, h);
    }
    free(scratch);
    if (rc != 0) {
        cJSON_Delete(heads);
        cJSON_Delete(result);
        return NULL;
    }
    cJSON_AddItemToObject(result, "heads", heads);
    cJSON_AddStringToObject(result, "attention_file", HS_INSPECT_FILE);
    cJSON_AddStringToObject(result, "attention_dtype", "F16");
    return result;
}

/* The text's tokens; more than MAX_TOKENS is an error naming the count. */
static int tokenize(hs_model *m, const cJSON *spec, hs_token_seq **seq, char *err,
                    size_t errlen)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "text"));
    bool bos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "prepend_bos"));
    if (hs_tokenize_texts(m, &text, 1, MAX_TOKENS + 1, bos, seq, err, errlen) != 0)
        return -1;
    if ((*seq)[0].T > MAX_TOKENS) {
        hs_token_seqs_free(*seq, 1);
        *seq = NULL;
        return hs_errf(err, errlen, "text: more than %d tokens; inspect takes at most %d",
                       MAX_TOKENS, MAX_TOKENS);
    }
    return 0;
}

static int inspect_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    hs_job_progress(ctx, 0, 0, "loading");
    const hs_memory_job shape = hs_job_shape_inspect(spec, MAX_TOKENS);
    hs_model *m = hs_job_load_model(ctx, spec, &shape, err, errlen);
    hs_token_seq *seq = NULL;
    hs_head_target *t = NULL;
    float *maps = NULL;
    int n = 0;
    if (!m || tokenize(m, spec, &seq, err, errlen) != 0 ||
        resolve_heads(ctx, spec, &m->cfg, &t, &n, err, errlen) != 0) {
        free(t);
        hs_token_seqs_free(seq, seq ? 1 : 0);
        return -1;
    }
    const int T = seq[0].T;
    hs_job_logf(ctx, "%d token(s), %d head(s)", T, n);
    char path[PATH_MAX];
    int rc = 0;
    maps = malloc((size_t)n * T * T * sizeof(float));
    if (!maps)
        rc = hs_errf(err, errlen, "out of memory for %d attention matrices of %d tokens", n, T);
    if (rc == 0)
        rc = hs_model_attention_maps(m, seq[0].ids, T, t, n, maps, err, errlen);
    if (rc == 0 && snprintf(path, sizeof path, "%s/%s", ctx->run_dir, HS_INSPECT_FILE) >=
                       (int)sizeof path)
        rc = hs_errf(err, errlen, "run directory path too long");
    if (rc == 0)
        rc = hs_inspect_write(path, t, n, maps, T, err, errlen);
    cJSON *result = rc == 0 ? result_json(spec, m, &seq[0], t, n, maps, err, errlen) : NULL;
    if (rc == 0 && !result)
        rc = -1;
    if (rc == 0 && hs_result_add_precision(result, spec) != 0)
        rc = hs_errf(err, errlen, "out of memory building the result");
    if (rc == 0 && ctx->ops->store_result(ctx, result) != 0)
        rc = hs_errf(err, errlen, "storing the result failed");
    cJSON_Delete(result);
    free(maps);
    free(t);
    hs_token_seqs_free(seq, 1);
    return rc;
}

const hs_job_kind hs_kind_inspect = {
    .name = "inspect",
    .description = "attention matrices of chosen heads on one text, with per-token BOS mass, "
                   "entropy and local mass",
    .fields = inspect_fields,
    .check = inspect_check,
    .run = inspect_run,
};
