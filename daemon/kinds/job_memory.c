/* Job shapes for the memory estimate (job_memory.h). */
#include "job_memory.h"
#include "engine/families/model_config.h"
#include "engine/surgery/surgery_targets.h"
#include "surgery_samples.h"
#include "common/errors.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int int_or(const cJSON *spec, const char *name, int fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : fallback;
}

/* Tokens of a text are at most its bytes (byte-level vocabularies: every token covers at
 * least one byte), plus a bos token. */
static int token_bound(const char *text, bool bos, int cap)
{
    size_t n = (text ? strlen(text) : 0) + (bos ? 1 : 0);
    return n < (size_t)cap ? (n > 0 ? (int)n : 1) : cap;
}

hs_memory_job hs_job_shape_diag(const cJSON *spec)
{
    return (hs_memory_job){.seq_len = int_or(spec, "max_length", 512)};
}

hs_memory_job hs_job_shape_inspect(const cJSON *spec, int max_tokens)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "text"));
    bool bos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "prepend_bos"));
    int T = token_bound(text, bos, max_tokens);
    return (hs_memory_job){.seq_len = T, .attention_maps = T};
}

hs_memory_job hs_job_shape_generate(const char *const *prompts, int n, int max_prompt_tokens,
                                    int max_new_tokens, bool prepend_bos)
{
    int longest = 1;
    for (int i = 0; i < n; i++) {
        int t = token_bound(prompts[i], prepend_bos, max_prompt_tokens);
        longest = t > longest ? t : longest;
    }
    /* generate.c: t_max = longest + max_new_tokens, rows = max(longest, n) */
    return (hs_memory_job){.kv_sequences = n, .kv_positions = longest + max_new_tokens,
                           .kv_rows = longest > n ? longest : n};
}

/* Lowest layer, layers and heads of explicit targets. */
static void count_targets(const hs_head_target *t, int n, int n_layer, hs_memory_job *out)
{
    out->lowest_target_layer = n_layer;
    out->target_layers = 0;
    out->target_heads = n;
    for (int i = 0; i < n; i++) { /* sorted by (layer, head) */
        if (t[i].layer < out->lowest_target_layer)
            out->lowest_target_layer = t[i].layer;
        if (i == 0 || t[i].layer != t[i - 1].layer)
            out->target_layers++;
    }
}

/* The KV cache of the surgery's sample completions (surgery_samples.c generates them with
 * the training buffers still allocated, so the estimate counts both). Nothing without a
 * "samples" field; the spec was validated. */
static void add_samples_shape(const cJSON *spec, hs_memory_job *out)
{
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(spec, "samples");
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(samples, "prompts");
    int n = cJSON_GetArraySize(prompts);
    if (!cJSON_IsArray(prompts) || n < 1 || n > HS_SURGERY_SAMPLE_MAX_PROMPTS)
        return;
    const char *texts[HS_SURGERY_SAMPLE_MAX_PROMPTS];
    for (int i = 0; i < n; i++)
        texts[i] = cJSON_GetStringValue(cJSON_GetArrayItem(prompts, i));
    hs_memory_job g = hs_job_shape_generate(
        texts, n, HS_SURGERY_SAMPLE_PROMPT_TOKENS,
        int_or(samples, "max_new_tokens", HS_SURGERY_SAMPLE_DEFAULT_NEW_TOKENS), false);
    out->kv_sequences = g.kv_sequences;
    out->kv_positions = g.kv_positions;
    out->kv_rows = g.kv_rows;
}

int hs_job_shape_surgery(const cJSON *spec, const char *model_dir, int batch_size,
                         int grad_accum, int max_length, bool fused_accumulation,
                         hs_memory_job *out, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], field[128];
    hs_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    if (hs_model_config_load(path, &cfg, err, errlen) != 0)
        return -1;
    long long rows = (long long)batch_size * (fused_accumulation ? grad_accum : 1);
    *out = (hs_memory_job){.seq_len = max_length, .train_len = max_length,
                           .train_rows = rows < INT_MAX ? (int)rows : INT_MAX};
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(spec, "targets");
    if (hs_targets_is_rule(targets)) {
        hs_target_rule rule;
        if (hs_targets_parse_rule(targets, cfg.n_layer, cfg.n_head, &rule, field, sizeof field,
                                  err, errlen) != 0)
            return -1;
        out->lowest_target_layer = rule.layer_lo;
        out->target_layers = rule.layer_hi - rule.layer_lo + 1;
        out->target_heads = out->target_layers * (rule.head_hi - rule.head_lo + 1);
        add_samples_shape(spec, out);
        return 0;
    }
    hs_head_target *t = NULL;
    int n = 0;
    if (hs_targets_parse_explicit(targets, cfg.n_layer, cfg.n_head, &t, &n, field, sizeof field,
                                  err, errlen) != 0)
        return -1;
    count_targets(t, n, cfg.n_layer, out);
    free(t);
    add_samples_shape(spec, out);
    return 0;
}
