/* Helpers shared by the test_formats_*.c unit tests: reading files relative to HS_REPO_ROOT,
 * base64 decoding (for tests/reference/tokenizer/cases.json) and temporary directories. */
#ifndef TEST_FORMATS_UTIL_H
#define TEST_FORMATS_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a file in the repository (HS_REPO_ROOT, else the working directory). */
static inline void tf_repo_path(char *out, size_t outlen, const char *rel)
{
    const char *root = getenv("HS_REPO_ROOT");
    snprintf(out, outlen, "%s/%s", root && *root ? root : ".", rel);
}

/* Whole file, NUL-terminated; NULL when it cannot be read. */
static inline char *tf_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

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
