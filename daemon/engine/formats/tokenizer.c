/* The tokenizer's public API (tokenizer.h): loading, encoding and decoding.
 * Encode pipeline, as HF tokenizers runs it (BLOOM; GPT-NeoX / MPT):
 *   1. Input that is not valid UTF-8 is first repaired: every maximal invalid subpart becomes
 *      U+FFFD — the ids are then HF's ids for the Python string bytes.decode('utf-8',
 *      errors='replace'), since HF only ever sees a str. (decode(encode(b)) != b for such b.)
 *   2. Added tokens with normalized=false are matched literally in the raw text, leftmost then
 *      longest first.
 *   3. Every stretch between them goes through the normalizer (none, or NFC: so text is never
 *      normalized across such a token), then added tokens with normalized=true are matched,
 *      the same way, in the normalized stretch (their contents normalized at load).
 *   4. Every other stretch is split by the regex pre-tokenizer (tokenizer_pretok.c: BLOOM's
 *      Split, or ByteLevel's GPT-2 regex), each piece goes through byte-level BPE
 *      (tokenizer_bpe.c), with a per-call cache of piece -> ids.
 * Decode: ids -> bytes (every token, added ones included, through the ByteLevel decoder: chars
 * mapped back to bytes, or the token's own UTF-8 when a char is outside the alphabet — so an
 * added "Ġq" decodes to " q" and "é" to the byte E9, as HF 0.23 does; a normalized added token
 * from its normalized content, as HF's id_to_token gives it), then invalid UTF-8 replaced by
 * U+FFFD (one per maximal invalid subpart).
 * The loaded tokenizer is never written after loading; every call keeps its own scratch, so
 * calls may run concurrently. */
#include "common/errors.h"
#include "common/file_io.h"
#include "tokenizer_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_tokenizer_free(hs_tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].match);
    }
    free(tok->added);
    free(tok->id_bytes);
    free(tok->id_off);
    free(tok->id_known);
    free(tok->id_added);
    hs_tok_strmap_free(&tok->vocab);
    hs_tok_pairmap_free(&tok->merges);
    hs_tok_pretok_free(tok->pretok);
    free(tok);
}

