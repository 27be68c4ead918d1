/* libFuzzer target: encode arbitrary bytes with the reference tokenizer
 * (tests/reference/tokenizer/tokenizer.json under HS_REPO_ROOT or the working directory).
 * Properties: encoding never fails, every id is in range, and for valid UTF-8 input
 * decode(encode(s)) == s byte for byte. */
#include "engine/formats/tokenizer.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hs_tokenizer *g_tok;

/* Strict UTF-8 check written independently of the tokenizer's. */
static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) k = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (i + k > n) return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (!g_tok) {
        const char *root = getenv("HS_REPO_ROOT");
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/reference/tokenizer/tokenizer.json",
                 root && *root ? root : ".");
        g_tok = hs_tokenizer_load(path, err, sizeof err);
        if (!g_tok) {
            fprintf(stderr, "fuzz_tokenizer_encode: %s\n", err);
            abort();
        }
    }
    int32_t *ids;
    size_t n;
    if (hs_tokenizer_encode(g_tok, (const char *)data, size, &ids, &n, err, sizeof err) != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hs_tokenizer_vocab_size(g_tok))
            abort();
    char *text;
    size_t len;
    if (hs_tokenizer_decode(g_tok, ids, n, &text, &len, err, sizeof err) != 0)
        abort();
    if (valid_utf8(data, size) && (len != size || memcmp(text, data, size) != 0))
        abort();
    free(text);
    free(ids);
    return 0;
}
