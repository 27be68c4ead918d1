/* Tokenizer behaviour on small hand-written tokenizer.json files. Every expected id list was
 * produced by HF tokenizers 0.23.3 (Tokenizer.from_str(same JSON).encode(text,
 * add_special_tokens=False).ids) and is written here as a constant:
 *   - merges by lowest rank, ties to the leftmost pair; a char missing from the vocabulary is
 *     dropped without unk, becomes unk with one, consecutive unks fused with fuse_unk;
 *   - added tokens: longest match first, non-normalized ones matched before normalized ones,
 *     ids assigned as HF does (model vocab id, else the next free id; the file's "id" is not used);
 *   - ignore_merges; added tokens decoded through the ByteLevel decoder like model tokens;
 * plus load errors that name the field at fault, decode of unknown ids, and invalid UTF-8. */
#include "engine/formats/tokenizer.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define PRE_TOK \
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":" \
    "{\"Regex\":\" ?[^(\\\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C])]+\"}," \
    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false," \
    "\"trim_offsets\":true,\"use_regex\":false}]}"
#define DECODER "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"

/* A whole tokenizer.json from its variable parts. */
static char *make_json(const char *added, const char *unk, const char *fuse, const char *ignore,
                       const char *vocab, const char *merges)
{
    char *buf = malloc(8192);
    snprintf(buf, 8192,
             "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[%s],"
             "\"normalizer\":null," PRE_TOK ",\"post_processor\":null," DECODER ","
             "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":%s,"
             "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":%s,"
             "\"byte_fallback\":false,\"ignore_merges\":%s,\"vocab\":{%s},\"merges\":[%s]}}",
             added, unk, fuse, ignore, vocab, merges);
    return buf;
}

#define ADDED(id, content, norm)                                                                   \
    "{\"id\":" #id ",\"content\":\"" content "\",\"single_word\":false,\"lstrip\":false,"          \
    "\"rstrip\":false,\"normalized\":" norm ",\"special\":true}"

static hs_tokenizer *load(const char *json)
{
    char err[512] = "";
    hs_tokenizer *t = hs_tokenizer_parse(json, strlen(json), err, sizeof err);
    if (!t)
        fprintf(stderr, "parse failed: %s\n", err);
    assert_non_null(t);
    return t;
}

