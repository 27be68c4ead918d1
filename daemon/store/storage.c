/* Disk usage of the data directory (storage.h): file walks with nftw, summing st_size of
 * regular files, and statvfs. */
#include "storage.h"
#include "common/errors.h"
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* nftw passes no argument to its callback: the walk's state is per thread. */
typedef struct walk_state {
    const char *base;   /* the walked directory */
    const char *skip;   /* a directory below base whose files are not counted; NULL: none */
    bool unlinked_only; /* count only files with one link (blobs no upload name shares) */
    bool split_checkpoints; /* base is runs/: files under <run>/checkpoints/ go to second */
    int64_t first, second;
} walk_state;
static _Thread_local walk_state *walk;

static bool below(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Whether path (under runs/) lies in a run's checkpoints directory: runs/<run>/checkpoints/. */
static bool in_checkpoints(const char *base, const char *path)
{
    const char *rel = path + strlen(base) + 1;
    const char *slash = strchr(rel, '/');
    return slash && strncmp(slash + 1, "checkpoints/", 12) == 0;
}

static int count_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(sb->st_mode))
        return 0;
    if (walk->skip && below(walk->skip, path))
        return 0;
    if (walk->unlinked_only && sb->st_nlink > 1)
        return 0;
    if (walk->split_checkpoints && in_checkpoints(walk->base, path))
        walk->second += sb->st_size;
    else
        walk->first += sb->st_size;
    return 0;
}

/* Sums the regular files under dir (0 when it does not exist). */
static void walk_dir(walk_state *st)
{
    walk = st;
    (void)nftw(st->base, count_file, 16, FTW_PHYS);
    walk = NULL;
}

static int64_t dir_bytes(const char *dir, const char *skip)
{
    walk_state st = {.base = dir, .skip = skip};
    walk_dir(&st);
    return st.first;
}

static int64_t file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0;
}

int hs_storage_usage_get(const hs_roots *roots, hs_storage_usage *out, char *err,
                         size_t errlen)
{
    char runs[PATH_MAX], uploads[PATH_MAX], db[PATH_MAX], logs[PATH_MAX + 8], side[PATH_MAX + 8];
    memset(out, 0, sizeof *out);
    if (hs_data_runs_dir(roots->data_dir, runs, sizeof runs, err, errlen) != 0 ||
        hs_data_uploads_dir(roots->data_dir, uploads, sizeof uploads, err, errlen) != 0 ||
        hs_data_db_path(roots->data_dir, db, sizeof db, err, errlen) != 0)
        return -1;
    walk_state st = {.base = runs, .split_checkpoints = true};
    walk_dir(&st);
    out->runs = st.first;
    out->checkpoints = st.second;
    out->uploads = dir_bytes(uploads, NULL);
    char blobs[PATH_MAX];
    if (hs_data_corpus_blobs_dir(roots->data_dir, blobs, sizeof blobs, err, errlen) != 0)
        return -1;
    walk_state kept = {.base = blobs, .unlinked_only = true}; /* contents only runs keep */
    walk_dir(&kept);
    out->uploads += kept.first;
    if (roots->corpus_root && strcmp(roots->corpus_root, uploads) != 0)
        out->corpora = dir_bytes(roots->corpus_root, uploads);
    snprintf(logs, sizeof logs, "%s/logs", roots->data_dir);
    out->logs = dir_bytes(logs, NULL);
    out->database = file_bytes(db);
    snprintf(side, sizeof side, "%s-wal", db);
    out->database += file_bytes(side);
    snprintf(side, sizeof side, "%s-shm", db);
    out->database += file_bytes(side);
    struct statvfs vfs;
    if (statvfs(roots->data_dir, &vfs) != 0)
        return hs_errf(err, errlen, "statvfs of the data directory: %s", strerror(errno));
    out->free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    return 0;
}

int64_t hs_run_bytes_on_disk(const hs_roots *roots, int64_t run_id)
{
    char dir[PATH_MAX], err[HS_ERR_LEN];
    if (!roots->instance ||
        hs_data_run_dir(roots->data_dir, roots->instance, run_id, dir, sizeof dir, err,
                        sizeof err) != 0)
        return 0;
    return dir_bytes(dir, NULL);
}
