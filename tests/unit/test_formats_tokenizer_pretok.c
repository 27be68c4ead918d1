/* The Split pre-tokenizer against HF tokenizers (Oniguruma):
 * - for EVERY Unicode scalar value c, "a" c "b" splits exactly when HF's Split splits it; the
 *   set below was measured with HF tokenizers 0.23.3 by running
 *   pre_tokenizers.Split(Regex(BLOOM's regex), "isolated").pre_tokenize_str("a"+chr(c)+"b")
 *   for all c and keeping those giving more than one piece (Oniguruma's \s, "( | )" and the
 *   listed punctuation). Notably U+001C-001F, U+180E, U+200B, U+FEFF do NOT split.
 * - a few strings split into exactly the pieces HF gives (recorded from pre_tokenize_str). */
#include "engine/formats/tokenizer_internal.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* HF tokenizers 0.23.3: code points c for which "a"+c+"b" is split (inclusive ranges). */
static const uint32_t hf_split_ranges[][2] = {
    {0x9, 0xD},     {0x20, 0x21},   {0x28, 0x29},     {0x2C, 0x2C},     {0x2E, 0x2E},
    {0x3F, 0x3F},   {0x7C, 0x7C},   {0x85, 0x85},     {0xA0, 0xA0},     {0x60C, 0x60C},
    {0x6D4, 0x6D4}, {0x964, 0x964}, {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2026, 0x2026},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3002}, {0xFF0C, 0xFF0C},
};

static int hf_splits(uint32_t cp)
{
    for (size_t i = 0; i < sizeof hf_split_ranges / sizeof hf_split_ranges[0]; i++)
        if (cp >= hf_split_ranges[i][0] && cp <= hf_split_ranges[i][1])
            return 1;
    return 0;
}

typedef struct pieces {
    char text[16][64];
    int n;
} pieces;

static int collect(void *ctx, const char *start, size_t len)
{
    pieces *p = ctx;
    if (p->n < 16 && len < 64) {
        memcpy(p->text[p->n], start, len);
        p->text[p->n][len] = '\0';
    }
    p->n++;
    return 0;
}

static int count_only(void *ctx, const char *start, size_t len)
{
    (void)start;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

static void test_every_code_point(void **state)
{
    (void)state;
    char err[256];
    hs_tok_pretok *p = hs_tok_pretok_new(HS_TOK_SPLIT_BLOOM, err, sizeof err);
    assert_non_null(p);
    int checked = 0, wrong = 0, n_split = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char buf[8];
        buf[0] = 'a';
        int k = hs_tok_utf8_put(cp, buf + 1);
        buf[1 + k] = 'b';
        int n = 0;
        assert_int_equal(hs_tok_pretok_split(p, buf, (size_t)k + 2, count_only, &n, err, sizeof err), 0);
        int ours = n != 1;
        if (ours != hf_splits(cp)) {
            if (wrong < 10)
                fprintf(stderr, "U+%04X: ours %s, HF %s\n", cp, ours ? "splits" : "keeps",
                        hf_splits(cp) ? "splits" : "keeps");
            wrong++;
        }
        n_split += ours;
        checked++;
    }
    printf("code points checked: %d, split: %d, disagreeing with HF: %d\n", checked, n_split, wrong);
    assert_int_equal(wrong, 0);
    hs_tok_pretok_free(p);
}

static void expect_pieces(const hs_tok_pretok *p, const char *text, const char *const *want, int n_want)
{
    pieces got = {.n = 0};
    char err[256];
    assert_int_equal(hs_tok_pretok_split(p, text, strlen(text), collect, &got, err, sizeof err), 0);
    assert_int_equal(got.n, n_want);
    for (int i = 0; i < n_want; i++)
        assert_string_equal(got.text[i], want[i]);
}

static void test_pieces_like_hf(void **state)
{
    (void)state;
    char err[256];
    hs_tok_pretok *p = hs_tok_pretok_new(HS_TOK_SPLIT_BLOOM, err, sizeof err);
    assert_non_null(p);
    expect_pieces(p, "a , b", (const char *[]){"a", " ,", " b"}, 3);
    expect_pieces(p, ".\n\n", (const char *[]){".\n\n"}, 1);
    expect_pieces(p, "Hello  world!! (x|y) ok\xE2\x80\xA6",
                  (const char *[]){"Hello", " ", " world", "!! (", "x", "|", "y", ")", " ok",
                                   "\xE2\x80\xA6"}, 10);
    expect_pieces(p, " \xE3\x80\x80x\xE1\xA0\x8Ey", (const char *[]){" \xE3\x80\x80", "x\xE1\xA0\x8Ey"}, 2);
    expect_pieces(p, "tab\there\r\n  end", (const char *[]){"tab", "\t", "here", "\r\n ", " end"}, 5);
    expect_pieces(p, "a\xC2\xA0" "b c", (const char *[]){"a", "\xC2\xA0", "b", " c"}, 4);
    expect_pieces(p, "  ", (const char *[]){"  "}, 1);
    expect_pieces(p, "x\xE3\x80\x82y\xEF\xBC\x8Cz",
                  (const char *[]){"x", "\xE3\x80\x82", "y", "\xEF\xBC\x8C", "z"}, 5);
    expect_pieces(p, "", (const char *[]){""}, 0);
    hs_tok_pretok_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_like_hf),
        cmocka_unit_test(test_every_code_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
