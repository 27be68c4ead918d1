/* Loading a tokenizer.json into hs_tokenizer: validates that the pipeline is exactly the one
 * tokenizer.c implements (BPE model without dropout/prefixes/byte fallback, no normalizer,
 * Sequence[Split(BLOOM regex, Isolated), ByteLevel(no prefix space, no regex)], ByteLevel
 * decoder, post-processor null or ByteLevel) and refuses anything else with the field at
 * fault, since a silently different pipeline would give ids that differ from HF's. Builds the
 * vocabulary and merge maps, the one-byte symbol ids and the decode table. */
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

static int check_pre_tokenizer(const cJSON *pt, const char *src, char *err, size_t errlen)
{
    const cJSON *list = field(pt, "pretokenizers");
    if (!cJSON_IsObject(pt) || !type_is(pt, "Sequence") || !cJSON_IsArray(list) ||
        cJSON_GetArraySize(list) != 2)
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" must be BLOOM's Sequence[Split, ByteLevel]",
                       src);
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
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\".pretokenizers[1] must be ByteLevel", src);
    const cJSON *aps = field(bl, "add_prefix_space"), *ur = field(bl, "use_regex");
    if (!cJSON_IsFalse(aps))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"add_prefix_space\" must be "
                       "false", src);
    if (!cJSON_IsFalse(ur))
        return hs_errf(err, errlen, "%s: \"pre_tokenizer\" ByteLevel \"use_regex\" must be false",
                       src);
    return 0;
}

static int check_pipeline(const cJSON *root, const char *src, char *err, size_t errlen)
{
    if (!is_null_or_absent(field(root, "normalizer")))
        return hs_errf(err, errlen, "%s: \"normalizer\" must be null (BLOOM has none)", src);
    if (check_pre_tokenizer(field(root, "pre_tokenizer"), src, err, errlen) != 0)
        return -1;
    const cJSON *pp = field(root, "post_processor");
    if (!is_null_or_absent(pp) && !type_is(pp, "ByteLevel"))
        return hs_errf(err, errlen, "%s: \"post_processor\" must be null or ByteLevel (others add "
                       "tokens)", src);
    const cJSON *dec = field(root, "decoder");
    if (!type_is(dec, "ByteLevel"))
        return hs_errf(err, errlen, "%s: \"decoder\" must be ByteLevel", src);
    return 0;
}

static int check_model_options(const cJSON *model, const char *src, char *err, size_t errlen)
{
    if (!cJSON_IsObject(model) || !type_is(model, "BPE"))
        return hs_errf(err, errlen, "%s: \"model\" must be an object of \"type\": \"BPE\"", src);
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
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Reads "added_tokens" and gives each its id the way HF's AddedVocabulary does (the "id" in
 * the file is not used): a content already added or in the model vocabulary keeps that id;
 * otherwise the next id after the model vocabulary (or after the largest added id when that is
 * already past it). A repeated content is ignored. */
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
    int32_t model_size = (int32_t)tok->vocab.count, max_added = -1;
    const cJSON *a;
    int i = 0;
    cJSON_ArrayForEach(a, added) {
        const cJSON *content = field(a, "content");
        int32_t file_id;
        if (!cJSON_IsObject(a) || json_id(field(a, "id"), &file_id) != 0 || !cJSON_IsString(content) ||
            !content->valuestring[0])
            return hs_errf(err, errlen, "%s: \"added_tokens\"[%d] needs an integer \"id\" and a "
                           "non-empty \"content\"", src, i);
        i++;
        const char *flags[3] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (cJSON_IsTrue(field(a, flags[k])))
                return hs_errf(err, errlen, "%s: added token '%s': \"%s\": true is not supported",
                               src, content->valuestring, flags[k]);
        size_t len = strlen(content->valuestring);
        int dup = 0;
        for (size_t k = 0; k < tok->n_added && !dup; k++)
            dup = tok->added[k].len == len && memcmp(tok->added[k].content, content->valuestring, len) == 0;
        if (dup)
            continue;
        int32_t id;
        if (!hs_tok_strmap_get(&tok->vocab, content->valuestring, len, &id)) {
            if (max_added >= model_size || model_size == 0)
                id = max_added + 1;
            else
                id = model_size;
        }
        if (id > MAX_TOKEN_ID)
            return hs_errf(err, errlen, "%s: added token '%s' would get id %d, above %d", src,
                           content->valuestring, id, MAX_TOKEN_ID);
        if (id > max_added)
            max_added = id;
        hs_tok_added *t = &tok->added[tok->n_added];
        t->content = strdup(content->valuestring);
        if (!t->content)
            return hs_errf(err, errlen, "%s: out of memory", src);
        t->len = len;
        t->id = id;
        t->normalized = cJSON_IsTrue(field(a, "normalized"));
        t->special = cJSON_IsTrue(field(a, "special"));
        tok->added_first[(uint8_t)t->content[0]] = true;
        tok->n_added++;
    }
    qsort(tok->added, tok->n_added, sizeof *tok->added, cmp_added_longest_first);
    return 0;
}

