/* The ByteLevel alphabet (docs/model-families.md "tokenizer"): bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to the
 * same code point; the other 68 bytes, in increasing order, to U+0100 + n. Plus the decoder's
 * per-token rule: map every char back, or keep the token's UTF-8 when a char is not in the
 * alphabet. */
#include "tokenizer_internal.h"
#include <string.h>

static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 other bytes, in increasing order, are 0x00-0x20 (n = 0..32), 0x7F-0xA0 (n = 33..66)
 * and 0xAD (n = 67); they map to U+0100 + n. */
uint32_t hs_tok_byte_to_char(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 0x100u + 33 + (b - 0x7Fu);
    return 0x100u + 67; /* 0xAD */
}

int hs_tok_char_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp > 0x100 + 67)
        return -1;
    uint32_t n = cp - 0x100;
    if (n <= 32)
        return (int)n;
    if (n <= 66)
        return (int)(0x7F + n - 33);
    return 0xAD;
}

size_t hs_tok_byte_level_decode(const char *token, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        int k = hs_tok_utf8_next(token + i, len - i, &cp);
        int b = k ? hs_tok_char_to_byte(cp) : -1;
        if (b < 0) { /* not a ByteLevel token: keep its bytes */
            memcpy(out, token, len);
            return len;
        }
        out[o++] = (char)b;
        i += (size_t)k;
    }
    return o;
}

size_t hs_tok_byte_level_encode(const char *raw, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        o += (size_t)hs_tok_utf8_put(hs_tok_byte_to_char((uint8_t)raw[i]), out + o);
    return o;
}
