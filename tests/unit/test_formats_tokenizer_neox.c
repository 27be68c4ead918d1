/* GPT-NeoX-style tokenizer (what MPT checkpoints ship: NFC normalizer, ByteLevel pre-tokenizer
 * with GPT-2's regex, added tokens some of them normalized) against HF tokenizers: every case of
 * tests/reference/tokenizer_neox/cases.json (ids from HF's encode, text from HF's decode) must be
 * reproduced exactly; invalid UTF-8 is fed as raw bytes. Also the stages one by one (the NFC
 * step, the regex pieces) and the load-time refusal of every option the loader does not
 * implement. */
#include "test_formats_util.h"
#include "engine/formats/tokenizer_internal.h"
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static hs_tokenizer *g_tok;
static cJSON *g_cases;
static char *g_json; /* the fixture tokenizer.json text, for the edited copies */
static size_t g_json_len;

static int setup(void **state)
{
    (void)state;
    char path[4096], err[512] = "";
    tu_repo_path(path, sizeof path, "tests/reference/tokenizer_neox/tokenizer.json");
    g_json = tu_read_file(path, &g_json_len);
    if (!g_json) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    g_tok = hs_tokenizer_parse(g_json, g_json_len, err, sizeof err);
    if (!g_tok) {
        fprintf(stderr, "load failed: %s\n", err);
        return -1;
    }
    g_cases = tu_read_json("tests/reference/tokenizer_neox/cases.json");
    return g_cases && cJSON_IsArray(g_cases) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hs_tokenizer_free(g_tok);
    cJSON_Delete(g_cases);
    free(g_json);
    return 0;
}

/* 2048 trained entries plus five added tokens (fixture_tokenizer_neox.py). */
static void test_vocab_size_and_pipeline(void **state)
{
    (void)state;
    assert_int_equal(hs_tokenizer_vocab_size(g_tok), 2053);
    assert_int_equal(g_tok->normalizer, HS_TOK_NORMALIZER_NFC);
    assert_int_equal(g_tok->n_added, 7);
}

static int32_t *json_ids(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    assert_non_null(v);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, " %s:", label);
    for (size_t i = 0; i < n && i < 24; i++)
        fprintf(stderr, " %d", ids[i]);
}

/* Encodes one encode/invalid_utf8 case; returns the number of mismatches (ids, decode,
 * round trip). */
static int check_encode_case(const cJSON *c, const char *name, const int32_t *want, size_t n_want,
                             const unsigned char *want_dec, size_t dec_len)
{
    int invalid = strcmp(cJSON_GetObjectItem(c, "kind")->valuestring, "invalid_utf8") == 0;
    size_t in_len, text_len;
    unsigned char *in = tf_b64_decode(cJSON_GetObjectItem(c, invalid ? "raw_b64" : "text_b64")->valuestring,
                                      &in_len);
    unsigned char *text_in = tf_b64_decode(cJSON_GetObjectItem(c, "text_b64")->valuestring, &text_len);
    assert_non_null(in);
    assert_non_null(text_in);
    char err[512] = "";
    int32_t *ids;
    size_t n;
    int failures = 0;
    assert_int_equal(hs_tokenizer_encode(g_tok, (const char *)in, in_len, &ids, &n, err, sizeof err), 0);
    if (n != n_want || (n && memcmp(ids, want, n * sizeof *ids) != 0)) {
        failures++;
        fprintf(stderr, "MISMATCH %s: got %zu ids, HF %zu:", name, n, n_want);
        print_ids("ours", ids, n);
        print_ids("HF", want, n_want);
        fprintf(stderr, "\n");
    }
    char *text;
    size_t tlen;
    assert_int_equal(hs_tokenizer_decode(g_tok, ids, n, &text, &tlen, err, sizeof err), 0);
    if (tlen != dec_len || memcmp(text, want_dec, tlen) != 0) {
        failures++;
        fprintf(stderr, "DECODE MISMATCH %s\n", name);
    }
    /* roundtrip: HF's decode gave back the text it encoded (true unless NFC changed it) */
    int roundtrip = tlen == text_len && memcmp(text, text_in, tlen) == 0;
    if (roundtrip != cJSON_IsTrue(cJSON_GetObjectItem(c, "roundtrip"))) {
        failures++;
        fprintf(stderr, "ROUNDTRIP FLAG MISMATCH %s\n", name);
    }
    free(text);
    free(ids);
    free(in);
    free(text_in);
    return failures;
}

