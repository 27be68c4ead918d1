/* Internals of the tokenizer (tokenizer*.c only): the loaded tokenizer's layout, the hash maps,
 * UTF-8 helpers, the NFC normalizer, the ByteLevel byte<->char map, the regex pre-tokenizers
 * and the BPE merge loop. tokenizer.h is the public interface; unit tests may include this header to test the
 * stages one by one. */
#ifndef HS_TOKENIZER_INTERNAL_H
#define HS_TOKENIZER_INTERNAL_H
#include "tokenizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- tokenizer_map.c: open-addressing hash maps (no library in the stack provides one) ---- */

/* Byte-string key -> int32 value; keys are copied into an arena owned by the map. */
typedef struct hs_tok_strmap {
    struct hs_tok_strmap_slot *slots;
    size_t cap, count;   /* cap is a power of two */
    char *arena;
    size_t arena_len, arena_cap;
} hs_tok_strmap;

int hs_tok_strmap_init(hs_tok_strmap *m, size_t expected);
void hs_tok_strmap_free(hs_tok_strmap *m);
/* Inserts or overwrites; 0, or -1 when out of memory. */
int hs_tok_strmap_put(hs_tok_strmap *m, const char *key, size_t len, int32_t value);
/* 1 and *value when present, else 0. */
int hs_tok_strmap_get(const hs_tok_strmap *m, const char *key, size_t len, int32_t *value);

/* (left id, right id) -> (rank, merged id): the BPE merge table. */
typedef struct hs_tok_pairmap {
    struct hs_tok_pair_slot *slots;
    size_t cap, count;
} hs_tok_pairmap;

