/* Helpers of the test_formats_*.c unit tests on top of test_util.h (repository paths, files,
 * temporary directories): base64 decoding, for tests/reference/tokenizer/cases.json. */
#ifndef TEST_FORMATS_UTIL_H
#define TEST_FORMATS_UTIL_H
#include "test_util.h"

static inline int tf_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding -> malloc'd bytes (NUL-terminated for convenience). */
static inline unsigned char *tf_b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && out; i++) {
        if (s[i] == '=')
            break;
        int v = tf_b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (out)
        out[o] = 0;
    *out_len = o;
    return out;
}

#endif
