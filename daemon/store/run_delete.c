/* Deleting runs, checkpoints and uploaded corpora with their holder checks (run_delete.h). */
#include "run_delete.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "common/sha256_file.h"
#include "uploads.h"
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What may refer to a run, a checkpoint or a corpus in a spec. NULL members match nothing. */
typedef struct holder_query {
    const char *model_exact;  /* "run:<id>/<name>" */
    const char *model_like;   /* "run:<id>/%" */
    int64_t from_run;         /* 0: none */
    const char *corpus_exact; /* "upload:<name>" */
} holder_query;

#define REFERS(col)                                                                       \
    "json_valid(" col ") AND (json_extract(" col ",'$.model') = ?1"                         \
    " OR json_extract(" col ",'$.model') LIKE ?2 OR json_extract(" col ",'$.targets.from_run') = ?3" \
    " OR ?4 IN (json_extract(" col ",'$.corpus'), json_extract(" col ",'$.text_file'),"     \
    " json_extract(" col ",'$.eval_file')))"

static void bind_query(sqlite3_stmt *st, const holder_query *q)
{
    hs_bind_text_or_null(st, 1, q->model_exact);
    hs_bind_text_or_null(st, 2, q->model_like);
    if (q->from_run > 0)
        sqlite3_bind_int64(st, 3, q->from_run);
    hs_bind_text_or_null(st, 4, q->corpus_exact);
}

/* 1 with why naming the first queued/running job or enabled schedule that refers to what q
 * describes, 0 when none, -1 with err. */
static int find_holder(hs_db *db, const holder_query *q, char *why, size_t whylen, char *err,
                       size_t errlen)
{
    static const char jobs_sql[] =
        "SELECT id, state FROM jobs WHERE state IN ('queued','running') AND " REFERS("spec")
        " ORDER BY id LIMIT 1";
    static const char sched_sql[] =
        "SELECT id, name FROM schedules WHERE enabled=1 AND " REFERS("job") " ORDER BY id LIMIT 1";
    sqlite3_stmt *st = hs_db_stmt(db, jobs_sql, err, errlen);
    if (!st)
        return -1;
    bind_query(st, q);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(why, whylen, "%s job %lld refers to it", hs_col_text(st, 1),
                 (long long)sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return hs_db_errf(db, "looking for jobs that refer to it", err, errlen);
    if (!(st = hs_db_stmt(db, sched_sql, err, errlen)))
        return -1;
    bind_query(st, q);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(why, whylen, "enabled schedule %lld (%s) refers to it",
                 (long long)sqlite3_column_int64(st, 0), hs_col_text(st, 1));
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "looking for schedules that refer to it", err,
                                              errlen);
}

/* The state of run_id's job into state (statelen bytes): 1 when it is a run that can be
 * deleted or changed (exists, has started or finished, not deleted), 0 with why when it is
 * not a run (*outcome NOT_FOUND) or is queued/running (*outcome HELD), -1 with err. */
