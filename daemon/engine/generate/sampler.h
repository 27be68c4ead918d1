/* Choosing the next token from a row of logits, as transformers' generate() does: the
 * repetition penalty over the tokens so far, then greedy argmax, or (do_sample) temperature,
 * top-k and top-p truncation and a draw from the softmax. Draws are counter-based: draw
 * `step` of stream `stream` under `seed` is a pure function of the three, so a prompt's
 * completion does not depend on which other prompts share its batch. */
#ifndef HS_GENERATE_SAMPLER_H
#define HS_GENERATE_SAMPLER_H
#include <stdbool.h>
#include <stdint.h>

typedef struct hs_sampling {
    bool do_sample;            /* false: greedy (temperature, top_k, top_p ignored) */
    double temperature;        /* > 0; logits are divided by it (1: unchanged) */
    int top_k;                 /* keep the k largest (ties with the k-th kept); 0: off */
    double top_p;              /* keep the smallest top set of probability >= top_p; 1: off */
    double repetition_penalty; /* HF's: a seen token's logit l becomes l/p if l > 0 else l·p */
    uint64_t seed;
} hs_sampling;

/* transformers' GenerationConfig defaults: greedy; temperature 1, top_k 50, top_p 1, no
 * repetition penalty, seed 0. */
hs_sampling hs_sampling_default(void);

/* Applies the repetition penalty to logits[V] in place for every distinct id of seen[n_seen]
 * (ids outside [0, V) are ignored). mark is scratch of V bytes, zero on entry and on return. */
void hs_apply_repetition_penalty(float *logits, int V, const int32_t *seen, int n_seen,
                                 double penalty, uint8_t *mark);

/* Turns logits[V] (already penalised) into the sampling distribution probs[V] (doubles,
 * summing to 1): softmax(logits / temperature), with every token that top-k or top-p removes
 * at 0. order is scratch of V ints. */
void hs_sampling_distribution(const hs_sampling *s, const float *logits, int V, double *probs,
                              int *order);

/* The next token: argmax of logits (first index among equal maxima) when !do_sample, else a
 * draw from hs_sampling_distribution with the uniform number of (seed, stream, step). The
 * penalty must already have been applied. probs (V doubles) and order (V ints) are scratch. */
int hs_sample_token(const hs_sampling *s, const float *logits, int V, uint64_t stream,
                    uint64_t step, double *probs, int *order);

/* Uniform double in [0, 1) for draw (seed, stream, step). */
double hs_sampler_uniform(uint64_t seed, uint64_t stream, uint64_t step);

#endif
