/* The demo model's tokenizer: a real byte-level BPE in BLOOM's tokenizer.json layout, trained
 * deterministically on a built-in English text — the 4 special tokens first (<unk> <s> </s>
 * <pad> = 0..3), then the 256 byte symbols (ids 4..259, in byte order, as ByteLevel maps
 * them), then one token per merge, learned by repeatedly merging the most frequent adjacent
 * pair (ties: the pair of smallest ids) inside BLOOM's pre-tokenized pieces. Used only by
 * demo_model.c. */
#ifndef HS_DEMO_TOKENIZER_H
#define HS_DEMO_TOKENIZER_H
#include <stddef.h>

/* The built-in English training text (plain ASCII prose, a few kB). */
extern const char hs_demo_english_text[];

/* Trains the BPE until the vocabulary (special tokens included) holds vocab_size ids, or no
 * pair occurs twice any more, and returns the tokenizer.json text (malloc'd, NUL-terminated);
 * *n_ids receives the vocabulary size reached. NULL with err on failure. */
char *hs_demo_tokenizer_json(int vocab_size, int *n_ids, char *err, size_t errlen);

#endif