static int check_run(hs_db *db, int64_t run_id, hs_delete_outcome *outcome, char *why,
                     size_t whylen, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT state, started_at IS NOT NULL, run_deleted_at IS NOT NULL FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    char state[32] = "";
    int started = 0, deleted = 0;
    if (rc == SQLITE_ROW) {
        snprintf(state, sizeof state, "%s", hs_col_text(st, 0));
        started = sqlite3_column_int(st, 1);
        deleted = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading the run", err, errlen);
    bool active = !strcmp(state, "queued") || !strcmp(state, "running");
    *outcome = active ? HS_DELETE_HELD : HS_DELETE_NOT_FOUND;
    if (rc == SQLITE_DONE || (!active && !started && strcmp(state, "succeeded") &&
                              strcmp(state, "failed")))
        snprintf(why, whylen, "no run %lld", (long long)run_id);
    else if (deleted)
        snprintf(why, whylen, "run %lld was deleted", (long long)run_id);
    else if (active)
        snprintf(why, whylen, "job %lld is %s", (long long)run_id, state);
    else
        return 1;
    return 0;
}

/* One statement with the run id as ?1 and an optional text ?2, stepped to completion. */
static int run_exec(hs_db *db, const char *sql, int64_t run_id, const char *text,
                    const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    hs_bind_text_or_null(st, 2, text);
    return hs_db_step_done(db, st, what, err, errlen);
}

/* An event row that keeps the job's state and says what was deleted. */
static int add_deleted_event(hs_db *db, int64_t run_id, const char *reason, char *err,
                             size_t errlen)
{
    static const char sql[] =
        "INSERT INTO job_events (job_id, at, from_state, to_state, reason)"
        " SELECT id, ?3, state, state, ?2 FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, hs_now_ms());
    return hs_db_step_done(db, st, "recording the deletion", err, errlen);
}

/* In test builds, HS_TEST_CRASH_AFTER_DELETE_COMMIT makes the daemon die right after a
 * deletion committed and before its files go: what a crash at that point leaves behind. */
static void crash_point(void)
{
#ifdef HS_TEST_BUILD
    if (getenv("HS_TEST_CRASH_AFTER_DELETE_COMMIT"))
        raise(SIGKILL);
#endif
}

/* Removes a directory tree after its rows are gone; a failure is left to the start-up sweep. */
static void remove_files(const char *path)
{
    crash_point();
    if (hs_remove_tree(path) != 0 && errno != ENOENT)
        fprintf(stderr, "surgeond: removing %s: %s (the next start-up sweeps it)\n", path,
                strerror(errno));
}

/* The rows of run_id inside the open write transaction. 0, or -1 with err. */
static int delete_run_rows(hs_db *db, int64_t run_id, char *err, size_t errlen)
{
    static const char heads[] = "DELETE FROM head_stats WHERE run_id=?1";
    static const char curves[] = "DELETE FROM curves WHERE run_id=?1";
    static const char ckpts[] = "DELETE FROM checkpoints WHERE run_id=?1";
    /* the summary's numbers come from the result; its name, notes and tags stay */
    static const char summary[] =
        "UPDATE run_summaries SET n_healthy=NULL, n_bos_sink=NULL, n_dead=NULL,"
        " n_low_entropy=NULL, ppl=NULL, baseline_ppl=NULL, best_checkpoint=NULL,"
        " heads_woken=NULL, improves_baseline=NULL WHERE run_id=?1";
    static const char job[] =
        "UPDATE jobs SET result=NULL, run_deleted_at=?3, updated_at=?3 WHERE id=?1 AND ?2 IS NULL";
    if (run_exec(db, heads, run_id, NULL, "deleting head statistics", err, errlen) != 0 ||
        run_exec(db, curves, run_id, NULL, "deleting curves", err, errlen) != 0 ||
        run_exec(db, ckpts, run_id, NULL, "deleting checkpoints", err, errlen) != 0 ||
        run_exec(db, summary, run_id, NULL, "clearing the run's summary", err, errlen) != 0)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, job, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 3, hs_now_ms());
    if (hs_db_step_done(db, st, "marking the run deleted", err, errlen) != 0)
        return -1;
    return add_deleted_event(db, run_id,
                             "run deleted: result, head statistics, curves and checkpoints "
                             "removed", err, errlen);
}

int hs_run_delete(hs_store *store, const hs_roots *roots, int64_t run_id,
                  hs_delete_outcome *outcome, char *why, size_t whylen, char *err,
                  size_t errlen)
{
    char like[48], dir[PATH_MAX];
    snprintf(like, sizeof like, "run:%lld/%%", (long long)run_id);
    holder_query q = {.model_like = like, .from_run = run_id};
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = check_run(db, run_id, outcome, why, whylen, err, errlen);
    if (rc == 1) {
        rc = find_holder(db, &q, why, whylen, err, errlen);
        *outcome = HS_DELETE_HELD;
        if (rc == 0) {
            *outcome = HS_DELETE_DONE;
            rc = delete_run_rows(db, run_id, err, errlen);
        }
    }
    if (hs_store_write_finish(store, rc < 0 ? -1 : 0, err, errlen) != 0)
        return -1;
    if (*outcome == HS_DELETE_DONE && roots->instance &&
        hs_data_run_dir(roots->data_dir, roots->instance, run_id, dir, sizeof dir, err,
                        errlen) == 0)
        remove_files(dir);
    return 0;
}

/* Deletes the checkpoint row (and its head statistics) inside the open transaction: 1 done,
 * 0 no such checkpoint, -1 with err. */
static int delete_checkpoint_rows(hs_db *db, int64_t run_id, const char *name, char *err,
                                  size_t errlen)
{
    static const char ckpt[] = "DELETE FROM checkpoints WHERE run_id=?1 AND name=?2";
    static const char heads[] = "DELETE FROM head_stats WHERE run_id=?1 AND checkpoint=?2";
    if (run_exec(db, ckpt, run_id, name, "deleting the checkpoint", err, errlen) != 0)
        return -1;
    if (sqlite3_changes(hs_db_handle(db)) == 0)
        return 0;
    if (run_exec(db, heads, run_id, name, "deleting its head statistics", err, errlen) != 0)
        return -1;
    return 1;
}

/* runs/<id>-<instance>/checkpoints/<name>, or -1 with err. */
static int checkpoint_dir(const hs_roots *roots, int64_t run_id, const char *name, char *out,
                          size_t outlen, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (hs_data_run_checkpoints_dir(roots->data_dir, roots->instance, run_id, dir, sizeof dir,
                                    err, errlen) != 0)
        return -1;
    if (snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen)
        return hs_errf(err, errlen, "checkpoint path too long");
    return 0;
}

