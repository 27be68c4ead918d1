/* The surgery's optional "samples" field {prompts, max_new_tokens, temperature, top_p, seed}:
 * completions of the same prompts, with the same draws, from the untouched model and from each
 * evaluated checkpoint, so a repair can be read as text. Each set is written atomically as
 * samples.json into its checkpoint directory (the untouched model's as samples-start.json in
 * the run directory) and gathered into the result's "samples" object. */
#ifndef HS_SURGERY_SAMPLES_H
#define HS_SURGERY_SAMPLES_H
#include "engine/generate/generate.h"
#include "kinds.h"

/* Prompts at most, tokens kept of each, and new tokens when the spec names none. */
#define HS_SURGERY_SAMPLE_MAX_PROMPTS 16
#define HS_SURGERY_SAMPLE_PROMPT_TOKENS 8192
#define HS_SURGERY_SAMPLE_DEFAULT_NEW_TOKENS 32

#define HS_SURGERY_SAMPLES_FIELD                                                               \
    {.name = "samples", .type = HS_FIELD_OBJECT,                                               \
     .help = "{prompts (1-16), max_new_tokens (1-512, default 32), temperature (0: greedy, "   \
             "the default), top_p, seed}: completions of the untouched model and of each "     \
             "checkpoint"}

/* The object's keys, types and ranges (field "samples" or "samples.<key>"). */
int hs_surgery_samples_check(const cJSON *samples, hs_spec_error *e);

typedef struct hs_surgery_samples {
    const cJSON *prompts;     /* the spec's array (the spec outlives the job) */
    int n;
    hs_token_seq *seqs;       /* [n] tokenized */
    hs_generate_params params;
    cJSON *collected;         /* {"start": [texts], "<checkpoint>": [texts], ...} */
} hs_surgery_samples;

/* From the validated spec (*s zeroed, n 0 when the field is absent); tokenizes on m. */
int hs_surgery_samples_init(hs_surgery_samples *s, const cJSON *spec, const hs_model *m,
                            char *err, size_t errlen);
void hs_surgery_samples_free(hs_surgery_samples *s);

/* Generates with m's current weights, writes {"checkpoint", "samples": [{"prompt", "text",
 * "token_ids", "finish_reason"}]} to path atomically and adds the texts to s->collected under
 * name. Nothing when s->n is 0. */
int hs_surgery_samples_take(hs_surgery_samples *s, hs_model *m, const char *name,
                            const char *path, char *err, size_t errlen);

#endif