static hs_tokenizer *parse_named(const char *json, size_t len, const char *src, char *err,
                                 size_t errlen)
{
    hs_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        hs_errf(err, errlen, "%s: out of memory", src);
        return NULL;
    }
    if (hs_tok_load_json(tok, json, len, src, err, errlen) != 0) {
        hs_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

hs_tokenizer *hs_tokenizer_parse(const char *json, size_t len, char *err, size_t errlen)
{
    return parse_named(json, len, "tokenizer.json", err, errlen);
}

hs_tokenizer *hs_tokenizer_load(const char *path, char *err, size_t errlen)
{
    size_t n;
    char *buf = hs_read_file(path, NULL, 1024u << 20, &n, err, errlen);
    if (!buf)
        return NULL;
    hs_tokenizer *tok = parse_named(buf, n, path, err, errlen);
    free(buf);
    return tok;
}

int hs_tokenizer_vocab_size(const hs_tokenizer *tok)
{
    return tok->vocab_size;
}

/* ---- encoding -------------------------------------------------------------------------- */

#define CACHE_MAX_PIECE 64 /* longer pieces are rare; they are merged each time */

typedef struct encode_ctx {
    const hs_tokenizer *tok;
    hs_tok_ids out;
    hs_tok_bpe_scratch scratch;
    hs_tok_strmap cache;  /* piece bytes -> index into cache_ids (start) */
    hs_tok_ids cache_ids; /* [count, ids...] records */
} encode_ctx;

static int encode_piece(void *vctx, const char *piece, size_t len)
{
    encode_ctx *c = vctx;
    if (len > CACHE_MAX_PIECE)
        return hs_tok_bpe_piece(c->tok, piece, len, &c->scratch, &c->out);
    int32_t at;
    if (hs_tok_strmap_get(&c->cache, piece, len, &at)) {
        int32_t count = c->cache_ids.v[at];
        for (int32_t i = 0; i < count; i++)
            if (hs_tok_ids_push(&c->out, c->cache_ids.v[at + 1 + i]) != 0)
                return -1;
        return 0;
    }
    size_t before = c->out.n;
    if (hs_tok_bpe_piece(c->tok, piece, len, &c->scratch, &c->out) != 0)
        return -1;
    if (c->cache_ids.n > INT32_MAX / 2)
        return 0; /* cache full: stop caching */
    int32_t start = (int32_t)c->cache_ids.n;
    if (hs_tok_ids_push(&c->cache_ids, (int32_t)(c->out.n - before)) != 0)
        return -1;
    for (size_t i = before; i < c->out.n; i++)
        if (hs_tok_ids_push(&c->cache_ids, c->out.v[i]) != 0)
            return -1;
    return hs_tok_strmap_put(&c->cache, piece, len, start);
}

/* Pre-tokenizes and merges text that holds no added token. */
static int encode_plain(encode_ctx *c, const char *text, size_t len, char *err, size_t errlen)
{
    if (!len)
        return 0;
    return hs_tok_pretok_split(c->tok->pretok, text, len, encode_piece, c, err, errlen);
}

/* The leftmost-longest added token of the given pass in text[from..len), or NULL. */
static const hs_tok_added *find_added(const hs_tokenizer *tok, bool normalized, const char *text,
                                      size_t len, size_t from, size_t *at)
{
    for (size_t i = from; i < len; i++) {
        if (!tok->added_first[(uint8_t)text[i]])
            continue;
        for (size_t k = 0; k < tok->n_added; k++) { /* sorted longest first */
            const hs_tok_added *a = &tok->added[k];
            if (a->normalized != normalized || a->match_len > len - i)
                continue;
            if (a->match[0] == text[i] && memcmp(a->match, text + i, a->match_len) == 0) {
                *at = i;
                return a;
            }
        }
    }
    return NULL;
}

typedef int (*stretch_fn)(encode_ctx *c, const char *text, size_t len, char *err, size_t errlen);

/* Emits the added tokens of one pass found in text and hands every stretch between them (empty
 * ones included) to next. */
static int split_on_added(encode_ctx *c, bool normalized, const char *text, size_t len,
                          stretch_fn next, char *err, size_t errlen)
{
    size_t pos = 0, at;
    const hs_tok_added *a;
    while ((a = find_added(c->tok, normalized, text, len, pos, &at)) != NULL) {
        if (next(c, text + pos, at - pos, err, errlen) != 0)
            return -1;
        if (hs_tok_ids_push(&c->out, a->id) != 0)
            return hs_errf(err, errlen, "tokenizer: out of memory");
        pos = at + a->match_len;
    }
    return next(c, text + pos, len - pos, err, errlen);
}

/* Pass 2 on a stretch free of non-normalized added tokens: normalize, then split on the
 * normalized ones. */
static int encode_normalized(encode_ctx *c, const char *text, size_t len, char *err, size_t errlen)
{
    if (!len)
        return 0;
    char *normalized = NULL;
    if (c->tok->normalizer == HS_TOK_NORMALIZER_NFC &&
        hs_tok_nfc(text, len, &normalized, &len, err, errlen) != 0)
        return -1;
    int rc = split_on_added(c, true, normalized ? normalized : text, len, encode_plain, err, errlen);
    free(normalized);
    return rc;
}

/* The encode steps on valid UTF-8 text, into c->out. */
static int encode_valid(const hs_tokenizer *tok, const char *text, size_t len, encode_ctx *c,
                        char *err, size_t errlen)
{
    c->tok = tok;
    if (hs_tok_strmap_init(&c->cache, 64) != 0) /* grows with the text */
        return hs_errf(err, errlen, "tokenizer: out of memory");
    return split_on_added(c, false, text, len, encode_normalized, err, errlen);
}

int hs_tokenizer_encode(const hs_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                        size_t *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    char *repaired = NULL;
    if (!hs_tok_utf8_valid(text, len)) {
        repaired = hs_tok_utf8_lossy(text, len, &len);
        if (!repaired)
            return hs_errf(err, errlen, "tokenizer: out of memory repairing invalid UTF-8");
        text = repaired;
    }
    encode_ctx c = {0};
    int rc = encode_valid(tok, text, len, &c, err, errlen);
    hs_tok_bpe_scratch_free(&c.scratch);
    hs_tok_strmap_free(&c.cache);
    free(c.cache_ids.v);
    free(repaired);
    if (rc != 0 || !c.out.n) {
        free(c.out.v);
        return rc != 0 ? -1 : 0;
    }
    *ids = c.out.v;
    *n_ids = c.out.n;
    return 0;
}

/* ---- decoding -------------------------------------------------------------------------- */

int hs_tokenizer_decode(const hs_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                        size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    size_t raw_len = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->vocab_size || !tok->id_known[id])
            return hs_errf(err, errlen, "tokenizer: unknown token id %d at position %zu (vocabulary "
                           "has %d ids)", id, i, tok->vocab_size);
        raw_len += tok->id_off[id + 1] - tok->id_off[id];
    }
    char *raw = malloc(raw_len ? raw_len : 1);
    if (!raw)
        return hs_errf(err, errlen, "tokenizer: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t n = tok->id_off[ids[i] + 1] - tok->id_off[ids[i]];
        memcpy(raw + o, tok->id_bytes + tok->id_off[ids[i]], n);
        o += n;
    }
    if (hs_tok_utf8_valid(raw, o)) {
        char *out = realloc(raw, o + 1);
        if (!out) {
            free(raw);
            return hs_errf(err, errlen, "tokenizer: out of memory");
        }
        out[o] = '\0';
        *text = out;
        *len = o;
        return 0;
    }
    *text = hs_tok_utf8_lossy(raw, o, len);
    free(raw);
    if (!*text)
        return hs_errf(err, errlen, "tokenizer: out of memory");
    return 0;
}
