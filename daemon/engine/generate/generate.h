/* Text generation over a KV cache: every prompt prefilled once into its own cache slot, then
 * one-token decode steps for all unfinished prompts as a batch (model_decode.h), each stopping
 * at the model's eos_token_id, at a stop string, or after max_new_tokens. The cache is sized
 * up front; when the estimate exceeds the memory available the call fails at once, naming
 * the bytes needed. Works for every family: it runs the model's own block. */
#ifndef HS_GENERATE_H
#define HS_GENERATE_H
#include "engine/diagnosis/diagnosis.h"
#include "engine/model/model.h"
#include "sampler.h"
#include <stdbool.h>

/* Where the time went, over all prompts. */
typedef struct hs_generate_stats {
    double prefill_seconds;   /* the prompts' prefills (and their first tokens' choice) */
    long long prefill_tokens; /* Σ prompt tokens */
    double decode_seconds;    /* every decode step after the prefills */
    long long decode_tokens;  /* tokens those steps generated */
} hs_generate_stats;

typedef struct hs_generate_params {
    int max_new_tokens;       /* >= 1 */
    hs_sampling sampling;
    const char *const *stop;  /* n_stop strings; generation of a prompt stops at the first */
    int n_stop;
    bool logprobs;            /* fill hs_completion.logprobs */
    /* Called with each prompt's raw logits [V] at every step (step 0 = after the prefill)
     * when not NULL: for tests and inspection. */
    void (*on_logits)(void *arg, int prompt, int step, const float *logits, int V);
    void *on_logits_arg;
    hs_generate_stats *stats; /* filled when not NULL */
} hs_generate_params;

typedef enum hs_finish_reason { HS_FINISH_LENGTH, HS_FINISH_EOS, HS_FINISH_STOP } hs_finish_reason;
const char *hs_finish_reason_name(hs_finish_reason r); /* "length", "eos", "stop" */

typedef struct hs_completion {
    int32_t *ids;         /* [n] generated ids (an eos that ended it included) */
    int n;
    float *logprobs;      /* [n] log-softmax of the raw logits at each chosen id, or NULL */
    char *text;           /* decoded ids (without the eos; cut before a stop string) */
    hs_finish_reason finish;
    double seconds;       /* its prefill plus the decode steps until it finished */
} hs_completion;

/* Progress and cancellation hooks (either may be NULL); should_stop is asked every step. */
typedef struct hs_generate_hooks {
    void (*progress)(void *arg, int step, int total);
    bool (*should_stop)(void *arg);
    void *arg;
} hs_generate_hooks;

/* Bytes the cache and activations for these prompts need (hs_kv_cache_bytes). */
size_t hs_generate_bytes(const hs_model *m, const hs_token_seq *prompts, int n,
                         int max_new_tokens);

/* Generates for prompts[n] (each at least one token) into out[n] (zeroed by the call): 0,
 * 1 when should_stop stopped it (out freed), -1 with err (out freed). */
int hs_generate(hs_model *m, const hs_token_seq *prompts, int n, const hs_generate_params *p,
                const hs_generate_hooks *hooks, hs_completion *out, char *err, size_t errlen);
void hs_completions_free(hs_completion *c, int n);

#endif
