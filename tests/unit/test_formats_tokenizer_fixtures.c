/* BLOOM tokenizer against HF tokenizers: every case of tests/reference/tokenizer/cases.json
 * (ids from HF's Tokenizer.encode, decoded text from HF's decode) must be reproduced exactly;
 * invalid UTF-8 inputs are fed as raw bytes and must give HF's ids for the
 * errors='replace'-decoded string; decode(encode(s)) == s for valid UTF-8. */
#include "test_formats_util.h"
#include "engine/formats/tokenizer.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static hs_tokenizer *g_tok;
static cJSON *g_cases;

static int setup(void **state)
{
    (void)state;
    char path[4096], err[512] = "";
    tu_repo_path(path, sizeof path, "tests/reference/tokenizer/tokenizer.json");
    g_tok = hs_tokenizer_load(path, err, sizeof err);
    if (!g_tok) {
        fprintf(stderr, "load failed: %s\n", err);
        return -1;
    }
    g_cases = tu_read_json("tests/reference/tokenizer/cases.json");
    return g_cases && cJSON_IsArray(g_cases) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hs_tokenizer_free(g_tok);
    cJSON_Delete(g_cases);
    return 0;
}

static void test_vocab_size(void **state)
{
    (void)state;
    assert_int_equal(hs_tokenizer_vocab_size(g_tok), 4096);
}

/* Ids of a JSON array. */
static int32_t *json_ids(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void test_every_case(void **state)
{
    (void)state;
    int n_encode = 0, n_invalid = 0, n_decode = 0, n_roundtrip = 0, failures = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, g_cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *kind = cJSON_GetObjectItem(c, "kind")->valuestring;
        size_t n_want;
        int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_want);
        size_t dec_len;
        unsigned char *want_dec = tf_b64_decode(cJSON_GetObjectItem(c, "decoded_b64")->valuestring,
                                                &dec_len);
        assert_non_null(want_dec);
        char err[512] = "";
        if (strcmp(kind, "encode") == 0 || strcmp(kind, "invalid_utf8") == 0) {
            const char *field = strcmp(kind, "encode") == 0 ? "text_b64" : "raw_b64";
            size_t in_len;
            unsigned char *in = tf_b64_decode(cJSON_GetObjectItem(c, field)->valuestring, &in_len);
            assert_non_null(in);
            int32_t *ids;
            size_t n;
            assert_int_equal(hs_tokenizer_encode(g_tok, (const char *)in, in_len, &ids, &n, err,
                                                 sizeof err), 0);
            int same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
            if (!same) {
                failures++;
                fprintf(stderr, "MISMATCH %s: got %zu ids, HF %zu:", name, n, n_want);
                for (size_t i = 0; i < n && i < 24; i++)
                    fprintf(stderr, " %d", ids[i]);
                fprintf(stderr, " | HF:");
                for (size_t i = 0; i < n_want && i < 24; i++)
                    fprintf(stderr, " %d", want[i]);
                fprintf(stderr, "\n");
            }
            /* decode of our ids must equal HF's decode */
            char *text;
            size_t tlen;
            assert_int_equal(hs_tokenizer_decode(g_tok, ids, n, &text, &tlen, err, sizeof err), 0);
            if (tlen != dec_len || memcmp(text, want_dec, tlen) != 0) {
                failures++;
                fprintf(stderr, "DECODE MISMATCH %s\n", name);
            }
            if (strcmp(kind, "encode") == 0) {
                n_encode++;
                /* valid UTF-8: decode(encode(s)) == s */
                if (tlen == in_len && memcmp(text, in, in_len) == 0)
                    n_roundtrip++;
                else {
                    failures++;
                    fprintf(stderr, "ROUNDTRIP FAILED %s\n", name);
                }
            } else {
                n_invalid++;
            }
            free(text);
            free(ids);
            free(in);
        } else {
            assert_string_equal(kind, "decode_only");
            char *text;
            size_t tlen;
            assert_int_equal(hs_tokenizer_decode(g_tok, want, n_want, &text, &tlen, err, sizeof err), 0);
            if (tlen != dec_len || memcmp(text, want_dec, tlen) != 0) {
                failures++;
                fprintf(stderr, "DECODE MISMATCH %s\n", name);
            }
            assert_int_equal(text[tlen], '\0');
            free(text);
            n_decode++;
        }
        free(want);
        free(want_dec);
    }
    printf("tokenizer cases: %d encode (%d round-trip), %d invalid-UTF-8, %d decode-only; "
           "%d mismatches\n", n_encode, n_roundtrip, n_invalid, n_decode, failures);
    assert_true(n_encode > 100);
    assert_true(n_invalid > 5);
    assert_true(n_decode > 0);
    assert_int_equal(failures, 0);
}

/* One loaded tokenizer used by several threads at once gives HF's ids in every thread. */
static void *encode_all_cases(void *arg)
{
    long *mismatches = arg;
    const cJSON *c;
    cJSON_ArrayForEach(c, g_cases) {
        const cJSON *text = cJSON_GetObjectItem(c, "raw_b64");
        if (!text)
            text = cJSON_GetObjectItem(c, "text_b64");
        if (strcmp(cJSON_GetObjectItem(c, "kind")->valuestring, "decode_only") == 0)
            continue;
        size_t in_len, n_want, n;
        unsigned char *in = tf_b64_decode(text->valuestring, &in_len);
        int32_t *want = json_ids(cJSON_GetObjectItem(c, "ids"), &n_want), *ids = NULL;
        char err[512];
        if (hs_tokenizer_encode(g_tok, (const char *)in, in_len, &ids, &n, err, sizeof err) != 0 ||
            n != n_want || (n && memcmp(ids, want, n * sizeof *ids) != 0))
            (*mismatches)++;
        free(ids);
        free(want);
        free(in);
    }
    return NULL;
}

static void test_concurrent_encodes(void **state)
{
    (void)state;
    pthread_t th[4];
    long mismatches[4] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, encode_all_cases, &mismatches[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(mismatches[i], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_size),
        cmocka_unit_test(test_every_case),
        cmocka_unit_test(test_concurrent_encodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