static int check_decode_case(const char *name, const int32_t *want, size_t n_want,
                             const unsigned char *want_dec, size_t dec_len)
{
    char err[512] = "", *text;
    size_t tlen;
    assert_int_equal(hs_tokenizer_decode(g_tok, want, n_want, &text, &tlen, err, sizeof err), 0);
    int failures = tlen != dec_len || memcmp(text, want_dec, tlen) != 0;
    if (failures)
        fprintf(stderr, "DECODE MISMATCH %s\n", name);
    assert_int_equal(text[tlen], '\0');
    free(text);
    return failures;
}

static void test_every_case(void **state)
{
    (void)state;
    int n_encode = 0, n_invalid = 0, n_decode = 0, n_normalized = 0, failures = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, g_cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *kind = cJSON_GetObjectItem(c, "kind")->valuestring;
        size_t n_want, dec_len;
        int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_want);
        unsigned char *want_dec = tf_b64_decode(cJSON_GetObjectItem(c, "decoded_b64")->valuestring,
                                                &dec_len);
        assert_non_null(want_dec);
        if (strcmp(kind, "decode_only") == 0) {
            failures += check_decode_case(name, want, n_want, want_dec, dec_len);
            n_decode++;
        } else {
            failures += check_encode_case(c, name, want, n_want, want_dec, dec_len);
            if (strcmp(kind, "encode") == 0) {
                n_encode++;
                n_normalized += !cJSON_IsTrue(cJSON_GetObjectItem(c, "roundtrip"));
            } else {
                assert_string_equal(kind, "invalid_utf8");
                n_invalid++;
            }
        }
        free(want);
        free(want_dec);
    }
    printf("neox tokenizer cases: %d encode (%d changed by NFC), %d invalid-UTF-8, %d decode-only; "
           "%d mismatches\n", n_encode, n_normalized, n_invalid, n_decode, failures);
    assert_true(n_encode > 50);
    assert_true(n_normalized > 3);
    assert_true(n_invalid > 10);
    assert_true(n_decode > 5);
    assert_int_equal(failures, 0);
}

/* Ids of text as one string (helper for the direct checks below). */
static size_t encode_str(const char *text, int32_t **ids)
{
    char err[512] = "";
    size_t n;
    assert_int_equal(hs_tokenizer_encode(g_tok, text, strlen(text), ids, &n, err, sizeof err), 0);
    return n;
}

static int32_t added_id(const char *content)
{
    for (size_t i = 0; i < g_tok->n_added; i++)
        if (strcmp(g_tok->added[i].content, content) == 0)
            return g_tok->added[i].id;
    fail_msg("no added token '%s'", content);
    return -1;
}

