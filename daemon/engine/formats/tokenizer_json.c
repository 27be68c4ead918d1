/* Loading a tokenizer.json into hs_tokenizer: validates that the pipeline is one tokenizer.c
 * implements — BPE model without dropout/prefixes/byte fallback; normalizer null or NFC;
 * pre-tokenizer BLOOM's Sequence[Split(BLOOM regex, Isolated), ByteLevel(no prefix space, no
 * regex)] or GPT-NeoX's ByteLevel(no prefix space, regex); ByteLevel decoder; post-processor
 * null or ByteLevel — and refuses anything else naming the field and type at fault, since a
 * silently different pipeline would give ids that differ from HF's. Builds the vocabulary and
 * merge maps, the added tokens (with the normalized form of those matched after the
 * normalizer), the one-byte symbol ids and the decode table. */
#include "common/errors.h"
#include "tokenizer_internal.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static int is_null_or_absent(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

static int type_is(const cJSON *obj, const char *type)
{
    const cJSON *t = field(obj, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

/* Largest token id accepted: tables are sized by the largest id (BLOOM's is 250,679). */
#define MAX_TOKEN_ID ((1 << 24) - 1)

/* A JSON integer id in [0, MAX_TOKEN_ID]. */
static int json_id(const cJSON *v, int32_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > MAX_TOKEN_ID || d != floor(d))
        return -1;
    *out = (int32_t)d;
    return 0;
}

/* The "type" of a pipeline part, for error messages. */
static const char *type_name(const cJSON *obj)
{
    const cJSON *t = cJSON_IsObject(obj) ? field(obj, "type") : NULL;
    return cJSON_IsString(t) ? t->valuestring : "(none)";
}

static int check_normalizer(hs_tokenizer *tok, const cJSON *norm, const char *src, char *err,
                            size_t errlen)
{
    if (is_null_or_absent(norm)) {
        tok->normalizer = HS_TOK_NORMALIZER_NONE;
        return 0;
    }
    if (cJSON_IsObject(norm) && type_is(norm, "NFC")) {
        tok->normalizer = HS_TOK_NORMALIZER_NFC;
        return 0;
    }
    return hs_errf(err, errlen, "%s: \"normalizer\" of type \"%s\" is not supported (null or NFC)",
                   src, type_name(norm));
}

/* BLOOM's Sequence[Split(BLOOM regex, Isolated, invert false), ByteLevel(no prefix space, no
 * regex)]. */
static int check_bloom_sequence(const cJSON *pt, const char *src, char *err, size_t errlen)
{
    const cJSON *list = field(pt, "pretokenizers");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != 2)
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" Sequence must be BLOOM's [Split, "
                       "ByteLevel]", src);
    const cJSON *split = cJSON_GetArrayItem(list, 0), *bl = cJSON_GetArrayItem(list, 1);
    const cJSON *pattern = field(split, "pattern");
    const cJSON *regex = cJSON_IsObject(pattern) ? field(pattern, "Regex") : NULL;
    if (!type_is(split, "Split") || !cJSON_IsString(regex) ||
        strcmp(regex->valuestring, HS_TOK_BLOOM_SPLIT_REGEX) != 0)
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\".pretokenizers[0] must be Split with "
                       "BLOOM's Regex \"%s\"", src, HS_TOK_BLOOM_SPLIT_REGEX);
    const cJSON *beh = field(split, "behavior"), *inv = field(split, "invert");
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0)
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" Split \"behavior\" must be \"Isolated\"",
                       src);
    if (inv && !cJSON_IsFalse(inv))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" Split \"invert\" must be false", src);
    if (!type_is(bl, "ByteLevel"))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\".pretokenizers[1] must be ByteLevel, not "
                       "\"%s\"", src, type_name(bl));
    if (!cJSON_IsFalse(field(bl, "add_prefix_space")))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"add_prefix_space\" must be "
                       "false", src);
    if (!cJSON_IsFalse(field(bl, "use_regex")))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"use_regex\" must be false "
                       "after BLOOM's Split", src);
    return 0;
}

