/* The surgery's training data (docs/architecture.md "Training semantics"): the corpus text tokenized once
 * (no BOS added), cut into consecutive max_length chunks with the ragged tail dropped; the
 * per-epoch chunk order (in order, or a seeded shuffle that depends only on seed and epoch);
 * micro-batches of batch_size chunks (the last one of an epoch may be smaller); and the step
 * counting formulas. Owns no model and no optimizer. */
#ifndef HS_SURGERY_DATA_H
#define HS_SURGERY_DATA_H
#include "engine/formats/tokenizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_surgery_corpus {
    int32_t *tokens;  /* [n_chunks, chunk_len] host, chunk i at tokens + i·chunk_len */
    int n_chunks;
    int chunk_len;    /* max_length */
    size_t n_tokens;  /* tokens of the whole text before cutting (the tail included) */
} hs_surgery_corpus;

/* Tokenizes text[0..len) and cuts it into chunks of max_length (>= 2). Fewer tokens than one
 * chunk is an error naming `what` (e.g. the corpus name). */
int hs_surgery_corpus_from_text(const hs_tokenizer *tok, const char *text, size_t len,
                                int max_length, const char *what, hs_surgery_corpus *out,
                                char *err, size_t errlen);
/* The same from already tokenized ids (copied). */
int hs_surgery_corpus_from_ids(const int32_t *ids, size_t n_ids, int max_length,
                               const char *what, hs_surgery_corpus *out, char *err,
                               size_t errlen);
/* Reads the file at path and calls hs_surgery_corpus_from_text. */
int hs_surgery_corpus_load(const hs_tokenizer *tok, const char *path, int max_length,
                           const char *what, hs_surgery_corpus *out, char *err, size_t errlen);
void hs_surgery_corpus_free(hs_surgery_corpus *c);

/* ceil(n_chunks / batch_size). */
int64_t hs_surgery_micro_batches_per_epoch(int64_t n_chunks, int batch_size);
/* ceil(micro-batches per epoch / grad_accum). */
int64_t hs_surgery_steps_per_epoch(int64_t n_chunks, int batch_size, int grad_accum);
/* max_steps when > 0, else epochs × steps per epoch. */
int64_t hs_surgery_total_steps(int epochs, int64_t steps_per_epoch, int64_t max_steps);

/* order[n_chunks] = the chunk indices of epoch `epoch` (0-based): 0..n−1 when !shuffle, else
 * a Fisher–Yates permutation drawn from (seed, epoch). */
void hs_surgery_epoch_order(uint64_t seed, int epoch, bool shuffle, int n_chunks, int *order);
/* Copies micro-batch `mb` (0-based within the epoch) of the given order into ids
 * [batch_size, chunk_len]; returns the number of rows B (batch_size, or fewer for the last). */
int hs_surgery_gather_micro_batch(const hs_surgery_corpus *c, const int *order, int64_t mb,
                                  int batch_size, int32_t *ids);

#endif
