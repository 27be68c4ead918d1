/* Uploaded corpora on disk (uploads.h). */
#include "uploads.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "data_dir.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTED 1024

bool hs_upload_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HS_UPLOAD_NAME_MAX || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* One upload at a time: the compare with the stored content and the write are one step. */
static pthread_mutex_t upload_lock = PTHREAD_MUTEX_INITIALIZER;

/* The temporary name of path while it is written: ".<name>.tmp.<thread id>" beside it, the
 * pattern the start-up sweep (hs_uploads_sweep_temp) removes. */
static void temp_name(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 0;
    snprintf(out, outlen, "%.*s/.%s.tmp.%ld", dir_len, path, slash ? slash + 1 : path,
             (long)gettid());
}

/* data into a fresh file at final (temporary file beside it, fsync, rename, directory fsync). */
static int write_atomic(const char *final, const void *data, size_t len, char *err,
                        size_t errlen)
{
    char tmp[PATH_MAX + 64];
    temp_name(final, tmp, sizeof tmp);
    if (hs_write_file_synced(tmp, data, len, err, errlen) != 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        hs_errf(err, errlen, "renaming %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    char ignored[HS_ERR_LEN];
    (void)hs_fsync_parent_dir(final, ignored, sizeof ignored);
    return 0;
}

/* corpus-blobs/<sha256> of data_dir into out, the directory created. 0, or -1 with err. */
static int blob_path(const char *data_dir, const char *sha256, char *out, size_t outlen,
                     char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (hs_data_corpus_blobs_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if (snprintf(out, outlen, "%s/%s", dir, sha256) >= (int)outlen)
        return hs_errf(err, errlen, "blob path too long");
    return 0;
}

/* Makes `link_path` name the same file as blob (a hard link put in place atomically); a copy
 * of data when the filesystem has no hard links. */
static int link_atomic(const char *blob, const char *link_path, const void *data, size_t len,
                       char *err, size_t errlen)
{
    char tmp[PATH_MAX + 64];
    temp_name(link_path, tmp, sizeof tmp);
    unlink(tmp);
    if (link(blob, tmp) != 0)
        return write_atomic(link_path, data, len, err, errlen);
    if (rename(tmp, link_path) != 0) {
        hs_errf(err, errlen, "renaming %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    char ignored[HS_ERR_LEN];
    (void)hs_fsync_parent_dir(link_path, ignored, sizeof ignored);
    return 0;
}

/* The upload's path (its directory created) into out. */
static int upload_path(const char *data_dir, const char *name, char *out, size_t outlen,
                       char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (!hs_upload_name_valid(name))
        return hs_errf(err, errlen, "invalid upload name \"%.140s\"", name);
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if (snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen)
        return hs_errf(err, errlen, "upload path too long");
    return 0;
}

/* Under upload_lock: compare, then blob and name. */
static int store_locked(const char *data_dir, const char *name, const void *data, size_t len,
                        bool replace, hs_upload_status *status, char *sha256, char *err,
                        size_t errlen)
{
    char final[PATH_MAX], blob[PATH_MAX], old[HS_SHA256_HEX];
    if (upload_path(data_dir, name, final, sizeof final, err, errlen) != 0 ||
        hs_sha256_buf(data, len, sha256, err, errlen) != 0)
        return -1;
    *status = HS_UPLOAD_CREATED;
    struct stat sb;
    if (stat(final, &sb) == 0 && S_ISREG(sb.st_mode)) { /* anything else: the rename says why */
        if (hs_sha256_file(final, old, err, errlen) != 0)
            return -1;
        *status = !strcmp(old, sha256) ? HS_UPLOAD_SAME
                  : replace            ? HS_UPLOAD_REPLACED
                                       : HS_UPLOAD_CONFLICT;
        if (*status == HS_UPLOAD_CONFLICT) {
            memcpy(sha256, old, HS_SHA256_HEX);
            return 0;
        }
    }
    if (blob_path(data_dir, sha256, blob, sizeof blob, err, errlen) != 0)
        return -1;
    bool new_blob = access(blob, F_OK) != 0;
    if (new_blob && write_atomic(blob, data, len, err, errlen) != 0)
        return -1;
    int rc = link_atomic(blob, final, data, len, err, errlen);
    if (rc != 0 && new_blob)
        unlink(blob); /* nothing names it */
    return rc;
}

int hs_upload_store(const char *data_dir, const char *name, const void *data, size_t len,
                    bool replace, hs_upload_status *status, char sha256[HS_SHA256_HEX],
                    char *err, size_t errlen)
{
    pthread_mutex_lock(&upload_lock);
    int rc = store_locked(data_dir, name, data, len, replace, status, sha256, err, errlen);
    pthread_mutex_unlock(&upload_lock);
    return rc;
}

int hs_upload_pin(const char *data_dir, const char *name, char sha256[HS_SHA256_HEX], char *err,
                  size_t errlen)
{
    char final[PATH_MAX], blob[PATH_MAX];
    if (upload_path(data_dir, name, final, sizeof final, err, errlen) != 0)
        return -1;
    pthread_mutex_lock(&upload_lock);
    int rc = hs_sha256_file(final, sha256, err, errlen);
    if (rc == 0)
        rc = blob_path(data_dir, sha256, blob, sizeof blob, err, errlen);
    if (rc == 0 && access(blob, F_OK) != 0 && link(final, blob) != 0 && errno != EEXIST)
        rc = hs_errf(err, errlen, "keeping upload %s by content: %s", name, strerror(errno));
    pthread_mutex_unlock(&upload_lock);
    return rc;
}

/* The resolved corpus of a job recorded by an earlier attempt into out: 1, 0 none, -1. */
static int recorded_corpus(hs_db *db, int64_t job_id, char *out, size_t outlen, char *err,
                           size_t errlen)
{
    static const char sql[] = "SELECT corpus_resolved FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    bool have = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (have)
        snprintf(out, outlen, "%s", hs_col_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading corpus_resolved", err, errlen);
    return have ? 1 : 0;
}

int hs_job_resolve_corpus(hs_store *store, const char *data_dir, int64_t job_id,
                          const char *corpus, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    static const char set[] = "UPDATE jobs SET corpus_resolved=?2 WHERE id=?1";
    snprintf(out, outlen, "%s", corpus);
    if (strncmp(corpus, "upload:", 7) != 0 || strchr(corpus, '@'))
        return 0;
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = recorded_corpus(db, job_id, out, outlen, err, errlen);
    char sha[HS_SHA256_HEX];
    if (rc == 0 && hs_upload_pin(data_dir, corpus + 7, sha, err, errlen) != 0)
        rc = -1;
    if (rc == 0 && snprintf(out, outlen, "%s@%s", corpus, sha) >= (int)outlen)
        rc = hs_errf(err, errlen, "corpus name too long");
    sqlite3_stmt *st = rc == 0 ? hs_db_stmt(db, set, err, errlen) : NULL;
    if (rc == 0 && !st)
        rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, job_id);
        sqlite3_bind_text(st, 2, out, -1, SQLITE_STATIC);
        rc = hs_db_step_done(db, st, "recording corpus_resolved", err, errlen);
    }
    return hs_store_write_finish(store, rc < 0 ? -1 : 0, err, errlen) < 0 ? -1 : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)a, "name")),
                  cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)b, "name")));
}

