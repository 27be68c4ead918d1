/* Sample completions during a surgery (surgery_samples.h). */
#include "surgery_samples.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "spec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_SAMPLE_TOKENS = 512 };

static int check_number(const cJSON *o, const char *key, double lo, double hi, bool integer,
                        bool exclusive_lo, hs_spec_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return 0;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    bool low = exclusive_lo ? !(x > lo) : !(x >= lo);
    char field[32];
    snprintf(field, sizeof field, "samples.%s", key);
    if (!cJSON_IsNumber(v) || low || !(x <= hi) || (integer && x != floor(x)))
        return hs_spec_errorf(e, field, "samples.%s must be %s in %s%g, %g]", key,
                              integer ? "an integer" : "a number", exclusive_lo ? "(" : "[", lo,
                              hi);
    return 0;
}

int hs_surgery_samples_check(const cJSON *samples, hs_spec_error *e)
{
    if (!samples)
        return 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, samples)
    {
        const char *k = item->string;
        if (strcmp(k, "prompts") && strcmp(k, "max_new_tokens") && strcmp(k, "temperature") &&
            strcmp(k, "top_p") && strcmp(k, "seed"))
            return hs_spec_errorf(e, "samples", "unknown key \"%.60s\" (allowed: prompts, "
                                  "max_new_tokens, temperature, top_p, seed)", k);
    }
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(samples, "prompts");
    int n = cJSON_GetArraySize(prompts);
    if (!cJSON_IsArray(prompts) || n < 1 || n > HS_SURGERY_SAMPLE_MAX_PROMPTS)
        return hs_spec_errorf(e, "samples.prompts", "samples.prompts must be 1 to %d strings",
                              HS_SURGERY_SAMPLE_MAX_PROMPTS);
    cJSON_ArrayForEach(item, prompts) if (!cJSON_IsString(item) || !*item->valuestring)
        return hs_spec_errorf(e, "samples.prompts", "samples.prompts holds non-empty strings");
    if (check_number(samples, "max_new_tokens", 1, MAX_SAMPLE_TOKENS, true, false, e) != 0 ||
        check_number(samples, "temperature", 0, 100, false, false, e) != 0 ||
        check_number(samples, "top_p", 0, 1, false, true, e) != 0 ||
        check_number(samples, "seed", 0, 9e15, true, false, e) != 0)
        return -1;
    return 0;
}

static double num_or(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int hs_surgery_samples_init(hs_surgery_samples *s, const cJSON *spec, const hs_model *m,
                            char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(spec, "samples");
    if (!o)
        return 0;
    s->prompts = cJSON_GetObjectItemCaseSensitive(o, "prompts");
    int n = cJSON_GetArraySize(s->prompts);
    const char *texts[HS_SURGERY_SAMPLE_MAX_PROMPTS];
    for (int i = 0; i < n && i < HS_SURGERY_SAMPLE_MAX_PROMPTS; i++)
        texts[i] = cJSON_GetArrayItem(s->prompts, i)->valuestring;
    if (hs_tokenize_texts(m, texts, n, HS_SURGERY_SAMPLE_PROMPT_TOKENS, false, &s->seqs, err,
                          errlen) != 0)
        return -1;
    s->n = n;
    hs_sampling sm = hs_sampling_default();
    double t = num_or(o, "temperature", 0.0);
    sm.do_sample = t > 0.0;
    sm.temperature = t > 0.0 ? t : 1.0;
    sm.top_k = 0;
    sm.top_p = num_or(o, "top_p", 1.0);
    sm.seed = (uint64_t)num_or(o, "seed", 0);
    s->params.sampling = sm;
    s->params.max_new_tokens =
        (int)num_or(o, "max_new_tokens", HS_SURGERY_SAMPLE_DEFAULT_NEW_TOKENS);
    s->collected = cJSON_CreateObject();
    if (!s->collected) {
        hs_surgery_samples_free(s);
        return hs_errf(err, errlen, "out of memory for the samples");
    }
    return 0;
}

void hs_surgery_samples_free(hs_surgery_samples *s)
{
    hs_token_seqs_free(s->seqs, s->n);
    cJSON_Delete(s->collected);
    memset(s, 0, sizeof *s);
}

static cJSON *samples_json(const hs_surgery_samples *s, const char *name,
                           const hs_completion *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *list = o ? cJSON_AddArrayToObject(o, "samples") : NULL;
    if (!list) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "checkpoint", name);
    for (int i = 0; i < s->n; i++) {
        cJSON *e = cJSON_CreateObject(), *ids = cJSON_CreateArray();
        for (int t = 0; ids && t < c[i].n; t++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber(c[i].ids[t]));
        cJSON_AddStringToObject(e, "prompt", cJSON_GetArrayItem(s->prompts, i)->valuestring);
        cJSON_AddStringToObject(e, "text", c[i].text);
        cJSON_AddItemToObject(e, "token_ids", ids);
        cJSON_AddStringToObject(e, "finish_reason", hs_finish_reason_name(c[i].finish));
        cJSON_AddItemToArray(list, e);
    }
    return o;
}

/* path written through a temporary sibling, synced, renamed into place, directory synced. */
static int write_atomic(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return hs_errf(err, errlen, "%s: path too long", path);
    if (hs_write_file_synced(tmp, text, strlen(text), err, errlen) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return hs_errf(err, errlen, "%s: cannot rename into place", path);
    }
    return hs_fsync_parent_dir(path, err, errlen);
}

int hs_surgery_samples_take(hs_surgery_samples *s, hs_model *m, const char *name,
                            const char *path, char *err, size_t errlen)
{
    if (s->n == 0)
        return 0;
    hs_completion out[HS_SURGERY_SAMPLE_MAX_PROMPTS];
    if (hs_generate(m, s->seqs, s->n, &s->params, NULL, out, err, errlen) != 0)
        return -1;
    cJSON *doc = samples_json(s, name, out);
    cJSON *texts = cJSON_CreateArray();
    for (int i = 0; texts && i < s->n; i++)
        cJSON_AddItemToArray(texts, cJSON_CreateString(out[i].text));
    hs_completions_free(out, s->n);
    char *text = doc ? cJSON_Print(doc) : NULL;
    int rc = text && texts ? write_atomic(path, text, err, errlen)
                           : hs_errf(err, errlen, "out of memory for the samples");
    if (rc == 0) {
        cJSON_AddItemToObject(s->collected, name, texts);
        texts = NULL;
    }
    cJSON_Delete(texts);
    free(text);
    cJSON_Delete(doc);
    return rc;
}
