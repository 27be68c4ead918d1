/* The table of model families this build implements and the lookups over it (family.h):
 * by model_type, the refusal reason for well-known families that do not use ALiBi, tensor
 * names from a descriptor, and the QKV row permutation between a family's file layout and
 * the engine's. To add a family: write its descriptor in family_<name>.c, declare it below and
 * add it to the table (docs/architecture.md "How to add a model family"). */
#include "family.h"
#include "model_config.h"
#include "common/errors.h"
#include <stdio.h>
#include <string.h>

extern const hs_family hs_family_bloom;
extern const hs_family hs_family_mpt;

static const hs_family *const families[] = {&hs_family_bloom, &hs_family_mpt};

const hs_family *const *hs_families(size_t *count)
{
    *count = sizeof families / sizeof families[0];
    return families;
}

const hs_family *hs_family_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof families / sizeof families[0]; i++)
        if (strcmp(families[i]->name, name) == 0)
            return families[i];
    return NULL;
}

/* model_type values of widely used decoder families and how they encode positions. */
static const struct {
    const char *model_type, *positions;
} non_alibi[] = {
    {"llama", "rotary position embeddings"},    {"mistral", "rotary position embeddings"},
    {"mixtral", "rotary position embeddings"},  {"qwen2", "rotary position embeddings"},
    {"qwen3", "rotary position embeddings"},    {"gemma", "rotary position embeddings"},
    {"gemma2", "rotary position embeddings"},   {"phi", "rotary position embeddings"},
    {"phi3", "rotary position embeddings"},     {"gpt_neox", "rotary position embeddings"},
    {"gptj", "rotary position embeddings"},     {"falcon", "rotary position embeddings"},
    {"olmo", "rotary position embeddings"},     {"stablelm", "rotary position embeddings"},
    {"gpt2", "learned absolute position embeddings"},
    {"opt", "learned absolute position embeddings"},
    {"gpt_neo", "learned absolute position embeddings"},
    {"gpt_bigcode", "learned absolute position embeddings"},
    {"t5", "relative position buckets"},
};

const char *hs_family_non_alibi_reason(const char *model_type)
{
    static _Thread_local char reason[96];
    for (size_t i = 0; model_type && i < sizeof non_alibi / sizeof non_alibi[0]; i++)
        if (strcmp(non_alibi[i].model_type, model_type) == 0) {
            snprintf(reason, sizeof reason, "it uses %s, not ALiBi", non_alibi[i].positions);
            return reason;
        }
    return NULL;
}

bool hs_slot_is_per_layer(hs_tensor_slot slot)
{
    return slot >= HS_SLOT_LN1_W && slot <= HS_SLOT_PROJ_B;
}

int hs_family_tensor_name(const hs_family *f, hs_tensor_slot slot, int layer, char *buf,
                          size_t buflen)
{
    if (slot < 0 || slot >= HS_SLOT_COUNT || !f->tensor_names[slot])
        return -1;
    int n = hs_slot_is_per_layer(slot) ? snprintf(buf, buflen, f->tensor_names[slot], layer)
                                       : snprintf(buf, buflen, "%s", f->tensor_names[slot]);
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

size_t hs_qkv_row_from_file(hs_qkv_layout layout, size_t file_row, int C, int d)
{
    if (layout == HS_QKV_INTERLEAVED_PER_HEAD)
        return file_row;
    size_t part = file_row / (size_t)C, head = file_row % (size_t)C / (size_t)d,
           i = file_row % (size_t)d;
    return head * 3 * (size_t)d + part * (size_t)d + i;
}

size_t hs_qkv_row_to_file(hs_qkv_layout layout, size_t engine_row, int C, int d)
{
    if (layout == HS_QKV_INTERLEAVED_PER_HEAD)
        return engine_row;
    size_t head = engine_row / (3 * (size_t)d), part = engine_row % (3 * (size_t)d) / (size_t)d,
           i = engine_row % (size_t)d;
    return part * (size_t)C + head * (size_t)d + i;
}

int hs_family_check_sizes(const struct hs_model_config *cfg, const char *vocab_key,
                          const char *hidden_key, const char *heads_key, const char *layers_key,
                          const char *src, char *err, size_t errlen)
{
    const char *keys[4] = {vocab_key, hidden_key, heads_key, layers_key};
    const int vals[4] = {cfg->vocab_size, cfg->hidden_size, cfg->n_head, cfg->n_layer};
    for (int i = 0; i < 4; i++)
        if (vals[i] <= 0)
            return hs_errf(err, errlen, "%s: \"%s\" must be positive (is %d)", src, keys[i],
                           vals[i]);
    return 0;
}