static int has_id(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Added tokens: normalized ones match composed and decomposed text alike; raw ones only their
 * exact bytes; NFC never joins text across a non-normalized token. */
static void test_added_token_passes(void **state)
{
    (void)state;
    int32_t *a, *b;
    size_t na = encode_str("a<|caf\xC3\xA9|>b", &a), nb = encode_str("a<|cafe\xCC\x81|>b", &b);
    int32_t cafe = added_id("<|cafe\xCC\x81|>"), e_raw = added_id("<|e\xCC\x81|>");
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    assert_int_equal(a[1], cafe);
    assert_memory_equal(a, b, 3 * sizeof *a);
    free(a);
    free(b);
    na = encode_str("<|e\xCC\x81|>", &a);
    assert_int_equal(na, 1);
    assert_int_equal(a[0], e_raw);
    free(a);
    na = encode_str("<|\xC3\xA9|>", &a); /* composed: plain text */
    assert_false(has_id(a, na, e_raw));
    free(a);
    /* "e" <eos> U+0301: the acute stays alone, so the text decodes to the same bytes */
    na = encode_str("e<|endoftext|>\xCC\x81", &a);
    char err[512], *text;
    size_t tlen;
    assert_int_equal(hs_tokenizer_decode(g_tok, a, na, &text, &tlen, err, sizeof err), 0);
    assert_string_equal(text, "e<|endoftext|>\xCC\x81");
    free(text);
    free(a);
    /* nine spaces: the 8-space added token, then the 1-space rest goes to the regex */
    na = encode_str("a         b", &a);
    assert_true(has_id(a, na, added_id("        ")));
    free(a);
}

static void test_nfc_step(void **state)
{
    (void)state;
    char err[256], *out;
    size_t len;
    assert_int_equal(hs_tok_nfc("plain ascii", 11, &out, &len, err, sizeof err), 0);
    assert_null(out); /* unchanged: no copy */
    assert_int_equal(len, 11);
    assert_int_equal(hs_tok_nfc("caf\xC3\xA9", 5, &out, &len, err, sizeof err), 0);
    assert_null(out); /* already NFC */
    assert_int_equal(hs_tok_nfc("cafe\xCC\x81", 6, &out, &len, err, sizeof err), 0);
    assert_non_null(out);
    assert_int_equal(len, 5);
    assert_string_equal(out, "caf\xC3\xA9");
    free(out);
    /* U+212B ANGSTROM SIGN -> U+00C5; Hangul jamo compose to U+AC01 */
    assert_int_equal(hs_tok_nfc("\xE2\x84\xAB", 3, &out, &len, err, sizeof err), 0);
    assert_non_null(out);
    assert_string_equal(out, "\xC3\x85");
    free(out);
    assert_int_equal(hs_tok_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", 9, &out, &len, err, sizeof err), 0);
    assert_non_null(out);
    assert_string_equal(out, "\xEA\xB0\x81");
    free(out);
    /* embedded NUL: lengths are explicit */
    assert_int_equal(hs_tok_nfc("\0e\xCC\x81", 4, &out, &len, err, sizeof err), 0);
    assert_non_null(out);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "\0\xC3\xA9", 3);
    free(out);
}

/* NFC of s must be want (both NUL-terminated); returns 1 on a mismatch. */
static int nfc_differs(const char *s, const char *want)
{
    char err[256], *out;
    size_t len;
    assert_int_equal(hs_tok_nfc(s, strlen(s), &out, &len, err, sizeof err), 0);
    const char *got = out ? out : s;
    int differs = len != strlen(want) || memcmp(got, want, len) != 0;
    free(out);
    return differs;
}

/* ICU's NFC against HF's on every code point HF's NFC changes, every canonical decomposition,
 * and every other code point alone (left as it is) — tokenizer_neox/nfc.json. */
static void test_nfc_against_hf_every_code_point(void **state)
{
    (void)state;
    char path[4096];
    tu_repo_path(path, sizeof path, "tests/reference/tokenizer_neox/nfc.json");
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    cJSON *table = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(table);
    const cJSON *single = cJSON_GetObjectItem(table, "single");
    const cJSON *decomposed = cJSON_GetObjectItem(table, "decomposed");
    assert_true(cJSON_IsArray(single) && cJSON_IsArray(decomposed));
    assert_true(cJSON_GetArraySize(decomposed) > 2000);
    long mismatches = 0;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, decomposed) {
        const char *in = cJSON_GetArrayItem(pair, 0)->valuestring, *want = cJSON_GetArrayItem(pair, 1)->valuestring;
        if (nfc_differs(in, want) && mismatches++ < 20)
            fprintf(stderr, "NFC of decomposed U+%04X... differs from HF\n", (unsigned)in[0] & 0xFF);
    }
    const cJSON *next_single = single->child;
    for (uint32_t cp = 1; cp < 0x110000; cp++) { /* U+0000 cannot be a C string */
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char c[5] = {0};
        hs_tok_utf8_put(cp, c);
        const char *want = c;
        if (next_single && strcmp(cJSON_GetArrayItem(next_single, 0)->valuestring, c) == 0) {
            want = cJSON_GetArrayItem(next_single, 1)->valuestring;
            next_single = next_single->next;
        }
        if (nfc_differs(c, want) && mismatches++ < 20)
            fprintf(stderr, "NFC of U+%04X differs from HF\n", cp);
    }
    assert_null(next_single); /* every changed code point was visited, in order */
    printf("NFC: %d decompositions, %d changed code points; %ld differ from HF\n",
           cJSON_GetArraySize(decomposed), cJSON_GetArraySize(single), mismatches);
    cJSON_Delete(table);
    assert_int_equal(mismatches, 0);
}

typedef struct pieces {
    char text[16][32];
    int n;
} pieces;

static int collect(void *ctx, const char *start, size_t len)
{
    pieces *p = ctx;
    if (p->n < 16 && len < 32) {
        memcpy(p->text[p->n], start, len);
        p->text[p->n][len] = '\0';
    }
    p->n++;
    return 0;
}

