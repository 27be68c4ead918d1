/* The cached forward of generation: a KV cache for B sequences of up to t_max positions
 * (every layer's keys and values, one backend allocation) and the activations of one call, all
 * sized up front, and hs_model_decode(), which feeds new tokens to some of the sequences at
 * their cached positions (a prompt's prefill, or one token per sequence in a batched decode
 * step) and returns the logits of each one's last new token. The prefix is never recomputed. */
#ifndef HS_MODEL_DECODE_H
#define HS_MODEL_DECODE_H
#include "model.h"
#include <stddef.h>
#include <stdint.h>

typedef struct hs_kv_cache hs_kv_cache;

/* Bytes a cache for B sequences of t_max positions takes, with activations for calls of up to
 * max_rows token rows (nb·T_new) on `c`'s shape: what a job checks against the memory
 * available before creating it. Saturates at SIZE_MAX. */
size_t hs_kv_cache_bytes(const hs_model_config *c, int B, int t_max, int max_rows);

/* Allocates the cache and the activations on m's backend (every sequence empty). */
int hs_kv_cache_create(hs_model *m, int B, int t_max, int max_rows, hs_kv_cache **out,
                       char *err, size_t errlen);
void hs_kv_cache_free(hs_kv_cache *c);
/* Positions cached for sequence b. */
int hs_kv_cache_length(const hs_kv_cache *c, int b);

/* Feeds T_new tokens to each of the nb sequences b0 .. b0+nb−1 (ids host [nb, T_new]) at the
 * positions after what they have cached, appends their keys and values, and writes the logits
 * of each sequence's last new token into logits (host [nb, V]). nb·T_new must be at most the
 * cache's max_rows and every sequence must have room for T_new more positions. */
int hs_model_decode(hs_model *m, hs_kv_cache *c, int b0, int nb, const int32_t *ids,
                    int T_new, float *logits, char *err, size_t errlen);

#endif