/* A lone ByteLevel(add_prefix_space false, use_regex true or absent: HF's default). */
static int check_byte_level_regex(const cJSON *bl, const char *src, char *err, size_t errlen)
{
    const cJSON *aps = field(bl, "add_prefix_space"), *ur = field(bl, "use_regex");
    if (!cJSON_IsFalse(aps))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"add_prefix_space\" must be "
                       "false (absent means true; a prefix space is not supported)", src);
    if (!is_null_or_absent(ur) && !cJSON_IsTrue(ur))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"use_regex\": false is not "
                       "supported on its own (only after BLOOM's Split)", src);
    return 0;
}

static int check_pre_tokenizer(const cJSON *pt, hs_tok_split_kind *kind, const char *src,
                               char *err, size_t errlen)
{
    if (cJSON_IsObject(pt) && type_is(pt, "Sequence")) {
        *kind = HS_TOK_SPLIT_BLOOM;
        return check_bloom_sequence(pt, src, err, errlen);
    }
    if (cJSON_IsObject(pt) && type_is(pt, "ByteLevel")) {
        *kind = HS_TOK_SPLIT_BYTE_LEVEL;
        return check_byte_level_regex(pt, src, err, errlen);
    }
    return hs_errf(err, errlen, "%s: \"pre_tokenizer\" of type \"%s\" is not supported (BLOOM's "
                   "Sequence[Split, ByteLevel] or ByteLevel)", src, type_name(pt));
}

/* Validates every pipeline part but the model; sets the normalizer and the pre-tokenizer kind. */
static int check_pipeline(hs_tokenizer *tok, const cJSON *root, hs_tok_split_kind *kind,
                          const char *src, char *err, size_t errlen)
{
    if (check_normalizer(tok, field(root, "normalizer"), src, err, errlen) != 0 ||
        check_pre_tokenizer(field(root, "pre_tokenizer"), kind, src, err, errlen) != 0)
        return -1;
    const cJSON *pp = field(root, "post_processor");
    if (!is_null_or_absent(pp) && !type_is(pp, "ByteLevel"))
        return hs_errf(err, errlen, "%s: \"post_processor\" of type \"%s\" is not supported (null or "
                       "ByteLevel; others add tokens)", src, type_name(pp));
    const cJSON *dec = field(root, "decoder");
    if (!type_is(dec, "ByteLevel"))
        return hs_errf(err, errlen, "%s: \"decoder\" of type \"%s\" is not supported (ByteLevel)",
                       src, type_name(dec));
    return 0;
}

static int check_model_options(const cJSON *model, const char *src, char *err, size_t errlen)
{
    if (!cJSON_IsObject(model) || !type_is(model, "BPE"))
        return hs_errf(err, errlen, "%s: \"model\" of type \"%s\" is not supported (BPE)", src,
                       type_name(model));
    const cJSON *dropout = field(model, "dropout");
    if (!is_null_or_absent(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return hs_errf(err, errlen, "%s: \"model\".\"dropout\" must be null (dropout is random)", src);
    const char *empty_keys[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = field(model, empty_keys[i]);
        if (!is_null_or_absent(v) && !(cJSON_IsString(v) && v->valuestring[0] == '\0'))
            return hs_errf(err, errlen, "%s: \"model\".\"%s\" must be null", src, empty_keys[i]);
    }
    const char *bool_keys[3] = {"byte_fallback", "fuse_unk", "ignore_merges"};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = field(model, bool_keys[i]);
        if (!is_null_or_absent(v) && !cJSON_IsBool(v))
            return hs_errf(err, errlen, "%s: \"model\".\"%s\" must be a boolean", src, bool_keys[i]);
    }
    if (cJSON_IsTrue(field(model, "byte_fallback")))
        return hs_errf(err, errlen, "%s: \"model\".\"byte_fallback\": true is not supported", src);
    return 0;
}

/* Splits one entry of "merges" ("a b" or ["a", "b"]) into its two token strings. */
static int merge_parts(const cJSON *m, const char **a, size_t *alen, const char **b, size_t *blen)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring;
        const char *sp = strchr(s, ' ');
        if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
            return -1;
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = strlen(sp + 1);
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
        const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsString(x) || !cJSON_IsString(y) || !x->valuestring[0] || !y->valuestring[0])
            return -1;
        *a = x->valuestring;
        *alen = strlen(x->valuestring);
        *b = y->valuestring;
        *blen = strlen(y->valuestring);
        return 0;
    }
    return -1;
}