int hs_tok_pairmap_init(hs_tok_pairmap *m, size_t expected);
void hs_tok_pairmap_free(hs_tok_pairmap *m);
int hs_tok_pairmap_put(hs_tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
int hs_tok_pairmap_get(const hs_tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                       int32_t *merged);

uint64_t hs_tok_hash_bytes(const char *s, size_t len);

/* ---- tokenizer_utf8.c ---------------------------------------------------------------------- */

/* 1 when s[0..len) is valid UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
int hs_tok_utf8_valid(const char *s, size_t len);
/* Replaces every maximal invalid subpart by U+FFFD (as Rust's from_utf8_lossy and Python's
 * errors='replace'); returns a malloc'd NUL-terminated copy and its length, or NULL on OOM. */
char *hs_tok_utf8_lossy(const char *s, size_t len, size_t *out_len);
/* Appends the UTF-8 encoding of cp (<= U+10FFFF) to buf; returns the byte count (1..4). */
int hs_tok_utf8_put(uint32_t cp, char *buf);
/* Decodes one code point of valid UTF-8 at s; returns its length, or 0 if invalid. */
int hs_tok_utf8_next(const char *s, size_t len, uint32_t *cp);

/* ---- tokenizer_normalize.c: the NFC normalizer (ICU) ------------------------------------------ */

/* NFC of valid UTF-8 s[0..len): 0 with *out NULL and *out_len = len when s already is NFC,
 * else 0 with *out a malloc'd NUL-terminated copy of *out_len bytes; -1 (err set) on failure. */
int hs_tok_nfc(const char *s, size_t len, char **out, size_t *out_len, char *err, size_t errlen);

/* ---- tokenizer_byte_level.c: the ByteLevel alphabet (docs/model-families.md "tokenizer") ------------------------- */

/* The code point byte b maps to. */
uint32_t hs_tok_byte_to_char(uint8_t b);
/* The byte code point cp maps back from, or -1 when cp is outside the alphabet. */
int hs_tok_char_to_byte(uint32_t cp);
/* ByteLevel decoding of one token string: every char mapped back to its byte; when any char is
 * outside the alphabet, the token's own UTF-8 bytes (as HF's decoder). Writes into out (capacity
 * >= len) and returns the length. */
size_t hs_tok_byte_level_decode(const char *token, size_t len, char *out);
/* The mapped (printable) form of raw bytes: out needs 2*len bytes; returns the length. */
size_t hs_tok_byte_level_encode(const char *raw, size_t len, char *out);

/* ---- tokenizer_pretok.c: the regex pre-tokenizers (Isolated) -------------------------------- */

/* The exact regex string BLOOM's tokenizer.json carries. */
extern const char HS_TOK_BLOOM_SPLIT_REGEX[];

typedef enum hs_tok_split_kind {
    HS_TOK_SPLIT_BLOOM,      /* Sequence[Split(BLOOM regex, Isolated), ByteLevel(use_regex false)] */
    HS_TOK_SPLIT_BYTE_LEVEL, /* ByteLevel(use_regex true): GPT-2's regex (GPT-NeoX, MPT) */
} hs_tok_split_kind;

typedef struct hs_tok_pretok hs_tok_pretok;
hs_tok_pretok *hs_tok_pretok_new(hs_tok_split_kind kind, char *err, size_t errlen);
void hs_tok_pretok_free(hs_tok_pretok *p);
/* Calls piece(ctx, start, len) for every match and every non-empty gap between matches, in
 * order, over valid UTF-8 text. Returns 0, or -1 (err set) when the matcher fails or piece()
 * returns non-zero. Thread-safe on one hs_tok_pretok. */
typedef int (*hs_tok_piece_fn)(void *ctx, const char *start, size_t len);
int hs_tok_pretok_split(const hs_tok_pretok *p, const char *text, size_t len, hs_tok_piece_fn piece,
                        void *ctx, char *err, size_t errlen);

/* ---- the loaded tokenizer (filled by tokenizer_json.c) --------------------------------------- */

typedef struct hs_tok_added {
    char *content;   /* as in the file */
    size_t len;
    char *match;     /* content, or its normalized form when normalized: what encoding looks for
                      * and what decoding gives back (as HF's id_to_token) */
    size_t match_len;
    int32_t id;
    bool normalized; /* matched in a second pass, in the normalized text */
    bool special;
} hs_tok_added;

typedef enum hs_tok_normalizer {
    HS_TOK_NORMALIZER_NONE, /* "normalizer": null (BLOOM) */
    HS_TOK_NORMALIZER_NFC,  /* {"type": "NFC"} (GPT-NeoX, MPT) */
} hs_tok_normalizer;

struct hs_tokenizer {
    int32_t vocab_size;      /* max id + 1 */
    /* decode table: bytes of each id (ByteLevel-decoded for model tokens, literal for added) */
    char *id_bytes;
    size_t *id_off;          /* [vocab_size + 1] offsets into id_bytes */
    uint8_t *id_known;       /* [vocab_size] 1 when the id exists */
    uint8_t *id_added;       /* [vocab_size] 1 when the id is an added token */
    hs_tok_strmap vocab;     /* model vocabulary: mapped token string -> id */
    hs_tok_pairmap merges;   /* (left, right) -> (rank, merged) */
    int32_t byte_id[256];    /* id of the one-byte symbol, -1 when absent from the vocabulary */
    int32_t unk_id;          /* -1 when the model has no unk_token */
    bool fuse_unk, ignore_merges;
    hs_tok_added *added;     /* sorted by match length, longest first */
    size_t n_added;
    bool added_first[256];   /* bytes some added token's match starts with */
    hs_tok_normalizer normalizer;
    hs_tok_pretok *pretok;
};

/* tokenizer_json.c: fills tok from tokenizer.json text; src names the file in errors. On error
 * the partially filled tok is released by hs_tokenizer_free. */
int hs_tok_load_json(hs_tokenizer *tok, const char *json, size_t len, const char *src, char *err,
                     size_t errlen);

/* ---- tokenizer_bpe.c ------------------------------------------------------------------------- */

/* Growable id list. */
typedef struct hs_tok_ids {
    int32_t *v;
    size_t n, cap;
} hs_tok_ids;
int hs_tok_ids_push(hs_tok_ids *ids, int32_t id);

/* Scratch space for the merge loop, reused across pieces of one encode call. */
typedef struct hs_tok_bpe_scratch {
    struct hs_tok_symbol *sym;
    size_t sym_cap;
    struct hs_tok_merge *heap;
    size_t heap_cap;
} hs_tok_bpe_scratch;
void hs_tok_bpe_scratch_free(hs_tok_bpe_scratch *s);

/* Appends the ids of one pre-tokenized piece (raw bytes) to out. */
int hs_tok_bpe_piece(const hs_tokenizer *tok, const char *piece, size_t len, hs_tok_bpe_scratch *s,
                     hs_tok_ids *out);

#endif
