/* Corpus chunking, epoch order and micro-batch assembly for surgery (see surgery_data.h). */
#include "surgery_data.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "surgery_rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stream id of the shuffle draws, apart from the re-initialisation streams (layer·H + head). */
#define HS_SURGERY_SHUFFLE_STREAM 0x5348554646ULL

int hs_surgery_corpus_from_ids(const int32_t *ids, size_t n_ids, int max_length,
                               const char *what, hs_surgery_corpus *out, char *err,
                               size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (max_length < 2)
        return hs_errf(err, errlen, "max_length %d: must be at least 2", max_length);
    size_t n_chunks = n_ids / (size_t)max_length;
    if (n_chunks == 0)
        return hs_errf(err, errlen,
                       "%s: %zu tokens, shorter than one chunk of max_length %d tokens", what,
                       n_ids, max_length);
    if (n_chunks > (size_t)INT32_MAX)
        return hs_errf(err, errlen, "%s: too many chunks (%zu)", what, n_chunks);
    out->tokens = malloc(n_chunks * (size_t)max_length * sizeof(int32_t));
    if (!out->tokens)
        return hs_errf(err, errlen, "%s: out of memory for %zu chunks", what, n_chunks);
    memcpy(out->tokens, ids, n_chunks * (size_t)max_length * sizeof(int32_t));
    out->n_chunks = (int)n_chunks;
    out->chunk_len = max_length;
    out->n_tokens = n_ids;
    return 0;
}

int hs_surgery_corpus_from_text(const hs_tokenizer *tok, const char *text, size_t len,
                                int max_length, const char *what, hs_surgery_corpus *out,
                                char *err, size_t errlen)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char why[HS_ERR_LEN];
    memset(out, 0, sizeof *out);
    if (hs_tokenizer_encode(tok, text, len, &ids, &n_ids, why, sizeof why) != 0)
        return hs_errf(err, errlen, "%s: tokenizing failed: %s", what, why);
    int rc = hs_surgery_corpus_from_ids(ids, n_ids, max_length, what, out, err, errlen);
    free(ids);
    return rc;
}

int hs_surgery_corpus_load(const hs_tokenizer *tok, const char *path, int max_length,
                           const char *what, hs_surgery_corpus *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = hs_read_file(path, what, 0, &len, err, errlen);
    if (!text)
        return -1;
    int rc = hs_surgery_corpus_from_text(tok, text, len, max_length, what, out, err, errlen);
    free(text);
    return rc;
}

void hs_surgery_corpus_free(hs_surgery_corpus *c)
{
    if (!c)
        return;
    free(c->tokens);
    memset(c, 0, sizeof *c);
}

int64_t hs_surgery_micro_batches_per_epoch(int64_t n_chunks, int batch_size)
{
    return (n_chunks + batch_size - 1) / batch_size;
}

int64_t hs_surgery_steps_per_epoch(int64_t n_chunks, int batch_size, int grad_accum)
{
    int64_t mb = hs_surgery_micro_batches_per_epoch(n_chunks, batch_size);
    return (mb + grad_accum - 1) / grad_accum;
}

int64_t hs_surgery_total_steps(int epochs, int64_t steps_per_epoch, int64_t max_steps)
{
    return max_steps > 0 ? max_steps : (int64_t)epochs * steps_per_epoch;
}

void hs_surgery_epoch_order(uint64_t seed, int epoch, bool shuffle, int n_chunks, int *order)
{
    for (int i = 0; i < n_chunks; i++)
        order[i] = i;
    if (!shuffle)
        return;
    uint64_t stream = HS_SURGERY_SHUFFLE_STREAM + (uint64_t)epoch;
    for (int i = n_chunks - 1; i > 0; i--) {
        /* j uniform in [0, i] by multiply-shift of 32 random bits (bias < 2^-32·n). */
        uint64_t r = hs_surgery_rng_u64(seed, stream, (uint64_t)i) >> 32;
        int j = (int)((r * (uint64_t)(i + 1)) >> 32);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int hs_surgery_gather_micro_batch(const hs_surgery_corpus *c, const int *order, int64_t mb,
                                  int batch_size, int32_t *ids)
{
    int64_t first = mb * batch_size;
    int B = 0;
    for (int64_t i = first; i < first + batch_size && i < c->n_chunks; i++, B++)
        memcpy(ids + (size_t)B * c->chunk_len, c->tokens + (size_t)order[i] * c->chunk_len,
               (size_t)c->chunk_len * sizeof(int32_t));
    return B;
}