static void expect_ids(const hs_tokenizer *t, const char *text, const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n;
    char err[512] = "";
    assert_int_equal(hs_tokenizer_encode(t, text, strlen(text), &ids, &n, err, sizeof err), 0);
    if (n != n_want || (n && memcmp(ids, want, n * sizeof *ids) != 0)) {
        fprintf(stderr, "'%s': got", text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, n_want);
    if (n)
        assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

#define EXPECT(t, text, ...)                                                                       \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(t, text, want_, sizeof want_ / sizeof want_[0]);                                \
    } while (0)

/* vocab a b c aa ab bc Ġ Ġa abc <s> <s>x <unk> x aaa; merges a a, b c, a b, Ġ a, ab c, aa a */
static void test_merge_order_and_added_tokens(void **state)
{
    (void)state;
    char *json = make_json(ADDED(9, "<s>", "false") "," ADDED(10, "<s>x", "false"), "null",
                           "false", "false",
                           "\"a\":0,\"b\":1,\"c\":2,\"aa\":3,\"ab\":4,\"bc\":5,\"\xC4\xA0\":6,"
                           "\"\xC4\xA0" "a\":7,\"abc\":8,\"<s>\":9,\"<s>x\":10,\"<unk>\":11,\"x\":12,\"aaa\":13",
                           "\"a a\",\"b c\",\"a b\",\"\xC4\xA0 a\",\"ab c\",\"aa a\"");
    hs_tokenizer *t = load(json);
    EXPECT(t, "aaa", 13);
    EXPECT(t, "aaaa", 3, 3);          /* ties to the leftmost pair */
    EXPECT(t, "abc", 0, 5);           /* b c (rank 1) before a b (rank 2) */
    EXPECT(t, "a abc", 0, 7, 5);
    EXPECT(t, "<s>x<s>aa", 10, 9, 3); /* longest added token first */
    EXPECT(t, "zz a", 7);             /* 'z' not in the vocabulary and no unk: dropped */
    EXPECT(t, "a<s>", 0, 9);
    EXPECT(t, "ab", 4);
    assert_int_equal(hs_tokenizer_vocab_size(t), 14);
    hs_tokenizer_free(t);
    free(json);
}

static void test_unk_fused_and_not(void **state)
{
    (void)state;
    char *json = make_json("", "\"<unk>\"", "true", "false", "\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3",
                           "\"a b\"");
    hs_tokenizer *t = load(json);
    EXPECT(t, "azzb", 1, 0, 2);
    EXPECT(t, "ab", 3);
    EXPECT(t, "zz", 0);
    EXPECT(t, "a z b", 1, 0, 0, 2);
    hs_tokenizer_free(t);
    free(json);
    json = make_json("", "\"<unk>\"", "false", "false", "\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3",
                     "\"a b\"");
    t = load(json);
    EXPECT(t, "azzb", 1, 0, 0, 2);
    hs_tokenizer_free(t);
    free(json);
}

/* "xb" is normalized (second pass), "b<" and "Q" are not; ids in the file are ignored by HF. */
static void test_added_passes_and_ids(void **state)
{
    (void)state;
    char *json = make_json(ADDED(50, "xb", "true") "," ADDED(60, "b<", "false") "," ADDED(70, "Q", "false"),
                           "null", "false", "false", "\"a\":0,\"b\":1,\"x\":2,\"<\":3,\"xb\":4", "");
    hs_tokenizer *t = load(json);
    EXPECT(t, "xb<", 2, 5);
    EXPECT(t, "xbQ", 4, 6);
    EXPECT(t, "Qxb", 6, 4);
    assert_int_equal(hs_tokenizer_vocab_size(t), 7);
    char *text;
    size_t len;
    char err[512] = "";
    const int32_t ids[] = {4, 5, 6};
    assert_int_equal(hs_tokenizer_decode(t, ids, 3, &text, &len, err, sizeof err), 0);
    assert_string_equal(text, "xbb<Q"); /* HF: decode([4,5,6]) */
    free(text);
    hs_tokenizer_free(t);
    free(json);
}

/* HF 0.23 sends added tokens through the ByteLevel decoder as well: "Ġq" decodes to " q", "é"
 * to the lone byte E9 (then U+FFFD); "注" is outside the alphabet and stays as it is. */
static void test_decode_added_through_byte_level(void **state)
{
    (void)state;
    char *json = make_json(ADDED(3, "\xC4\xA0q", "false") "," ADDED(4, "\xC3\xA9", "false") ","
                           ADDED(5, "<s>", "false") "," ADDED(6, "\xE6\xB3\xA8", "false"),
                           "null", "false", "false", "\"a\":0,\"b\":1,\"\xC4\xA0\":2", "");
    hs_tokenizer *t = load(json);
    EXPECT(t, "a\xC4\xA0qb", 0, 3, 1);
    EXPECT(t, "a\xC3\xA9" "b<s>\xE6\xB3\xA8", 0, 4, 1, 5, 6);
    char *text, err[512] = "";
    size_t len;
    const int32_t ids1[] = {0, 3, 1};
    assert_int_equal(hs_tokenizer_decode(t, ids1, 3, &text, &len, err, sizeof err), 0);
    assert_string_equal(text, "a qb"); /* HF: decode([0, 3, 1]) */
    free(text);
    const int32_t ids2[] = {0, 4, 1, 5, 6};
    assert_int_equal(hs_tokenizer_decode(t, ids2, 5, &text, &len, err, sizeof err), 0);
    assert_string_equal(text, "a\xEF\xBF\xBD" "b<s>\xE6\xB3\xA8"); /* HF: 'a\ufffdb<s>注' */
    free(text);
    hs_tokenizer_free(t);
    free(json);
}

static void test_ignore_merges(void **state)
{
    (void)state;
    const char *vocab = "\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5";
    char *json = make_json("", "null", "false", "true", vocab, "\"a b\",\"b c\"");
    hs_tokenizer *t = load(json);
    EXPECT(t, "abc", 5);
    EXPECT(t, "abcabc", 3, 2, 3, 2);
    hs_tokenizer_free(t);
    free(json);
    json = make_json("", "null", "false", "false", vocab, "[\"a\",\"b\"],[\"b\",\"c\"]"); /* pair form */
    t = load(json);
    EXPECT(t, "abc", 3, 2);
    hs_tokenizer_free(t);
    free(json);
}

static void test_decode_errors_and_empty(void **state)
{
    (void)state;
    char *json = make_json("", "null", "false", "false", "\"a\":0,\"b\":1,\"ab\":3", "\"a b\"");
    hs_tokenizer *t = load(json);
    char *text;
    size_t len;
    char err[512] = "";
    const int32_t bad[] = {0, 2};
    assert_int_equal(hs_tokenizer_decode(t, bad, 2, &text, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown token id 2"));
    const int32_t neg[] = {-1};
    assert_int_equal(hs_tokenizer_decode(t, neg, 1, &text, &len, err, sizeof err), -1);
    assert_int_equal(hs_tokenizer_decode(t, NULL, 0, &text, &len, err, sizeof err), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    assert_int_equal(hs_tokenizer_encode(t, "", 0, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(ids);
    hs_tokenizer_free(t);
    free(json);
}

/* Each broken file fails with a message naming what is wrong. */
static void expect_load_error(const char *json, const char *needle)
{
    char err[512] = "";
    hs_tokenizer *t = hs_tokenizer_parse(json, strlen(json), err, sizeof err);
    if (t || !strstr(err, needle))
        fprintf(stderr, "expected error containing '%s', got '%s'\n", needle, err);
    assert_null(t);
    assert_non_null(strstr(err, needle));
}

static void test_load_errors(void **state)
{
    (void)state;
    const char *vocab = "\"a\":0,\"b\":1,\"ab\":2";
    char *ok = make_json("", "null", "false", "false", vocab, "\"a b\"");
    char buf[8192];
    expect_load_error("{not json", "not valid JSON");
    expect_load_error("[]", "not a JSON object");
    char *j = make_json("", "null", "false", "false", vocab, "\"a c\"");
    expect_load_error(j, "merges[0]");
    free(j);
    j = make_json("", "null", "false", "false", "\"a\":0,\"b\":1", "\"a b\"");
    expect_load_error(j, "merged token 'ab' is missing");
    free(j);
    j = make_json("", "null", "false", "false", vocab, "\"ab\"");
    expect_load_error(j, "merges[0] is not a pair");
    free(j);
    j = make_json("", "\"<unk>\"", "false", "false", vocab, "");
    expect_load_error(j, "unk_token");
    free(j);
    j = make_json("", "null", "false", "false", "\"a\":-1", "");
    expect_load_error(j, "vocab entry 'a'");
    free(j);
    j = make_json("{\"id\":5,\"content\":\"<s>\",\"lstrip\":true}", "null", "false", "false", vocab, "");
    expect_load_error(j, "\"lstrip\": true is not supported");
    free(j);
    /* an added token that is not valid UTF-8 (a cut 3-byte character, as a raw NUL inside the
     * JSON string leaves it) would split a character of the text it is matched in */
    j = make_json(ADDED(5, "</s> ab\xE6\xB3", "false"), "null", "false", "false", vocab, "");
    expect_load_error(j, "\"added_tokens\"[0]: content is not valid UTF-8");
    free(j);
    /* pipeline parts changed one at a time */
    struct { const char *from, *to, *needle; } edits[] = {
        {"\"normalizer\":null", "\"normalizer\":{\"type\":\"NFKC\"}", "\"normalizer\" of type \"NFKC\""},
        {"\"behavior\":\"Isolated\"", "\"behavior\":\"Removed\"", "Isolated"},
        {"\" ?[^(", "\" ?[^)", "BLOOM's Regex"},
        {"\"add_prefix_space\":false", "\"add_prefix_space\":true", "add_prefix_space"},
        {"\"use_regex\":false", "\"use_regex\":true", "use_regex"},
        {"\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"WordPiece\"", "\"decoder\""},
        {"\"post_processor\":null", "\"post_processor\":{\"type\":\"TemplateProcessing\"}", "post_processor"},
        {"\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "\"model\""},
        {"\"dropout\":null", "\"dropout\":0.1", "dropout"},
        {"\"byte_fallback\":false", "\"byte_fallback\":true", "byte_fallback"},
        {"\"continuing_subword_prefix\":null", "\"continuing_subword_prefix\":\"##\"", "continuing_subword_prefix"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const char *at = strstr(ok, edits[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - ok), ok, edits[i].to, at + strlen(edits[i].from));
        expect_load_error(buf, edits[i].needle);
    }
    hs_tokenizer *t = load(ok); /* the unedited file loads */
    hs_tokenizer_free(t);
    free(ok);
    char err[512] = "";
    assert_null(hs_tokenizer_load("no/such/tokenizer.json", err, sizeof err));
    assert_non_null(strstr(err, "no/such/tokenizer.json"));
}

/* Raw invalid UTF-8 is encoded as its U+FFFD-repaired string (HF sees only Python str). */
static void test_invalid_utf8_is_replaced(void **state)
{
    (void)state;
    /* vocab holds the three ByteLevel chars of U+FFFD's bytes EF BF BD: ï ¿ ½ */
    char *json = make_json("", "null", "false", "false",
                           "\"\xC3\xAF\":0,\"\xC2\xBF\":1,\"\xC2\xBD\":2,\"a\":3", "");
    hs_tokenizer *t = load(json);
    EXPECT(t, "a\x80" "a", 3, 0, 1, 2, 3);
    EXPECT(t, "\xE6\xB3", 0, 1, 2);       /* a truncated sequence is ONE replacement */
    EXPECT(t, "\xC0\xAF", 0, 1, 2, 0, 1, 2); /* an overlong form: two */
    hs_tokenizer_free(t);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_order_and_added_tokens),
        cmocka_unit_test(test_unk_fused_and_not),
        cmocka_unit_test(test_added_passes_and_ids),
        cmocka_unit_test(test_decode_added_through_byte_level),
        cmocka_unit_test(test_ignore_merges),
        cmocka_unit_test(test_decode_errors_and_empty),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_invalid_utf8_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
