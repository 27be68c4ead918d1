/* Helpers every unit test may share: paths under the repository root (HS_REPO_ROOT, else the
 * working directory), reading, writing and copying whole files, JSON fixtures, temporary
 * directories (made
 * under $TMPDIR or P_tmpdir, removed with everything in them), and the FNV-1a hash the
 * checkpoint tests compare tensor contents by, and an fp32's bits. The area headers
 * (test_diag_util.h, test_graph_util.h, test_formats_util.h) add their own helpers on top.
 * Static functions only: each test binary includes this header once. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* The bits of an fp32 and the fp32 of some bits (memcpy, no aliasing). */
static inline uint32_t tu_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float tu_bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* out = $HS_REPO_ROOT/rel (or ./rel). */
static inline void tu_repo_path(char *out, size_t outlen, const char *rel)
{
    const char *root = getenv("HS_REPO_ROOT");
    snprintf(out, outlen, "%s/%s", root && *root ? root : ".", rel);
}

/* The whole file, NUL-terminated (its length in *len when len is not NULL); NULL when it
 * cannot be read. */
static inline char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Writes len bytes of data as the file at path; fails the test when it cannot. */
static inline void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        fail_msg("cannot create %s", path);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Copies the file from to the file to; fails the test when it cannot. */
static inline void tu_copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *data = tu_read_file(from, &len);
    if (!data)
        fail_msg("cannot read %s", from);
    tu_write_file(to, data, len);
    free(data);
}

/* The JSON fixture at rel under the repository root, or NULL when the file is absent; fails
 * the test when it is not valid JSON. */
static inline cJSON *tu_read_json(const char *rel)
{
    char p[4096];
    tu_repo_path(p, sizeof p, rel);
    char *text = tu_read_file(p, NULL);
    if (!text)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        fail_msg("fixture %s is not valid JSON", p);
    return j;
}

/* Makes a fresh directory $TMPDIR/<name>_XXXXXX (P_tmpdir when TMPDIR is unset) into out;
 * 0, or -1 when it cannot be made. */
static inline int tu_mkdtemp(char *out, size_t outlen, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, outlen, "%s/%s_XXXXXX", tmp && *tmp ? tmp : P_tmpdir, name);
    return mkdtemp(out) ? 0 : -1;
}

static int tu_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it; 0, or -1 when something could not be removed. */
static inline int tu_rm_tree(const char *dir)
{
    return nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* FNV-1a (64-bit) of the bytes of n floats. */
static inline uint64_t tu_fnv1a64_f32(const float *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < n * sizeof(float); i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