static int cmp_added_longest_first(const void *pa, const void *pb)
{
    const hs_tok_added *a = pa, *b = pb;
    if (a->match_len != b->match_len)
        return a->match_len > b->match_len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The vocabulary: token string -> id; *max_id is the largest id. */
static int load_vocab(hs_tokenizer *tok, const cJSON *vocab, int32_t *max_id, const char *src,
                      char *err, size_t errlen)
{
    if (!cJSON_IsObject(vocab) || !vocab->child)
        return hs_errf(err, errlen, "%s: \"model\".\"vocab\" must be a non-empty object", src);
    *max_id = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        int32_t id;
        if (json_id(v, &id) != 0)
            return hs_errf(err, errlen, "%s: vocab entry '%s' has no valid integer id (0..%d)", src,
                           v->string, MAX_TOKEN_ID);
        if (id > *max_id)
            *max_id = id;
    }
    if (hs_tok_strmap_init(&tok->vocab, (size_t)cJSON_GetArraySize(vocab)) != 0)
        return hs_errf(err, errlen, "%s: out of memory", src);
    cJSON_ArrayForEach(v, vocab) {
        if (hs_tok_strmap_put(&tok->vocab, v->string, strlen(v->string), (int32_t)v->valuedouble) != 0)
            return hs_errf(err, errlen, "%s: out of memory", src);
    }
    return 0;
}

/* The id HF's AddedVocabulary gives a new added token (the "id" in the file is not used): the
 * model vocabulary's id when the content is in it; otherwise the next id after the model
 * vocabulary, or after the largest added id when that is already past it. */
static int32_t added_token_id(const hs_tokenizer *tok, const char *content, size_t len,
                              int32_t max_added)
{
    int32_t id, model_size = (int32_t)tok->vocab.count;
    if (hs_tok_strmap_get(&tok->vocab, content, len, &id))
        return id;
    return max_added >= model_size || model_size == 0 ? max_added + 1 : model_size;
}

static int added_is_duplicate(const hs_tokenizer *tok, const char *content, size_t len)
{
    for (size_t k = 0; k < tok->n_added; k++)
        if (tok->added[k].len == len && memcmp(tok->added[k].content, content, len) == 0)
            return 1;
    return 0;
}

/* What encoding looks for: a normalized token's content goes through the normalizer, as HF
 * builds its second matching pass from normalized contents. */
static int added_match_form(const hs_tokenizer *tok, hs_tok_added *t, const char *src, char *err,
                            size_t errlen)
{
    if (t->normalized && tok->normalizer == HS_TOK_NORMALIZER_NFC) {
        if (hs_tok_nfc(t->content, t->len, &t->match, &t->match_len, err, errlen) != 0)
            return -1;
        if (t->match)
            return 0;
    }
    t->match = strdup(t->content);
    t->match_len = t->len;
    return t->match ? 0 : hs_errf(err, errlen, "%s: out of memory", src);
}