int hs_tok_load_json(hs_tokenizer *tok, const char *json, size_t len, const char *src, char *err,
                     size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return hs_errf(err, errlen, "%s: not valid JSON", src);
    int rc = -1;
    char *mapped_buf = NULL;
    if (!cJSON_IsObject(root)) {
        hs_errf(err, errlen, "%s: not a JSON object", src);
        goto out;
    }
    const cJSON *model = field(root, "model");
    if (check_model_options(model, src, err, errlen) != 0 ||
        check_pipeline(root, src, err, errlen) != 0)
        goto out;
    const cJSON *vocab = field(model, "vocab"), *merges = field(model, "merges");
    if (!cJSON_IsObject(vocab) || !vocab->child) {
        hs_errf(err, errlen, "%s: \"model\".\"vocab\" must be a non-empty object", src);
        goto out;
    }
    if (!is_null_or_absent(merges) && !cJSON_IsArray(merges)) {
        hs_errf(err, errlen, "%s: \"model\".\"merges\" must be an array", src);
        goto out;
    }
    /* vocabulary */
    int n_vocab = cJSON_GetArraySize(vocab);
    int32_t max_id = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        int32_t id;
        if (json_id(v, &id) != 0) {
            hs_errf(err, errlen, "%s: vocab entry '%s' has no valid integer id (0..%d)", src,
                    v->string, MAX_TOKEN_ID);
            goto out;
        }
        if (id > max_id)
            max_id = id;
    }
    if (hs_tok_strmap_init(&tok->vocab, (size_t)n_vocab) != 0)
        goto oom;
    cJSON_ArrayForEach(v, vocab) {
        if (hs_tok_strmap_put(&tok->vocab, v->string, strlen(v->string), (int32_t)v->valuedouble) != 0)
            goto oom;
    }
    if (load_added(tok, field(root, "added_tokens"), src, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id > max_id)
            max_id = tok->added[i].id;
    tok->vocab_size = max_id + 1;
    size_t n_ids = (size_t)tok->vocab_size;
    tok->id_off = calloc(n_ids + 1, sizeof *tok->id_off);
    tok->id_known = calloc(n_ids, 1);
    tok->id_added = calloc(n_ids, 1);
    const char **id_token = calloc(n_ids, sizeof *id_token);
    if (!tok->id_off || !tok->id_known || !tok->id_added || !id_token) {
        free(id_token);
        goto oom;
    }
    cJSON_ArrayForEach(v, vocab) {
        int32_t id = (int32_t)v->valuedouble;
        if (id_token[id]) {
            hs_errf(err, errlen, "%s: vocab entries '%s' and '%s' share id %d", src, id_token[id],
                    v->string, id);
            free(id_token);
            goto out;
        }
        id_token[id] = v->string;
    }
    /* decode table: added tokens take precedence for their ids (as HF's id_to_token); every
     * token's bytes are its ByteLevel decoding */
    for (size_t i = 0; i < tok->n_added; i++)
        tok->id_added[tok->added[i].id] = 1;
    size_t total = 0;
    for (size_t id = 0; id < n_ids; id++) {
        if (tok->id_added[id]) {
            for (size_t i = 0; i < tok->n_added; i++)
                if ((size_t)tok->added[i].id == id)
                    total += tok->added[i].len;
        } else if (id_token[id]) {
            total += strlen(id_token[id]);
        }
    }
    tok->id_bytes = malloc(total ? total : 1);
    if (!tok->id_bytes) {
        free(id_token);
        goto oom;
    }
    size_t off = 0;
    for (size_t id = 0; id < n_ids; id++) {
        tok->id_off[id] = off;
        if (tok->id_added[id]) {
            for (size_t i = 0; i < tok->n_added; i++)
                if ((size_t)tok->added[i].id == id) { /* ids are unique among added tokens */
                    /* HF passes added tokens through the ByteLevel decoder too ("Ġq" -> " q") */
                    off += hs_tok_byte_level_decode(tok->added[i].content, tok->added[i].len,
                                                    tok->id_bytes + off);
                    break;
                }
            tok->id_known[id] = 1;
        } else if (id_token[id]) {
            off += hs_tok_byte_level_decode(id_token[id], strlen(id_token[id]), tok->id_bytes + off);
            tok->id_known[id] = 1;
        }
    }
    tok->id_off[n_ids] = off;
    free(id_token);

    /* one-byte symbols */
    for (int b = 0; b < 256; b++) {
        char c[4];
        int k = hs_tok_utf8_put(hs_tok_byte_to_char((uint8_t)b), c);
        int32_t id;
        tok->byte_id[b] = hs_tok_strmap_get(&tok->vocab, c, (size_t)k, &id) ? id : -1;
    }

    /* model options */
    const cJSON *unk = field(model, "unk_token");
    tok->unk_id = -1;
    if (!is_null_or_absent(unk)) {
        int32_t id;
        if (!cJSON_IsString(unk) ||
            !hs_tok_strmap_get(&tok->vocab, unk->valuestring, strlen(unk->valuestring), &id)) {
            hs_errf(err, errlen, "%s: \"model\".\"unk_token\" is not in the vocabulary", src);
            goto out;
        }
        tok->unk_id = id;
    }
    tok->fuse_unk = cJSON_IsTrue(field(model, "fuse_unk"));
    tok->ignore_merges = cJSON_IsTrue(field(model, "ignore_merges"));

    /* merges: rank = index; a repeated pair keeps the later rank (as HF's map insert) */
    int n_merges = merges ? cJSON_GetArraySize(merges) : 0;
    if (hs_tok_pairmap_init(&tok->merges, (size_t)n_merges) != 0)
        goto oom;
    size_t mapped_cap = 0;
    const cJSON *m;
    int rank = 0;
    if (merges)
        cJSON_ArrayForEach(m, merges) {
            const char *a, *b;
            size_t alen, blen;
            int32_t ida, idb, idm;
            if (merge_parts(m, &a, &alen, &b, &blen) != 0) {
                hs_errf(err, errlen, "%s: merges[%d] is not a pair of tokens", src, rank);
                goto out;
            }
            if (!hs_tok_strmap_get(&tok->vocab, a, alen, &ida) ||
                !hs_tok_strmap_get(&tok->vocab, b, blen, &idb)) {
                hs_errf(err, errlen, "%s: merges[%d] names a token missing from the vocabulary", src,
                        rank);
                goto out;
            }
            if (alen + blen > mapped_cap) {
                mapped_cap = (alen + blen) * 2;
                char *nb = realloc(mapped_buf, mapped_cap);
                if (!nb)
                    goto oom;
                mapped_buf = nb;
            }
            memcpy(mapped_buf, a, alen);
            memcpy(mapped_buf + alen, b, blen);
            if (!hs_tok_strmap_get(&tok->vocab, mapped_buf, alen + blen, &idm)) {
                hs_errf(err, errlen, "%s: merges[%d]: the merged token '%.*s' is missing from the "
                        "vocabulary", src, rank, (int)(alen + blen > 64 ? 64 : alen + blen),
                        mapped_buf);
                goto out;
            }
            if (hs_tok_pairmap_put(&tok->merges, ida, idb, rank, idm) != 0)
                goto oom;
            rank++;
        }
    tok->pretok = hs_tok_pretok_new(err, errlen);
    if (!tok->pretok)
        goto out;
    rc = 0;
    goto out;
oom:
    hs_errf(err, errlen, "%s: out of memory", src);
out:
    free(mapped_buf);
    cJSON_Delete(root);
    return rc;
}
