/* libFuzzer target: encode arbitrary bytes with the GPT-NeoX-style reference tokenizer
 * (tests/reference/tokenizer_neox/tokenizer.json under HS_REPO_ROOT or the working directory:
 * NFC, ByteLevel regex, normalized and raw added tokens).
 * Properties: encoding never fails, every id is in range, decoding never fails, and for valid
 * UTF-8 input without "<|" (so no added token but the space runs, whose contents are
 * NFC-invariant, can match) decode(encode(s)) == NFC(s) byte for byte. */
#include "engine/formats/tokenizer_internal.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hs_tokenizer *g_tok;

static void load_once(void)
{
    if (g_tok)
        return;
    char err[512], path[4096];
    const char *root = getenv("HS_REPO_ROOT");
    snprintf(path, sizeof path, "%s/tests/reference/tokenizer_neox/tokenizer.json",
             root && *root ? root : ".");
    g_tok = hs_tokenizer_load(path, err, sizeof err);
    if (!g_tok) {
        fprintf(stderr, "fuzz_tokenizer_neox_encode: %s\n", err);
        abort();
    }
}

static int has_added_marker(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '<' && data[i + 1] == '|')
            return 1;
    return 0;
}

/* decode(encode(s)) must be NFC(s) for valid UTF-8 s. */
static void check_round_trip(const uint8_t *data, size_t size, const char *text, size_t len)
{
    char err[512], *nfc;
    size_t nfc_len;
    if (hs_tok_nfc((const char *)data, size, &nfc, &nfc_len, err, sizeof err) != 0)
        abort();
    const char *want = nfc ? nfc : (const char *)data;
    if (len != nfc_len || memcmp(text, want, len) != 0)
        abort();
    free(nfc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    load_once();
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
    if (hs_tok_utf8_valid((const char *)data, size) && !has_added_marker(data, size))
        check_round_trip(data, size, text, len);
    free(text);
    free(ids);
    return 0;
}
