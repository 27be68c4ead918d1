/* libFuzzer target: arbitrary bytes as tokenizer.json text; an accepted tokenizer must encode
 * and decode a fixed sample without failing. */
#include "engine/formats/tokenizer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    hs_tokenizer *tok = hs_tokenizer_parse((const char *)data, size, err, sizeof err);
    if (!tok)
        return 0;
    static const char sample[] = "Hello world</s> ab\xE6\xB3\xA8 x.\n\n\xFF";
    int32_t *ids;
    size_t n;
    if (hs_tokenizer_encode(tok, sample, sizeof sample - 1, &ids, &n, err, sizeof err) != 0)
        abort();
    char *text;
    size_t len;
    if (hs_tokenizer_decode(tok, ids, n, &text, &len, err, sizeof err) != 0)
        abort();
    free(text);
    free(ids);
    hs_tokenizer_free(tok);
    return 0;
}