/* Appends one "added_tokens" entry (index i) unless its content is already there. */
static int load_one_added(hs_tokenizer *tok, const cJSON *a, int i, int32_t *max_added,
                          const char *src, char *err, size_t errlen)
{
    const cJSON *content = field(a, "content");
    int32_t file_id;
    if (!cJSON_IsObject(a) || json_id(field(a, "id"), &file_id) != 0 || !cJSON_IsString(content) ||
        !content->valuestring[0])
        return hs_errf(err, errlen, "%s: \"added_tokens\"[%d] needs an integer \"id\" and a "
                       "non-empty \"content\"", src, i);
    const char *flags[3] = {"single_word", "lstrip", "rstrip"};
    for (int k = 0; k < 3; k++)
        if (cJSON_IsTrue(field(a, flags[k])))
            return hs_errf(err, errlen, "%s: added token '%s': \"%s\": true is not supported", src,
                           content->valuestring, flags[k]);
    size_t len = strlen(content->valuestring);
    /* Encoding splits the (repaired, valid) text at added tokens: a content that is not valid
     * UTF-8 could split a character and leave invalid pieces. HF's loader refuses such a file
     * (its JSON strings are UTF-8); so does this one. cJSON keeps a raw NUL, which ends the
     * content early and can cut a character the same way. */
    if (!hs_tok_utf8_valid(content->valuestring, len))
        return hs_errf(err, errlen, "%s: \"added_tokens\"[%d]: content is not valid UTF-8", src,
                       i);
    if (added_is_duplicate(tok, content->valuestring, len))
        return 0;
    int32_t id = added_token_id(tok, content->valuestring, len, *max_added);
    if (id > MAX_TOKEN_ID)
        return hs_errf(err, errlen, "%s: added token '%s' would get id %d, above %d", src,
                       content->valuestring, id, MAX_TOKEN_ID);
    if (id > *max_added)
        *max_added = id;
    hs_tok_added *t = &tok->added[tok->n_added];
    t->content = strdup(content->valuestring);
    if (!t->content)
        return hs_errf(err, errlen, "%s: out of memory", src);
    tok->n_added++; /* from here on hs_tokenizer_free releases it */
    t->len = len;
    t->id = id;
    t->normalized = cJSON_IsTrue(field(a, "normalized"));
    t->special = cJSON_IsTrue(field(a, "special"));
    if (added_match_form(tok, t, src, err, errlen) != 0)
        return -1;
    tok->added_first[(uint8_t)t->match[0]] = true;
    return 0;
}

/* Reads "added_tokens" (after the vocabulary: ids depend on it); sorts them longest first. */
static int load_added(hs_tokenizer *tok, const cJSON *added, const char *src, char *err,
                      size_t errlen)
{
    if (is_null_or_absent(added))
        return 0;
    if (!cJSON_IsArray(added))
        return hs_errf(err, errlen, "%s: \"added_tokens\" must be an array", src);
    int n = cJSON_GetArraySize(added);
    tok->added = calloc(n ? (size_t)n : 1, sizeof *tok->added);
    if (!tok->added)
        return hs_errf(err, errlen, "%s: out of memory", src);
    int32_t max_added = -1;
    const cJSON *a;
    int i = 0;
    cJSON_ArrayForEach(a, added) {
        if (load_one_added(tok, a, i++, &max_added, src, err, errlen) != 0)
            return -1;
    }
    qsort(tok->added, tok->n_added, sizeof *tok->added, cmp_added_longest_first);
    return 0;
}

/* The added token holding id, or NULL (ids are unique among added tokens). */
static const hs_tok_added *added_with_id(const hs_tokenizer *tok, size_t id)
{
    for (size_t i = 0; i < tok->n_added; i++)
        if ((size_t)tok->added[i].id == id)
            return &tok->added[i];
    return NULL;
}

/* id -> vocabulary token string (borrowed from the JSON), refusing two entries for one id. */
static int vocab_by_id(const cJSON *vocab, size_t n_ids, const char ***out, const char *src,
                       char *err, size_t errlen)
{
    const char **id_token = calloc(n_ids, sizeof *id_token);
    if (!id_token)
        return hs_errf(err, errlen, "%s: out of memory", src);
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        int32_t id = (int32_t)v->valuedouble;
        if (id_token[id]) {
            hs_errf(err, errlen, "%s: vocab entries '%s' and '%s' share id %d", src, id_token[id],
                    v->string, id);
            free(id_token);
            return -1;
        }
        id_token[id] = v->string;
    }
    *out = id_token;
    return 0;
}

/* Fills id_bytes / id_off / id_known: every token's bytes are its ByteLevel decoding, added
 * tokens included ("Ġq" -> " q", as HF), and an added token takes precedence for its id (as
 * HF's id_to_token). An added token with normalized=true decodes from its NORMALIZED content,
 * as HF's id_to_token gives it (so "<|cafe\u0301|>" becomes "<|caf\u00e9|>", whose é is the
 * ByteLevel char of byte E9). id_bytes is sized first from the token lengths (decoding never
 * grows). */