/* Pieces recorded from HF tokenizers 0.23.3
 * pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).pre_tokenize_str, mapped
 * back from ByteLevel chars to text. */
static void test_byte_level_regex_pieces(void **state)
{
    (void)state;
    char err[256];
    hs_tok_pretok *p = hs_tok_pretok_new(HS_TOK_SPLIT_BYTE_LEVEL, err, sizeof err);
    assert_non_null(p);
    static const struct {
        const char *text;
        int n;
        const char *want[8];
    } cases[] = {
        {"a   b", 3, {"a", "  ", " b"}},
        {"I'm IT'S", 5, {"I", "'m", " IT", "'", "S"}},
        {"x 42 ?!\n\n", 4, {"x", " 42", " ?!", "\n\n"}},
        {"end  ", 2, {"end", "  "}},
        {"a\xE3\x80\x80" "b", 3, {"a", "\xE3\x80\x80", "b"}},
        {"caf\xC3\xA9 \xE2\x85\xAB", 2, {"caf\xC3\xA9", " \xE2\x85\xAB"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces got = {0};
        assert_int_equal(hs_tok_pretok_split(p, cases[i].text, strlen(cases[i].text), collect, &got,
                                             err, sizeof err), 0);
        if (got.n != cases[i].n)
            fprintf(stderr, "case %zu: %d pieces, want %d\n", i, got.n, cases[i].n);
        assert_int_equal(got.n, cases[i].n);
        for (int k = 0; k < got.n; k++)
            if (cases[i].want[k])
                assert_string_equal(got.text[k], cases[i].want[k]);
    }
    hs_tok_pretok_free(p);
}

static int count_pieces(void *ctx, const char *start, size_t len)
{
    (void)start;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

static int pieces_of(const hs_tok_pretok *p, const char *before, uint32_t cp, const char *after)
{
    char buf[16], err[256];
    size_t n = strlen(before);
    memcpy(buf, before, n);
    n += (size_t)hs_tok_utf8_put(cp, buf + n);
    memcpy(buf + n, after, strlen(after));
    n += strlen(after);
    int count = 0;
    assert_int_equal(hs_tok_pretok_split(p, buf, n, count_pieces, &count, err, sizeof err), 0);
    return count;
}

/* 1 when cp lies in a [first, last] range of the sorted JSON list *cur walks through; cp must
 * not decrease between calls. */
static int in_ranges(const cJSON **cur, uint32_t cp)
{
    while (*cur && cp > (uint32_t)cJSON_GetArrayItem(*cur, 1)->valuedouble)
        *cur = (*cur)->next;
    return *cur && cp >= (uint32_t)cJSON_GetArrayItem(*cur, 0)->valuedouble;
}

/* For EVERY Unicode scalar value, the regex classes it as HF's Oniguruma does (\p{L}, \p{N} or
 * neither): byte_level_classes.json was measured with HF's ByteLevel pre_tokenize_str probes
 * "a"+c+"b" (one piece: a letter) and "1"+c+"1" (one piece: a number); PCRE2's Unicode tables
 * must agree with Oniguruma's. */
static void test_every_code_point_class(void **state)
{
    (void)state;
    char path[4096], err[256];
    tu_repo_path(path, sizeof path, "tests/reference/tokenizer_neox/byte_level_classes.json");
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    cJSON *classes = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(classes);
    const cJSON *letters = cJSON_GetObjectItem(classes, "letter");
    const cJSON *numbers = cJSON_GetObjectItem(classes, "number");
    assert_true(cJSON_IsArray(letters) && cJSON_IsArray(numbers));
    hs_tok_pretok *p = hs_tok_pretok_new(HS_TOK_SPLIT_BYTE_LEVEL, err, sizeof err);
    assert_non_null(p);
    const cJSON *lcur = letters->child, *ncur = numbers->child;
    long mismatches = 0, n_letters = 0, n_numbers = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        int hf_letter = in_ranges(&lcur, cp), hf_number = in_ranges(&ncur, cp);
        int ours_letter = pieces_of(p, "a", cp, "b") == 1;
        int ours_number = !ours_letter && pieces_of(p, "1", cp, "1") == 1;
        n_letters += ours_letter;
        n_numbers += ours_number;
        if (ours_letter != hf_letter || ours_number != hf_number) {
            if (mismatches++ < 20)
                fprintf(stderr, "U+%04X: ours letter %d number %d, HF letter %d number %d\n", cp,
                        ours_letter, ours_number, hf_letter, hf_number);
        }
    }
    printf("code point classes: %ld letters, %ld numbers, %ld differ from HF\n", n_letters,
           n_numbers, mismatches);
    hs_tok_pretok_free(p);
    cJSON_Delete(classes);
    assert_int_equal(mismatches, 0);
}

/* The fixture with one part replaced: refused at load, naming the part. */
static void expect_refused(const char *from, const char *to, const char *needle)
{
    const char *at = strstr(g_json, from);
    if (!at)
        fail_msg("fixture has no '%s'", from);
    size_t flen = strlen(from), tlen = strlen(to), n = g_json_len - flen + tlen;
    char *edited = malloc(n + 1);
    assert_non_null(edited);
    size_t head = (size_t)(at - g_json);
    memcpy(edited, g_json, head);
    memcpy(edited + head, to, tlen);
    memcpy(edited + head + tlen, at + flen, g_json_len - head - flen);
    edited[n] = '\0';
    char err[512] = "";
    hs_tokenizer *t = hs_tokenizer_parse(edited, n, err, sizeof err);
    if (t || !strstr(err, needle))
        fprintf(stderr, "edit '%s' -> '%s': expected an error containing '%s', got '%s'\n", from,
                to, needle, err);
    assert_null(t);
    assert_non_null(strstr(err, needle));
    free(edited);
}

static void test_unsupported_parts_refused(void **state)
{
    (void)state;
    static const char *norm = "\"normalizer\":{\"type\":\"NFC\"}";
    static const char *pre = "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false";
    expect_refused(norm, "\"normalizer\":{\"type\":\"NFKC\"}", "\"normalizer\" of type \"NFKC\"");
    expect_refused(norm, "\"normalizer\":{\"type\":\"NFD\"}", "\"normalizer\" of type \"NFD\"");
    expect_refused(norm, "\"normalizer\":{\"type\":\"Lowercase\"}", "\"Lowercase\"");
    expect_refused(norm, "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"}]}",
                   "\"normalizer\" of type \"Sequence\"");
    expect_refused(pre, "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true",
                   "add_prefix_space");
    expect_refused(pre, "\"pre_tokenizer\":{\"type\":\"Whitespace\",\"add_prefix_space\":false",
                   "\"pre_tokenizer\" of type \"Whitespace\"");
    expect_refused(pre, "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"add_prefix_space\":false",
                   "\"Metaspace\"");
    expect_refused("\"use_regex\":true},\"post_processor\"", "\"use_regex\":false},\"post_processor\"",
                   "use_regex");
    expect_refused("\"post_processor\":{\"type\":\"ByteLevel\"",
                   "\"post_processor\":{\"type\":\"TemplateProcessing\"", "\"TemplateProcessing\"");
    expect_refused("\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"Metaspace\"",
                   "\"decoder\" of type \"Metaspace\"");
    expect_refused("\"type\":\"BPE\"", "\"type\":\"Unigram\"", "\"model\" of type \"Unigram\"");
    expect_refused("\"rstrip\":false,\"normalized\":true", "\"rstrip\":true,\"normalized\":true",
                   "\"rstrip\": true is not supported");
    /* use_regex absent is HF's default (true): accepted */
    const char *at = strstr(g_json, ",\"use_regex\":true},\"post_processor\"");
    assert_non_null(at);
    size_t cut = strlen(",\"use_regex\":true");
    char *edited = malloc(g_json_len + 1);
    assert_non_null(edited);
    memcpy(edited, g_json, (size_t)(at - g_json));
    memcpy(edited + (at - g_json), at + cut, g_json_len - (size_t)(at - g_json) - cut + 1);
    char err[512] = "";
    hs_tokenizer *t = hs_tokenizer_parse(edited, g_json_len - cut, err, sizeof err);
    if (!t)
        fprintf(stderr, "without use_regex: %s\n", err);
    assert_non_null(t);
    hs_tokenizer_free(t);
    free(edited);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_size_and_pipeline),
        cmocka_unit_test(test_every_case),
        cmocka_unit_test(test_added_token_passes),
        cmocka_unit_test(test_nfc_step),
        cmocka_unit_test(test_nfc_against_hf_every_code_point),
        cmocka_unit_test(test_byte_level_regex_pieces),
        cmocka_unit_test(test_every_code_point_class),
        cmocka_unit_test(test_unsupported_parts_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
