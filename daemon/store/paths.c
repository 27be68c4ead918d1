/* Resolution of spec names inside their roots (paths.h): no absolute names, no `..`, and the
 * real path (symlinks followed) must stay under the real root. */
#include "paths.h"
#include "common/errors.h"
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_resolve_under(const char *root, const char *name, char *path, size_t pathlen, char *err,
                     size_t errlen)
{
    if (!root || !*root)
        return hs_errf(err, errlen, "no root directory is configured for \"%s\"", name ? name : "");
    if (!name || !*name)
        return hs_errf(err, errlen, "empty name");
    if (name[0] == '/')
        return hs_errf(err, errlen, "\"%s\": absolute paths are not allowed", name);
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return hs_errf(err, errlen, "\"%s\": '..' is not allowed", name);
        p += len;
        if (*p == '/')
            p++;
    }
    char real_root[PATH_MAX], joined[PATH_MAX * 2], real[PATH_MAX];
    if (!realpath(root, real_root))
        return hs_errf(err, errlen, "root %s: %s", root, strerror(errno));
    snprintf(joined, sizeof joined, "%s/%s", real_root, name);
    if (!realpath(joined, real))
        return hs_errf(err, errlen, "\"%s\" not found under %s", name, root);
    size_t rl = strlen(real_root);
    bool inside = rl == 1 /* root is "/" */ ||
                  (strncmp(real, real_root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0'));
    if (!inside)
        return hs_errf(err, errlen, "\"%s\" leads outside its root (symlink)", name);
    if (strlen(real) + 1 > pathlen)
        return hs_errf(err, errlen, "\"%s\": resolved path too long", name);
    memcpy(path, real, strlen(real) + 1);
    return 0;
}

int hs_resolve_model(const hs_roots *env, const char *name, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    if (name && strncmp(name, "run:", 4) == 0) {
        char *end = NULL;
        long long id = strtoll(name + 4, &end, 10);
        if (end == name + 4 || id <= 0 || *end != '/' || !end[1])
            return hs_errf(err, errlen, "model \"%s\": expected run:<id>/<checkpoint>", name);
        if (!env->data_dir)
            return hs_errf(err, errlen, "model \"%s\": no data directory configured", name);
        char root[PATH_MAX];
        if (hs_data_run_checkpoints_dir(env->data_dir, id, root, sizeof root, err, errlen) != 0)
            return -1;
        if (strchr(end + 1, '/'))
            return hs_errf(err, errlen, "model \"%s\": checkpoint names contain no '/'", name);
        if (hs_resolve_under(root, end + 1, path, pathlen, err, errlen) != 0)
            return hs_errf(err, errlen, "model \"%s\": no such checkpoint of run %lld", name, id);
        return 0;
    }
    char inner[HS_ERR_LEN];
    if (hs_resolve_under(env->model_root, name, path, pathlen, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "model %s", inner);
    return 0;
}

int hs_resolve_corpus(const hs_roots *env, const char *name, char *path, size_t pathlen,
                      char *err, size_t errlen)
{
    char inner[HS_ERR_LEN];
    if (name && strncmp(name, "upload:", 7) == 0) {
        if (!env->data_dir)
            return hs_errf(err, errlen, "corpus \"%s\": no data directory configured", name);
        char root[PATH_MAX];
        if (hs_data_uploads_dir(env->data_dir, root, sizeof root, err, errlen) != 0)
            return -1;
        if (strchr(name + 7, '/'))
            return hs_errf(err, errlen, "corpus \"%s\": upload names contain no '/'", name);
        if (hs_resolve_under(root, name + 7, path, pathlen, inner, sizeof inner) != 0)
            return hs_errf(err, errlen, "corpus %s", inner);
        return 0;
    }
    if (hs_resolve_under(env->corpus_root, name, path, pathlen, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "corpus %s", inner);
    return 0;
}
