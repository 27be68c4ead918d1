/* Adoption of legacy run directories and the start-up sweep of orphan run files
 * (run_files.h). */
#include "run_files.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "daemon_state.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What the database says of run_id: -1 error, 0 no job or deleted (its files are orphans),
 * 1 finished (only rowless checkpoints are orphans), 2 queued or running (left alone). */
static int run_status(hs_db *db, int64_t run_id, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT CASE WHEN run_deleted_at IS NOT NULL THEN 0"
        " WHEN state IN ('queued','running') THEN 2 ELSE 1 END FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int64_t v = 0;
    int rc = hs_db_step_int64(db, st, &v, "reading a run's state", err, errlen);
    return rc < 0 ? -1 : rc == 0 ? 0 : (int)v;
}

/* 1 when run_id has a checkpoint row named name, 0 when not, -1 with err. */
static int has_checkpoint_row(hs_db *db, int64_t run_id, const char *name, char *err,
                              size_t errlen)
{
    static const char sql[] = "SELECT 1 FROM checkpoints WHERE run_id=?1 AND name=?2";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return hs_db_step_int64(db, st, NULL, "reading checkpoint rows", err, errlen);
}

static void remove_logged(const char *path, int *swept)
{
    if (hs_remove_tree(path) == 0) {
        (*swept)++;
        fprintf(stderr, "surgeond: removed %s (no stored row points at it)\n", path);
    } else if (errno != ENOENT) {
        fprintf(stderr, "surgeond: cannot remove %s: %s\n", path, strerror(errno));
    }
}

/* The checkpoint directories of a finished run that have no row. */
static int sweep_checkpoints(hs_db *db, int64_t run_id, const char *run_dir, int *swept,
                             char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 260];
    if (hs_run_checkpoints_dir(run_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int has = has_checkpoint_row(db, run_id, e->d_name, err, errlen);
        if (has < 0)
            rc = -1;
        else if (has == 0 && snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            remove_logged(path, swept);
    }
    closedir(d);
    return rc;
}

/* One entry of runs/: adopted when legacy and adopting, swept when an orphan of this instance. */
static int visit_run_dir(hs_store *store, hs_db *db, const hs_roots *roots, const char *runs,
                         const char *name, bool adopt, int *swept, char *err, size_t errlen);

int hs_run_files_startup(hs_store *store, const hs_roots *roots, int *swept, char *err,
                         size_t errlen)
{
    int count = 0;
    bool adopt = false;
    char runs[PATH_MAX];
    if (!roots->instance)
        return hs_errf(err, errlen, "run files: the database has no instance id");
    if (hs_state_legacy_runs_pending(store, &adopt, err, errlen) != 0 ||
        hs_data_runs_dir(roots->data_dir, runs, sizeof runs, err, errlen) != 0)
        return -1;
    hs_db *db = hs_store_reader(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    DIR *d = opendir(runs);
    if (d) {
        struct dirent *e;
        while (rc == 0 && (e = readdir(d)))
            rc = visit_run_dir(store, db, roots, runs, e->d_name, adopt, &count, err, errlen);
        closedir(d);
    }
    if (rc == 0 && adopt)
        rc = hs_state_legacy_runs_done(store, err, errlen);
    if (swept)
        *swept = count;
    return rc;
}

/* Renames a legacy runs/<id>/ to runs/<id>-<instance>/ and rewrites its checkpoint paths. */
static int adopt_legacy(hs_store *store, const hs_roots *roots, int64_t run_id, char *err,
                        size_t errlen)
{
    static const char sql[] =
        "UPDATE checkpoints SET path = ?3 || substr(path, length(?2) + 1)"
        " WHERE run_id=?1 AND substr(path, 1, length(?2)) = ?2";
    char from[PATH_MAX], to[PATH_MAX];
    if (hs_data_legacy_run_dir(roots->data_dir, run_id, from, sizeof from, err, errlen) != 0 ||
        hs_data_run_dir(roots->data_dir, roots->instance, run_id, to, sizeof to, err,
                        errlen) != 0)
        return -1;
    if (rename(from, to) != 0)
        return hs_errf(err, errlen, "adopting %s: %s", from, strerror(errno));
    hs_db *w;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &w, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
    int rc = hs_db_step_done(w, st, "updating adopted checkpoint paths", err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

static int visit_run_dir(hs_store *store, hs_db *db, const hs_roots *roots, const char *runs,
                         const char *name, bool adopt, int *swept, char *err, size_t errlen)
{
    int64_t run_id = 0;
    char inst[64], path[PATH_MAX + 260];
    int kind = hs_data_run_dir_parse(name, &run_id, inst, sizeof inst);
    if (kind == 0)
        return 0;
    int status = run_status(db, run_id, err, errlen);
    if (status < 0)
        return -1;
    if (kind == 2) /* legacy: ours only while the database still asks to adopt */
        return adopt && status > 0 ? adopt_legacy(store, roots, run_id, err, errlen) : 0;
    if (strcmp(inst, roots->instance) != 0)
        return 0; /* another database's files: never used, never touched */
    if (snprintf(path, sizeof path, "%s/%s", runs, name) >= (int)sizeof path)
        return 0;
    if (status == 0)
        remove_logged(path, swept);
    else if (status == 1)
        return sweep_checkpoints(db, run_id, path, swept, err, errlen);
    return 0;
}