int hs_checkpoint_delete(hs_store *store, const hs_roots *roots, int64_t run_id,
                         const char *name, hs_delete_outcome *outcome, char *why, size_t whylen,
                         char *err, size_t errlen)
{
    char model[256], reason[256], dir[PATH_MAX];
    *outcome = HS_DELETE_NOT_FOUND;
    if (!hs_checkpoint_name_valid(name)) {
        snprintf(why, whylen, "no checkpoint \"%.140s\" of run %lld", name, (long long)run_id);
        return 0;
    }
    snprintf(model, sizeof model, "run:%lld/%s", (long long)run_id, name);
    holder_query q = {.model_exact = model};
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = check_run(db, run_id, outcome, why, whylen, err, errlen);
    int held = rc == 1 ? find_holder(db, &q, why, whylen, err, errlen) : -1;
    if (rc == 1 && held != 0) {
        rc = held;
        *outcome = HS_DELETE_HELD;
    } else if (rc == 1) {
        rc = delete_checkpoint_rows(db, run_id, name, err, errlen);
        *outcome = rc == 1 ? HS_DELETE_DONE : HS_DELETE_NOT_FOUND;
        if (rc == 0)
            snprintf(why, whylen, "no checkpoint \"%s\" of run %lld", name, (long long)run_id);
        snprintf(reason, sizeof reason, "checkpoint %s deleted", name);
        if (rc == 1)
            rc = add_deleted_event(db, run_id, reason, err, errlen);
    }
    if (hs_store_write_finish(store, rc < 0 ? -1 : 0, err, errlen) != 0)
        return -1;
    if (*outcome == HS_DELETE_DONE &&
        checkpoint_dir(roots, run_id, name, dir, sizeof dir, err, errlen) == 0)
        remove_files(dir);
    return 0;
}

int hs_checkpoint_drop(hs_store *store, const hs_roots *roots, int64_t run_id, const char *name,
                       char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (!hs_checkpoint_name_valid(name))
        return hs_errf(err, errlen, "invalid checkpoint name \"%.140s\"", name);
    if (checkpoint_dir(roots, run_id, name, dir, sizeof dir, err, errlen) != 0)
        return -1;
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = delete_checkpoint_rows(db, run_id, name, err, errlen);
    if (hs_store_write_finish(store, rc < 0 ? -1 : 0, err, errlen) != 0)
        return -1;
    remove_files(dir);
    return 0;
}

/* After an upload's name went: its content too, unless a job started on it (its
 * corpus_resolved names the digest) or another name still links it. */
static void drop_unused_blob(hs_db *db, const hs_roots *roots, const char *sha)
{
    static const char sql[] =
        "SELECT 1 FROM jobs WHERE corpus_resolved IS NOT NULL AND substr(corpus_resolved, -64) = ?1"
        " LIMIT 1";
    char dir[PATH_MAX], blob[PATH_MAX + 80], err[HS_ERR_LEN];
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, sizeof err);
    if (!st)
        return;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    struct stat sb;
    if (hs_db_step_int64(db, st, NULL, "looking for jobs on the content", err, sizeof err) != 0 ||
        hs_data_corpus_blobs_dir(roots->data_dir, dir, sizeof dir, err, sizeof err) != 0)
        return;
    snprintf(blob, sizeof blob, "%s/%s", dir, sha);
    if (stat(blob, &sb) == 0 && sb.st_nlink == 1)
        unlink(blob);
}

int hs_corpus_delete(hs_store *store, const hs_roots *roots, const char *name,
                     hs_delete_outcome *outcome, char *why, size_t whylen, char *err,
                     size_t errlen)
{
    char full[200], dir[PATH_MAX], path[PATH_MAX + 160];
    *outcome = HS_DELETE_NOT_FOUND;
    snprintf(why, whylen, "no uploaded corpus \"%.140s\"", name);
    if (!hs_upload_name_valid(name))
        return 0;
    if (hs_data_uploads_dir(roots->data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    snprintf(full, sizeof full, "upload:%s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    holder_query q = {.corpus_exact = full};
    /* The writer is held while the file goes, so no submit commits in between. */
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = access(path, F_OK) == 0 ? find_holder(db, &q, why, whylen, err, errlen) : 2;
    if (rc == 1)
        *outcome = HS_DELETE_HELD;
    char sha[HS_SHA256_HEX] = "";
    if (rc == 0 && hs_sha256_file(path, sha, err, errlen) != 0)
        sha[0] = '\0'; /* unreadable: its content, if kept, stays */
    if (rc == 0) {
        crash_point();
        if (unlink(path) == 0 || errno == ENOENT) {
            if (sha[0])
                drop_unused_blob(db, roots, sha);
            *outcome = HS_DELETE_DONE;
            char ignored[HS_ERR_LEN];
            (void)hs_fsync_parent_dir(path, ignored, sizeof ignored);
        } else {
            rc = hs_errf(err, errlen, "removing corpus %s: %s", name, strerror(errno));
        }
    }
    if (hs_store_write_finish(store, rc < 0 ? -1 : 0, err, errlen) != 0)
        return -1;
    return rc < 0 ? -1 : 0;
}
