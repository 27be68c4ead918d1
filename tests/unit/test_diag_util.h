/* Helpers shared by the diagnosis unit tests (test_diag_*.c): repository paths, files, JSON
 * fixtures, a CPU backend context and temporary directories. Static functions only: each
 * test binary includes this header once. */
#ifndef TEST_DIAG_UTIL_H
#define TEST_DIAG_UTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "errors.h"
#include "ops.h"
#include <cjson/cJSON.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void td_path(char *out, size_t outlen, const char *rel)
{
    const char *root = getenv("HS_REPO_ROOT");
    snprintf(out, outlen, "%s/%s", root && *root ? root : ".", rel);
}

static inline char *td_read_file(const char *path, size_t *len)
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

/* A JSON fixture under the repository root, or NULL (the caller skips) when absent. */
static inline cJSON *td_load_json(const char *rel)
{
    char p[4096];
    td_path(p, sizeof p, rel);
    char *text = td_read_file(p, NULL);
    if (!text)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        fail_msg("fixture %s is not valid JSON", p);
    return j;
}

static inline hs_backend_ctx *td_cpu(void)
{
    char err[HS_ERR_LEN];
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    if (!ctx)
        fail_msg("cpu backend init: %s", err);
    return ctx;
}

static int td_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void td_rm_tree(const char *dir)
{
    nftw(dir, td_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temporary directory (template under /tmp or $TMPDIR). */
static inline void td_mkdtemp(char *out, size_t outlen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, outlen, "%s/hs_diag_test_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out))
        fail_msg("mkdtemp %s failed", out);
}

#endif