/* {name: "upload:<file>", bytes} of a regular file in dir, or NULL (not one, out of memory). */
static cJSON *upload_json(const char *dir, const char *file)
{
    char path[4096 + 320], full[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    snprintf(full, sizeof full, "upload:%s", file);
    cJSON_AddStringToObject(o, "name", full);
    cJSON_AddNumberToObject(o, "bytes", (double)sb.st_size);
    return o;
}

int hs_uploads_list_json(const char *data_dir, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    char dir[4096];
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    cJSON **items = calloc(MAX_LISTED, sizeof *items);
    if (!items)
        return hs_errf(err, errlen, "out of memory listing uploads");
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_LISTED) {
            if (e->d_name[0] == '.')
                continue;
            cJSON *o = upload_json(dir, e->d_name);
            if (o)
                items[n++] = o;
        }
        closedir(d);
    }
    qsort(items, n, sizeof items[0], by_name);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            cJSON_AddItemToArray(arr, items[i]);
        else
            cJSON_Delete(items[i]);
    }
    free(items);
    if (!arr)
        return hs_errf(err, errlen, "out of memory listing uploads");
    *out = arr;
    return 0;
}

/* ".NAME.tmp.<digits>": the temporary file of an upload of NAME (hs_upload_store). */
static bool is_temp_name(const char *entry)
{
    if (entry[0] != '.')
        return false;
    const char *mark = strstr(entry + 1, ".tmp.");
    if (!mark || mark == entry + 1 || !mark[5])
        return false;
    for (const char *p = mark + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int hs_uploads_sweep_temp(const char *data_dir, int *removed, char *err, size_t errlen)
{
    *removed = 0;
    char dir[4096];
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : hs_errf(err, errlen, "cannot read %s: %s", dir,
                                             strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_temp_name(e->d_name))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            (*removed)++;
        else if (errno != ENOENT && rc == 0)
            rc = hs_errf(err, errlen, "cannot remove %s/%s: %s", dir, e->d_name,
                         strerror(errno));
    }
    closedir(d);
    return rc;
}