static int fill_decode_table(hs_tokenizer *tok, const char **id_token, const char *src, char *err,
                             size_t errlen)
{
    size_t n_ids = (size_t)tok->vocab_size, total = 0;
    for (size_t id = 0; id < n_ids; id++) {
        const hs_tok_added *a = tok->id_added[id] ? added_with_id(tok, id) : NULL;
        if (a)
            total += a->match_len;
        else if (id_token[id])
            total += strlen(id_token[id]);
    }
    tok->id_bytes = malloc(total ? total : 1);
    if (!tok->id_bytes)
        return hs_errf(err, errlen, "%s: out of memory", src);
    size_t off = 0;
    for (size_t id = 0; id < n_ids; id++) {
        tok->id_off[id] = off;
        const hs_tok_added *a = tok->id_added[id] ? added_with_id(tok, id) : NULL;
        if (a)
            off += hs_tok_byte_level_decode(a->match, a->match_len, tok->id_bytes + off);
        else if (id_token[id])
            off += hs_tok_byte_level_decode(id_token[id], strlen(id_token[id]), tok->id_bytes + off);
        tok->id_known[id] = a || id_token[id];
    }
    tok->id_off[n_ids] = off;
    return 0;
}

/* The decode table over ids 0..max_id. */
static int build_decode_table(hs_tokenizer *tok, const cJSON *vocab, int32_t max_id,
                              const char *src, char *err, size_t errlen)
{
    tok->vocab_size = max_id + 1;
    size_t n_ids = (size_t)tok->vocab_size;
    tok->id_off = calloc(n_ids + 1, sizeof *tok->id_off);
    tok->id_known = calloc(n_ids, 1);
    tok->id_added = calloc(n_ids, 1);
    if (!tok->id_off || !tok->id_known || !tok->id_added)
        return hs_errf(err, errlen, "%s: out of memory", src);
    const char **id_token = NULL;
    if (vocab_by_id(vocab, n_ids, &id_token, src, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < tok->n_added; i++)
        tok->id_added[tok->added[i].id] = 1;
    int rc = fill_decode_table(tok, id_token, src, err, errlen);
    free(id_token);
    return rc;
}

/* The id of each byte's one-char symbol, -1 when the vocabulary lacks it. */
static void find_byte_ids(hs_tokenizer *tok)
{
    for (int b = 0; b < 256; b++) {
        char c[4];
        int k = hs_tok_utf8_put(hs_tok_byte_to_char((uint8_t)b), c);
        int32_t id;
        tok->byte_id[b] = hs_tok_strmap_get(&tok->vocab, c, (size_t)k, &id) ? id : -1;
    }
}

/* unk_token, fuse_unk, ignore_merges (types already checked by check_model_options). */
static int load_model_flags(hs_tokenizer *tok, const cJSON *model, const char *src, char *err,
                            size_t errlen)
{
    const cJSON *unk = field(model, "unk_token");
    tok->unk_id = -1;
    if (!is_null_or_absent(unk)) {
        int32_t id;
        if (!cJSON_IsString(unk) ||
            !hs_tok_strmap_get(&tok->vocab, unk->valuestring, strlen(unk->valuestring), &id))
            return hs_errf(err, errlen, "%s: \"model\".\"unk_token\" is not in the vocabulary", src);
        tok->unk_id = id;
    }
    tok->fuse_unk = cJSON_IsTrue(field(model, "fuse_unk"));
    tok->ignore_merges = cJSON_IsTrue(field(model, "ignore_merges"));
    return 0;
}

/* Growable buffer for the concatenation of a merge's two token strings. */
typedef struct concat_buf {
    char *p;
    size_t cap;
} concat_buf;

/* Adds merges[rank] to the merge table: both parts and their concatenation must be in the
 * vocabulary. */
static int load_one_merge(hs_tokenizer *tok, const cJSON *m, int rank, concat_buf *buf,
                          const char *src, char *err, size_t errlen)
{
    const char *a, *b;
    size_t alen, blen;
    int32_t ida, idb, idm;
    if (merge_parts(m, &a, &alen, &b, &blen) != 0)
        return hs_errf(err, errlen, "%s: merges[%d] is not a pair of tokens", src, rank);
    if (!hs_tok_strmap_get(&tok->vocab, a, alen, &ida) || !hs_tok_strmap_get(&tok->vocab, b, blen, &idb))
        return hs_errf(err, errlen, "%s: merges[%d] names a token missing from the vocabulary", src,
                       rank);
    if (alen + blen > buf->cap) {
        size_t cap = (alen + blen) * 2;
        char *nb = realloc(buf->p, cap);
        if (!nb)
            return hs_errf(err, errlen, "%s: out of memory", src);
        buf->p = nb;
        buf->cap = cap;
    }
    memcpy(buf->p, a, alen);
    memcpy(buf->p + alen, b, blen);
    if (!hs_tok_strmap_get(&tok->vocab, buf->p, alen + blen, &idm))
        return hs_errf(err, errlen, "%s: merges[%d]: the merged token '%.*s' is missing from the "
                       "vocabulary", src, rank, (int)(alen + blen > 64 ? 64 : alen + blen), buf->p);
    if (hs_tok_pairmap_put(&tok->merges, ida, idb, rank, idm) != 0)
        return hs_errf(err, errlen, "%s: out of memory", src);
    return 0;
}

/* The merge table: rank = index; a repeated pair keeps the later rank (as HF's map insert). */
static int load_merges(hs_tokenizer *tok, const cJSON *merges, const char *src, char *err,
                       size_t errlen)
{
    if (!is_null_or_absent(merges) && !cJSON_IsArray(merges))
        return hs_errf(err, errlen, "%s: \"model\".\"merges\" must be an array", src);
    int n_merges = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (hs_tok_pairmap_init(&tok->merges, (size_t)n_merges) != 0)
        return hs_errf(err, errlen, "%s: out of memory", src);
    if (!n_merges)
        return 0;
    concat_buf buf = {0};
    const cJSON *m;
    int rank = 0, rc = 0;
    cJSON_ArrayForEach(m, merges) {
        if ((rc = load_one_merge(tok, m, rank++, &buf, src, err, errlen)) != 0)
            break;
    }
    free(buf.p);
    return rc;
}

/* Steps in order: the pipeline is checked before anything is built; the vocabulary comes
 * before the added tokens (their ids depend on it), both before the decode table. */
static int load_root(hs_tokenizer *tok, const cJSON *root, const char *src, char *err,
                     size_t errlen)
{
    if (!cJSON_IsObject(root))
        return hs_errf(err, errlen, "%s: not a JSON object", src);
    const cJSON *model = field(root, "model");
    hs_tok_split_kind split = 0;
    if (check_model_options(model, src, err, errlen) != 0 ||
        check_pipeline(tok, root, &split, src, err, errlen) != 0)
        return -1;
    const cJSON *vocab = field(model, "vocab");
    int32_t max_id = 0;
    if (load_vocab(tok, vocab, &max_id, src, err, errlen) != 0 ||
        load_added(tok, field(root, "added_tokens"), src, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id > max_id)
            max_id = tok->added[i].id;
    if (build_decode_table(tok, vocab, max_id, src, err, errlen) != 0)
        return -1;
    find_byte_ids(tok);
    if (load_model_flags(tok, model, src, err, errlen) != 0 ||
        load_merges(tok, field(model, "merges"), src, err, errlen) != 0)
        return -1;
    tok->pretok = hs_tok_pretok_new(split, err, errlen);
    return tok->pretok ? 0 : -1;
}

int hs_tok_load_json(hs_tokenizer *tok, const char *json, size_t len, const char *src, char *err,
                     size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return hs_errf(err, errlen, "%s: not valid JSON", src);
    int rc = load_root(tok, root, src, err, errlen);
    cJSON_Delete(root);
    return rc;
}
