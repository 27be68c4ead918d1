/* UTF-8 validation and repair (utf8.h). */
#include "utf8.h"
#include <stdlib.h>
#include <string.h>

static bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t hs_utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && cont(s[1]) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || !cont(s[1]) || !cont(s[2]))
            return 0;
        if (c == 0xE0 && s[1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && s[1] > 0x9F) /* surrogate */
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || !cont(s[1]) || !cont(s[2]) || !cont(s[3]))
            return 0;
        if (c == 0xF0 && s[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && s[1] > 0x8F) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

size_t hs_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = hs_utf8_seq_len(u + i, n - i);
        if (l == 0)
            return i;
        i += l;
    }
    return n;
}

bool hs_utf8_valid(const char *s, size_t n) { return hs_utf8_invalid_at(s, n) == n; }

int hs_utf8_prefix(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n > 0 && n == max) { /* cut: drop a last character that does not fit whole */
        const unsigned char *u = (const unsigned char *)s;
        size_t j = n - 1;
        while (j > 0 && cont(u[j]) && n - j < 4)
            j--;
        if (u[j] >= 0xC0) {
            size_t want = u[j] >= 0xF0 ? 4 : u[j] >= 0xE0 ? 3 : 2;
            if (j + want > n)
                n = j;
        }
    }
    return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

char *hs_utf8_repair(const char *s, size_t n, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t l = u[i] < 0x80 ? 1 : hs_utf8_seq_len(u + i, n - i);
        if (l == 0) {
            bad++;
            l = 1;
        }
        i += l;
    }
    if (bad > (((size_t)-1) - n - 1) / 2)
        return NULL;
    char *out = malloc(n + 2 * bad + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = u[i] < 0x80 ? 1 : hs_utf8_seq_len(u + i, n - i);
        if (l == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
