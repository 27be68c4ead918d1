/* Resolution of spec names inside their roots (paths.h): no absolute names, no `..`, and the
 * real path (symlinks followed) must stay under the real root; for a model, also every file of
 * the directory that the loader or a surgery opens. */
#include "paths.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "common/sha256_file.h"
#include "model_alias.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Whether real (a resolved path) is real_root or below it. */
static bool is_inside(const char *real_root, const char *real)
{
    size_t rl = strlen(real_root);
    return rl == 1 /* root is "/" */ ||
           (strncmp(real, real_root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0'));
}

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
        return hs_errf(err, errlen, "\"%s\" not found", name);
    if (!is_inside(real_root, real))
        return hs_errf(err, errlen, "\"%s\" leads outside its root (symlink)", name);
    if (strlen(real) + 1 > pathlen)
        return hs_errf(err, errlen, "\"%s\": resolved path too long", name);
    memcpy(path, real, strlen(real) + 1);
    return 0;
}

/* The files of a model directory that get opened: by the loader (config, tokenizer, weights
 * or the shard index and its shards) and by a surgery (the tokenizer files it copies into
 * each checkpoint). */
static const char *const model_files[] = {"config.json",           "tokenizer.json",
                                          "tokenizer_config.json", "special_tokens_map.json",
                                          "model.safetensors",     "model.safetensors.index.json"};

/* When dir/file exists, its real path must be under real_root. 0, or -1 with err naming the
 * file (relative to the model directory). */
static int check_model_file(const char *real_root, const char *dir, const char *file, char *err,
                            size_t errlen)
{
    char path[PATH_MAX * 2], real[PATH_MAX];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return hs_errf(err, errlen, "%.200s: path too long", file);
    if (lstat(path, &sb) != 0)
        return 0; /* absent: the loader says what is missing */
    if (!realpath(path, real))
        return hs_errf(err, errlen, "%s: %s", file, strerror(errno));
    if (!is_inside(real_root, real))
        return hs_errf(err, errlen, "%s leads outside the model root (symlink)", file);
    return 0;
}

/* Every shard the index (already checked) names. */
static int check_model_shards(const char *real_root, const char *dir, char *err, size_t errlen)
{
    char index[PATH_MAX * 2];
    struct stat sb;
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    if (stat(index, &sb) != 0)
        return 0;
    size_t len;
    char why[HS_ERR_LEN];
    char *text = hs_read_file(index, "model.safetensors.index.json", 64u << 20, &len, why,
                              sizeof why);
    if (!text)
        return 0; /* unreadable: the loader reports it */
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *shard;
    int rc = 0;
    cJSON_ArrayForEach(shard, cJSON_GetObjectItemCaseSensitive(root, "weight_map"))
    {
        if (!cJSON_IsString(shard) || strchr(shard->valuestring, '/'))
            continue; /* the loader refuses these names itself */
        if ((rc = check_model_file(real_root, dir, shard->valuestring, err, errlen)) != 0)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

/* The model directory dir (resolved under root): every file that will be opened stays under
 * the root. */
static int check_model_dir(const char *root, const char *dir, char *err, size_t errlen)
{
    char real_root[PATH_MAX];
    if (!realpath(root, real_root))
        return hs_errf(err, errlen, "root %s: %s", root, strerror(errno));
    for (size_t i = 0; i < sizeof model_files / sizeof model_files[0]; i++)
        if (check_model_file(real_root, dir, model_files[i], err, errlen) != 0)
            return -1;
    return check_model_shards(real_root, dir, err, errlen);
}

/* An alias (model_alias.h) as its concrete name into out, through env->store. 0, or -1. */
static int resolve_alias(const hs_roots *env, const char *name, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    if (!env->store)
        return hs_errf(err, errlen, "model \"%s\": aliases need the daemon's database", name);
    hs_db *db = hs_store_reader(env->store, err, errlen);
    return db && hs_model_alias_resolve(db, name, out, outlen, err, errlen) >= 0 ? 0 : -1;
}

int hs_resolve_model(const hs_roots *env, const char *name, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    char inner[HS_ERR_LEN], concrete[320];
    if (hs_model_is_alias(name)) {
        if (resolve_alias(env, name, concrete, sizeof concrete, err, errlen) != 0)
            return -1;
        name = concrete;
    }
    if (name && strncmp(name, "run:", 4) == 0) {
        char *end = NULL;
        long long id = strtoll(name + 4, &end, 10);
        if (end == name + 4 || id <= 0 || *end != '/' || !end[1])
            return hs_errf(err, errlen, "model \"%s\": expected run:<id>/<checkpoint>", name);
        if (!env->data_dir)
            return hs_errf(err, errlen, "model \"%s\": no data directory configured", name);
        char root[PATH_MAX];
        if (!env->instance)
            return hs_errf(err, errlen, "model \"%s\": no stored runs (no database)", name);
        if (hs_data_run_checkpoints_dir(env->data_dir, env->instance, id, root, sizeof root, err,
                                        errlen) != 0)
            return -1;
        if (strchr(end + 1, '/'))
            return hs_errf(err, errlen, "model \"%s\": checkpoint names contain no '/'", name);
        if (hs_resolve_under(root, end + 1, path, pathlen, err, errlen) != 0)
            return hs_errf(err, errlen,
                           "model \"%s\": run %lld has no checkpoint \"%s\" on disk (no such "
                           "checkpoint, or its files are missing)", name, id, end + 1);
        if (check_model_dir(root, path, inner, sizeof inner) != 0)
            return hs_errf(err, errlen, "model \"%s\": %s", name, inner);
        return 0;
    }
    if (hs_resolve_under(env->model_root, name, path, pathlen, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "model %s", inner);
    if (check_model_dir(env->model_root, path, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "model \"%s\": %s", name, inner);
    return 0;
}

/* "upload:<name>@<sha256>": the kept content of that digest. */
static int resolve_blob(const hs_roots *env, const char *name, const char *sha, char *path,
                        size_t pathlen, char *err, size_t errlen)
{
    char root[PATH_MAX], inner[HS_ERR_LEN];
    if (!hs_sha256_hex_valid(sha))
        return hs_errf(err, errlen, "corpus \"%s\": expected upload:<name>@<64 hex digits>",
                       name);
    if (hs_data_corpus_blobs_dir(env->data_dir, root, sizeof root, err, errlen) != 0)
        return -1;
    if (hs_resolve_under(root, sha, path, pathlen, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "corpus \"%s\": no upload has that content", name);
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
        const char *at = strchr(name + 7, '@');
        if (at) /* a content version: upload:<name>@<sha256> */
            return resolve_blob(env, name, at + 1, path, pathlen, err, errlen);
        if (hs_resolve_under(root, name + 7, path, pathlen, inner, sizeof inner) != 0)
            return hs_errf(err, errlen, "corpus %s", inner);
        return 0;
    }
    if (hs_resolve_under(env->corpus_root, name, path, pathlen, inner, sizeof inner) != 0)
        return hs_errf(err, errlen, "corpus %s", inner);
    return 0;
}
