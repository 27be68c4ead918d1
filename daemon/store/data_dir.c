/* The data directory's layout (data_dir.h): every path under --data-dir is formatted here. */
#include "data_dir.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/file_io.h"
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 5, 6)))
static int format_path(char *out, size_t outlen, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen)
        return hs_errf(err, errlen, "path too long under the data directory");
    return 0;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

/* Creates dir when missing and writes its absolute, symlink-free path into out. */
static int settle_dir(const char *what, const char *dir, char *out, char *err, size_t errlen)
{
    char inner[HS_ERR_LEN];
    if (hs_make_dirs(dir, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "%s %s: %s", what, dir, inner);
    struct stat sb;
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return hs_errf(err, errlen, "%s %s: not a directory", what, dir);
    if (!realpath(dir, out))
        return hs_errf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
    return 0;
}

int hs_root_dirs_settle(const char *data_dir, const char *model_root, const char *corpus_root,
                        hs_root_dirs *out, char *err, size_t errlen)
{
    char fallback[PATH_MAX];
    if (settle_dir("data directory", data_dir, out->data_dir, err, errlen) != 0)
        return -1;
    if (!model_root &&
        hs_data_default_model_root(out->data_dir, fallback, sizeof fallback, err, errlen) != 0)
        return -1;
    if (settle_dir("model root", model_root ? model_root : fallback, out->model_root, err,
                   errlen) != 0)
        return -1;
    if (!corpus_root &&
        hs_data_default_corpus_root(out->data_dir, fallback, sizeof fallback, err, errlen) != 0)
        return -1;
    return settle_dir("corpus root", corpus_root ? corpus_root : fallback, out->corpus_root, err,
                      errlen);
}

hs_roots hs_root_dirs_view(const hs_root_dirs *dirs)
{
    return (hs_roots){.model_root = dirs->model_root, .corpus_root = dirs->corpus_root,
                      .data_dir = dirs->data_dir};
}

int hs_data_db_path(const char *data_dir, char *out, size_t outlen, char *err, size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/surgeon.db", data_dir);
}

int hs_data_default_model_root(const char *data_dir, char *out, size_t outlen, char *err,
                               size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/models", data_dir);
}

int hs_data_default_corpus_root(const char *data_dir, char *out, size_t outlen, char *err,
                                size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/corpora", data_dir);
}

int hs_data_space_reserve_path(const char *data_dir, char *out, size_t outlen, char *err,
                               size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/.space-reserve", data_dir);
}

int hs_data_uploads_dir(const char *data_dir, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/corpora", data_dir);
}

int hs_data_job_log_path(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/logs/%lld.log", data_dir,
                       (long long)job_id);
}

int hs_data_make_logs_dir(const char *data_dir, char *err, size_t errlen)
{
    char path[4096];
    if (format_path(path, sizeof path, err, errlen, "%s/logs", data_dir) != 0)
        return -1;
    return make_dir(path, err, errlen);
}

int hs_data_make_run_dir(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    if (format_path(out, outlen, err, errlen, "%s/runs", data_dir) != 0 ||
        make_dir(out, err, errlen) != 0 ||
        format_path(out, outlen, err, errlen, "%s/runs/%lld", data_dir, (long long)job_id) != 0)
        return -1;
    return make_dir(out, err, errlen);
}

int hs_data_make_inline_run_dir(const char *data_dir, char *out, size_t outlen, char *err,
                                size_t errlen)
{
    if (format_path(out, outlen, err, errlen, "%s/runs", data_dir) != 0 ||
        make_dir(out, err, errlen) != 0 ||
        format_path(out, outlen, err, errlen, "%s/runs/inline-%lld-%ld", data_dir,
                    (long long)hs_now_ms(), (long)getpid()) != 0)
        return -1;
    return make_dir(out, err, errlen);
}

int hs_run_checkpoints_dir(const char *run_dir, char *out, size_t outlen, char *err,
                           size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/checkpoints", run_dir);
}

int hs_data_run_checkpoints_dir(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                                char *err, size_t errlen)
{
    return format_path(out, outlen, err, errlen, "%s/runs/%lld/checkpoints", data_dir,
                       (long long)job_id);
}

const char *hs_path_below(const char *root, const char *path)
{
    if (!root || !path)
        return NULL;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strncmp(path, root, n) != 0)
        return NULL;
    if (path[n] == '\0')
        return path + n;
    if (path[n] != '/')
        return n == 1 && root[0] == '/' ? path + 1 : NULL;
    return path + n + 1;
}

/* A character that may continue a path component: a root followed or preceded by one is part
 * of a longer path, not the root. */
static bool continues_path(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/' || c == '~' || c == '+';
}

/* Length of the root at text[at] (0 when there is none), the longest of roots first. */
static size_t root_at(const char *const *roots, const size_t *lens, int n, const char *text,
                      size_t at)
{
    if (at > 0 && continues_path(text[at - 1]))
        return 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 2 || strncmp(text + at, roots[i], lens[i]) != 0)
            continue;
        char next = text[at + lens[i]];
        if (next == '/' || !continues_path(next))
            return lens[i];
    }
    return 0;
}

char *hs_roots_relative_text(const hs_roots *roots, const char *text)
{
    const char *list[3] = {roots->data_dir, roots->model_root, roots->corpus_root};
    size_t lens[3];
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (list[i] && list[i][0] == '/')
            list[n++] = list[i];
    for (int i = 0; i < n; i++) /* longest first: a root inside another one wins */
        for (int j = i + 1; j < n; j++)
            if (strlen(list[j]) > strlen(list[i])) {
                const char *t = list[i];
                list[i] = list[j];
                list[j] = t;
            }
    for (int i = 0; i < n; i++) {
        lens[i] = strlen(list[i]);
        while (lens[i] > 1 && list[i][lens[i] - 1] == '/')
            lens[i]--;
    }
    size_t len = strlen(text);
    char *out = malloc(len + 2); /* never longer: a root of >= 2 characters becomes "." at most */
    if (!out)
        return NULL;
    size_t w = 0;
    for (size_t r = 0; r < len;) {
        size_t root = text[r] == '/' ? root_at(list, lens, n, text, r) : 0;
        if (!root) {
            out[w++] = text[r++];
            continue;
        }
        r += root;
        if (text[r] == '/')
            r++;
        else
            out[w++] = '.';
    }
    out[w] = '\0';
    return out;
}

int hs_roots_relative_json(const hs_roots *roots, cJSON *item)
{
    if (!item)
        return 0;
    if (cJSON_IsString(item) && item->valuestring && strchr(item->valuestring, '/')) {
        char *shown = hs_roots_relative_text(roots, item->valuestring);
        if (!shown)
            return -1;
        bool ok = strcmp(shown, item->valuestring) == 0 || cJSON_SetValuestring(item, shown);
        free(shown);
        if (!ok)
            return -1;
    }
    for (cJSON *child = item->child; child; child = child->next)
        if (hs_roots_relative_json(roots, child) != 0)
            return -1;
    return 0;
}
