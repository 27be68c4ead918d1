/* Byte-level BPE tokenizers from a tokenizer.json, as HF tokenizers runs them: BLOOM's (no
 * normalizer, Split with BLOOM's regex, ByteLevel without regex) and GPT-NeoX's as MPT ships it
 * (NFC, ByteLevel with GPT-2's regex); added tokens matched literally, raw ones before the
 * normalizer and normalized ones after it; merges by rank (ties to the leftmost pair); decoding
 * back to bytes, lossy UTF-8 like HF. Any other pipeline is refused at load. Facts:
 * docs/model-families.md "tokenizer". A loaded tokenizer is immutable: encode and decode may run
 * from several threads at once. */
#ifndef HS_TOKENIZER_H
#define HS_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct hs_tokenizer hs_tokenizer;

hs_tokenizer *hs_tokenizer_load(const char *tokenizer_json_path, char *err, size_t errlen);
hs_tokenizer *hs_tokenizer_parse(const char *json, size_t len, char *err, size_t errlen);
void hs_tokenizer_free(hs_tokenizer *tok);

/* Encodes len bytes of text (any bytes, not only valid UTF-8) into a malloc'd id array. No
 * BOS/EOS is added (the post-processors accepted add none). *ids may be NULL when *n_ids is 0. */
int hs_tokenizer_encode(const hs_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                        size_t *n_ids, char *err, size_t errlen);
/* Decodes ids into a malloc'd, NUL-terminated string (*len excludes the NUL); invalid UTF-8
 * is replaced by U+FFFD as HF's from_utf8_lossy does. Unknown ids are an error. */
int hs_tokenizer_decode(const hs_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                        size_t *len, char *err, size_t errlen);
/* Number of ids (vocabulary plus added tokens, = max id + 1). */
int hs_tokenizer_vocab_size(const hs_tokenizer *tok);

#endif
