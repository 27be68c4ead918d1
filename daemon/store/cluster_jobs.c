/* cluster_jobs rows: attempts submitted to Slurm, their observed states, their end with the
 * job's transition, report tokens and numbered report batches (cluster_jobs.h). */
#include "cluster_jobs.h"
#include "common/clock.h"
#include "common/errors.h"
#include "job_states.h"
#include "job_store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_event(hs_db *db, int64_t job_id, const char *from, const char *to,
                     const char *reason, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (?1,?2,?3,?4,?5)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, hs_now_ms());
    hs_bind_text_or_null(st, 3, from);
    sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
    return hs_db_step_done(db, st, "recording job event", err, errlen);
}

int hs_cluster_count_active(hs_db *db, int *n, char *err, size_t errlen)
{
    static const char sql[] = "SELECT COUNT(*) FROM cluster_jobs WHERE active=1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    int64_t v = 0;
    if (!st || hs_db_step_int64(db, st, &v, "counting cluster jobs", err, errlen) < 0)
        return -1;
    *n = (int)v;
    return 0;
}

int hs_cluster_candidates(hs_db *db, int limit, hs_cluster_candidate **out, int *n, char *err,
                          size_t errlen)
{
    static const char sql[] =
        "SELECT id, kind, spec, attempt, COALESCE((SELECT sweep_id FROM sweep_jobs WHERE"
        " job_id=jobs.id), 0) FROM jobs WHERE state='queued' AND id NOT IN"
        " (SELECT job_id FROM cluster_jobs WHERE active=1) ORDER BY priority DESC, id LIMIT ?1";
    *out = NULL;
    *n = 0;
    if (limit <= 0)
        return 0;
    hs_cluster_candidate *c = calloc((size_t)limit, sizeof *c);
    if (!c)
        return hs_errf(err, errlen, "out of memory listing queued jobs");
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st) {
        free(c);
        return -1;
    }
    sqlite3_bind_int(st, 1, limit);
    int rc, k = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < limit) {
        c[k].job_id = sqlite3_column_int64(st, 0);
        snprintf(c[k].kind, sizeof c[k].kind, "%s", hs_col_text(st, 1));
        c[k].spec_json = strdup(hs_col_text(st, 2));
        c[k].attempt = sqlite3_column_int(st, 3) + 1;
        c[k].sweep_id = sqlite3_column_int64(st, 4);
        if (!c[k++].spec_json) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        hs_cluster_candidates_free(c, k);
        return rc == SQLITE_NOMEM ? hs_errf(err, errlen, "out of memory listing queued jobs")
                                  : hs_db_errf(db, "listing queued jobs", err, errlen);
    }
    *out = c;
    *n = k;
    return 0;
}

void hs_cluster_candidates_free(hs_cluster_candidate *c, int n)
{
    for (int i = 0; c && i < n; i++)
        free(c[i].spec_json);
    free(c);
}

int hs_cluster_active(hs_db *db, hs_cluster_attempt **out, int *n, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT c.id, c.job_id, c.attempt, j.max_attempts, c.slurm_name, c.slurm_job_id,"
        " c.slurm_state, j.state, j.cancel_requested, c.result_reported, c.submitted_at,"
        " c.slurm_reason, c.node, t.task, COALESCE(t.raw_id, '')"
        " FROM cluster_jobs c JOIN jobs j ON j.id = c.job_id"
        " LEFT JOIN cluster_array_tasks t ON t.attempt_id = c.id WHERE c.active=1 ORDER BY c.id";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    hs_cluster_attempt *a = NULL;
    int k = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 16;
            hs_cluster_attempt *na = realloc(a, (size_t)cap * sizeof *a);
            if (!na) {
                rc = SQLITE_NOMEM;
                break;
            }
            a = na;
        }
        hs_cluster_attempt *x = &a[k++];
        memset(x, 0, sizeof *x);
        x->row_id = sqlite3_column_int64(st, 0);
        x->job_id = sqlite3_column_int64(st, 1);
        x->attempt = sqlite3_column_int(st, 2);
        x->max_attempts = sqlite3_column_int(st, 3);
        snprintf(x->slurm_name, sizeof x->slurm_name, "%s", hs_col_text(st, 4));
        snprintf(x->slurm_job_id, sizeof x->slurm_job_id, "%s", hs_col_text(st, 5));
        snprintf(x->slurm_state, sizeof x->slurm_state, "%s", hs_col_text(st, 6));
        snprintf(x->job_state, sizeof x->job_state, "%s", hs_col_text(st, 7));
        x->cancel_requested = sqlite3_column_int(st, 8) != 0;
        x->result_reported = sqlite3_column_int(st, 9) != 0;
        x->submitted_at = sqlite3_column_int64(st, 10);
        snprintf(x->slurm_reason, sizeof x->slurm_reason, "%s", hs_col_text(st, 11));
        snprintf(x->node, sizeof x->node, "%s", hs_col_text(st, 12));
        x->array_task = sqlite3_column_type(st, 13) == SQLITE_NULL ? -1
                                                                   : sqlite3_column_int(st, 13);
        snprintf(x->slurm_raw_id, sizeof x->slurm_raw_id, "%s", hs_col_text(st, 14));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(a);
        return rc == SQLITE_NOMEM ? hs_errf(err, errlen, "out of memory listing cluster jobs")
                                  : hs_db_errf(db, "listing cluster jobs", err, errlen);
    }
    *out = a;
    *n = k;
    return 0;
}

int hs_cluster_spec_of(hs_db *db, int64_t job_id, char **spec_json, char *err, size_t errlen)
{
    static const char sql[] = "SELECT spec FROM jobs WHERE id=?1";
    *spec_json = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *spec_json = strdup(hs_col_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? hs_errf(err, errlen, "no job %lld", (long long)job_id)
                                 : hs_db_errf(db, "reading a spec", err, errlen);
    return *spec_json ? 0 : hs_errf(err, errlen, "out of memory reading a spec");
}

int hs_cluster_attempt_create(hs_store *store, int64_t job_id, int attempt, const char *name,
                              int array_task, const char *token_hash, int64_t *row_id, char *err,
                              size_t errlen)
{
    static const char sql[] =
        "INSERT INTO cluster_jobs (job_id, attempt, slurm_name, token_hash, submitted_at)"
        " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM jobs WHERE id=?1 AND"
        " state='queued') AND NOT EXISTS (SELECT 1 FROM cluster_jobs WHERE job_id=?1 AND"
        " active=1)";
    static const char clear_task[] =
        "DELETE FROM cluster_array_tasks WHERE attempt_id IN (SELECT id FROM cluster_jobs WHERE"
        " job_id=?1 AND attempt=?2)";
    static const char clear[] = "DELETE FROM cluster_jobs WHERE job_id=?1 AND attempt=?2";
    static const char task_sql[] = "INSERT INTO cluster_array_tasks (attempt_id, task) VALUES (?1, ?2)";
    hs_db *db;
    /* An earlier attempt row with this number that never started (ended while pending) gives
     * way: attempt numbers count starts. */
    int rc = 0;
    sqlite3_stmt *st = NULL;
    if (!(db = hs_store_write_begin(store, err, errlen)))
        return -1;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (!(st = hs_db_stmt(db, i == 0 ? clear_task : clear, err, errlen))) {
            rc = -1;
            break;
        }
        sqlite3_bind_int64(st, 1, job_id);
        sqlite3_bind_int(st, 2, attempt);
        rc = hs_db_step_done(db, st, "clearing an old attempt", err, errlen);
    }
    if (rc == 0 && !(st = hs_db_stmt(db, sql, err, errlen)))
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, job_id);
        sqlite3_bind_int(st, 2, attempt);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, token_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, hs_now_ms());
        rc = hs_db_step_done(db, st, "recording a cluster attempt", err, errlen);
        if (rc == 0) {
            rc = sqlite3_changes(hs_db_handle(db)) == 1 ? 1 : 0;
            *row_id = sqlite3_last_insert_rowid(hs_db_handle(db));
        }
    }
    if (rc == 1 && array_task >= 0) {
        if (!(st = hs_db_stmt(db, task_sql, err, errlen)))
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, *row_id);
            sqlite3_bind_int(st, 2, array_task);
            rc = hs_db_step_done(db, st, "recording an array task", err, errlen) == 0 ? 1 : -1;
        }
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_cluster_attempt_submitted(hs_store *store, int64_t row_id, const char *slurm_job_id,
                                 char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE cluster_jobs SET slurm_job_id=?2, slurm_state='PENDING' WHERE id=?1";
    static const char untask[] =
        "DELETE FROM cluster_array_tasks WHERE attempt_id=?1 AND instr(?2, '_') = 0";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        sqlite3_stmt *st = hs_db_stmt(db, i == 0 ? sql : untask, err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        sqlite3_bind_int64(st, 1, row_id);
        sqlite3_bind_text(st, 2, slurm_job_id, -1, SQLITE_STATIC);
        rc = hs_db_step_done(db, st, "recording the Slurm job id", err, errlen);
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_cluster_array_submitted(hs_store *store, const char *name, const char *array_job_id,
                               const int *tasks, int n, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE cluster_jobs SET slurm_job_id=?2 || '_' || ?3, slurm_state='PENDING'"
        " WHERE slurm_name=?1 AND active=1 AND slurm_job_id IS NULL AND id IN"
        " (SELECT attempt_id FROM cluster_array_tasks WHERE task=?3)";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, array_job_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, tasks[i]);
        rc = hs_db_step_done(db, st, "recording the Slurm array id", err, errlen);
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

/* queued → running for the attempt's job, if it is still queued; 0 or -1. */
static int mark_running_db(hs_db *db, int64_t row_id, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE jobs SET state='running', attempt=c.attempt, started_at=?2, updated_at=?2,"
        " finished_at=NULL, device='slurm:' || COALESCE(c.slurm_job_id, '?') ||"
        " CASE WHEN c.node <> '' THEN '@' || c.node ELSE '' END, progress_step=0,"
        " progress_total=0, progress_message='', error=NULL"
        " FROM (SELECT job_id, attempt, slurm_job_id, node FROM cluster_jobs WHERE id=?1 AND"
        " active=1) AS c WHERE jobs.id=c.job_id AND jobs.state='queued'"
        " RETURNING jobs.id, jobs.attempt, jobs.device";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, row_id);
    sqlite3_bind_int64(st, 2, hs_now_ms());
    int rc = sqlite3_step(st);
    int64_t job_id = 0;
    char reason[160] = "";
    if (rc == SQLITE_ROW) {
        job_id = sqlite3_column_int64(st, 0);
        snprintf(reason, sizeof reason, "started by Slurm as %s (attempt %d)",
                 hs_col_text(st, 2), sqlite3_column_int(st, 1));
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return hs_db_errf(db, "starting a cluster job", err, errlen);
    return job_id ? add_event(db, job_id, "queued", "running", reason, err, errlen) : 0;
}

int hs_cluster_attempt_observe(hs_store *store, const hs_cluster_attempt *a, const char *state,
                               const char *reason, const char *node, const char *raw_id,
                               char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE cluster_jobs SET slurm_state=?2, slurm_reason=?3,"
        " node=CASE WHEN ?4 <> '' THEN ?4 ELSE node END WHERE id=?1 AND active=1";
    static const char raw_sql[] = "UPDATE cluster_array_tasks SET raw_id=?2 WHERE attempt_id=?1";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, a->row_id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, node ? node : "", -1, SQLITE_STATIC);
    int rc = hs_db_step_done(db, st, "recording the Slurm state", err, errlen);
    if (rc == 0 && raw_id && *raw_id) {
        if (!(st = hs_db_stmt(db, raw_sql, err, errlen)))
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, a->row_id);
            sqlite3_bind_text(st, 2, raw_id, -1, SQLITE_STATIC);
            rc = hs_db_step_done(db, st, "recording an array task's id", err, errlen);
        }
    }
    if (rc == 0 && strcmp(state, "PENDING") != 0)
        rc = mark_running_db(db, a->row_id, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

/* The job's transition when its attempt ends with Slurm's state (see hs_cluster_attempt_end). */
static int end_job_db(hs_db *db, const hs_cluster_attempt *a, int job_state, const char *why,
                      bool permanent, char *err, size_t errlen)
{
    static const char count_sql[] = "UPDATE jobs SET attempt=?2 WHERE id=?1 AND state='queued'";
    bool cancel = a->cancel_requested;
    if (job_state == HS_JOB_RUNNING) {
        if (cancel)
            return hs_job_transition(db, a->job_id, HS_JOB_RUNNING, HS_JOB_CANCELLED, why, NULL,
                                     "cancelled by request", err, errlen) < 0 ? -1 : 0;
        bool retry = !permanent && a->attempt < a->max_attempts;
        return hs_job_transition(db, a->job_id, HS_JOB_RUNNING,
                                 retry ? HS_JOB_QUEUED : HS_JOB_FAILED, why, NULL, why, err,
                                 errlen) < 0 ? -1 : 0;
    }
    if (job_state != HS_JOB_QUEUED)
        return 0;
    /* Ended before it ever started: a refused submission fails the job; one that vanished or
     * failed while pending uses up the attempt. */
    if (!permanent) {
        sqlite3_stmt *st = hs_db_stmt(db, count_sql, err, errlen);
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, a->job_id);
        sqlite3_bind_int(st, 2, a->attempt);
        if (hs_db_step_done(db, st, "counting an attempt", err, errlen) != 0)
            return -1;
        if (a->attempt < a->max_attempts)
            return add_event(db, a->job_id, "queued", "queued", why, err, errlen);
    }
    return hs_job_transition(db, a->job_id, HS_JOB_QUEUED, HS_JOB_FAILED, why, NULL, why, err,
                             errlen) < 0 ? -1 : 0;
}

int hs_cluster_attempt_end(hs_store *store, const hs_cluster_attempt *a, const char *state,
                           const char *reason, bool permanent, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE cluster_jobs SET active=0, slurm_state=?2, slurm_reason=?3, ended_at=?4"
        " WHERE id=?1 AND active=1 RETURNING result_reported, (SELECT state FROM jobs WHERE"
        " id=cluster_jobs.job_id), (SELECT cancel_requested FROM jobs WHERE"
        " id=cluster_jobs.job_id)";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, a->row_id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, hs_now_ms());
    int step = sqlite3_step(st), job_state = -1;
    bool reported = false, ended = false;
    hs_cluster_attempt now = *a; /* with the job's cancel request as it is now */
    if (step == SQLITE_ROW) {
        ended = true;
        reported = sqlite3_column_int(st, 0) != 0;
        job_state = hs_job_state_parse(hs_col_text(st, 1));
        now.cancel_requested = sqlite3_column_int(st, 2) != 0;
        step = sqlite3_step(st);
    }
    sqlite3_reset(st);
    int rc = step == SQLITE_DONE ? 0 : hs_db_errf(db, "ending a cluster attempt", err, errlen);
    if (rc == 0 && ended && !reported) {
        char why[512];
        snprintf(why, sizeof why, "Slurm job %s ended %s%s%s", a->slurm_job_id[0] ?
                 a->slurm_job_id : "(not submitted)", state, reason && *reason ? ": " : "",
                 reason ? reason : "");
        rc = end_job_db(db, &now, job_state, why, permanent, err, errlen);
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_cluster_token_lookup(hs_db *db, int64_t job_id, const char *token_hash, int64_t *row_id,
                            char *err, size_t errlen)
{
    static const char sql[] = "SELECT id, job_id FROM cluster_jobs WHERE token_hash=?1 AND active=1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        *row_id = sqlite3_column_int64(st, 0);
        found = sqlite3_column_int64(st, 1) == job_id ? 1 : 2;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? found : hs_db_errf(db, "checking a report token", err, errlen);
}

/* Reads last_seq and active of an attempt: 1 found, 0 not, -1 error. */
static int attempt_seq(hs_db *db, int64_t row_id, int64_t *last, bool *active, char *err,
                       size_t errlen)
{
    static const char sql[] = "SELECT last_seq, active FROM cluster_jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, row_id);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        *last = sqlite3_column_int64(st, 0);
        *active = sqlite3_column_int(st, 1) != 0;
        found = 1;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? found : hs_db_errf(db, "reading a report sequence", err, errlen);
}

static int note_node(hs_db *db, int64_t row_id, const char *node, char *err, size_t errlen)
{
    static const char sql[] = "UPDATE cluster_jobs SET node=?2 WHERE id=?1 AND node=''";
    if (!node || !*node)
        return 0;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, row_id);
    sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
    return hs_db_step_done(db, st, "recording the runner's node", err, errlen);
}

int hs_cluster_apply_batch(hs_store *store, int64_t row_id, int64_t seq, const char *node,
                           hs_cluster_apply_fn apply, void *arg, int *outcome, int64_t *last_seq,
                           char *err, size_t errlen)
{
    static const char bump[] = "UPDATE cluster_jobs SET last_seq=?2 WHERE id=?1";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int64_t last = 0;
    bool active = false;
    int rc = attempt_seq(db, row_id, &last, &active, err, errlen);
    *outcome = 3;
    if (rc == 1) {
        rc = 0;
        *outcome = !active ? 3 : seq <= last ? 0 : seq == last + 1 ? 1 : 2;
    } else if (rc == 0) {
        rc = hs_errf(err, errlen, "cluster attempt %lld is gone", (long long)row_id);
    }
    if (rc == 0 && *outcome == 1) {
        rc = note_node(db, row_id, node, err, errlen);
        if (rc == 0)
            rc = mark_running_db(db, row_id, err, errlen);
        if (rc == 0)
            rc = apply(db, arg, err, errlen);
        sqlite3_stmt *st = rc == 0 ? hs_db_stmt(db, bump, err, errlen) : NULL;
        if (rc == 0 && !st)
            rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, row_id);
            sqlite3_bind_int64(st, 2, seq);
            rc = hs_db_step_done(db, st, "advancing the report sequence", err, errlen);
            last = seq;
        }
    }
    *last_seq = last;
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_cluster_job_of(hs_db *db, int64_t row_id, int64_t *job_id, int *attempt, char *err,
                      size_t errlen)
{
    static const char sql[] = "SELECT job_id, attempt FROM cluster_jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, row_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *job_id = sqlite3_column_int64(st, 0);
        *attempt = sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? hs_errf(err, errlen, "no cluster attempt %lld", (long long)row_id)
                             : hs_db_errf(db, "reading a cluster attempt", err, errlen);
}

int hs_cluster_set_progress_db(hs_db *db, int64_t job_id, int64_t step, int64_t total,
                               const char *message, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE jobs SET progress_step=?2, progress_total=?3, progress_message=?4, updated_at=?5"
        " WHERE id=?1 AND state='running'";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int64(st, 3, total);
    sqlite3_bind_text(st, 4, message ? message : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, hs_now_ms());
    return hs_db_step_done(db, st, "storing progress", err, errlen);
}

int hs_cluster_report_outcome_db(hs_db *db, int64_t row_id, const char *result_json,
                                 const char *error, char *err, size_t errlen)
{
    static const char sql[] = "UPDATE cluster_jobs SET result_reported=1 WHERE id=?1";
    int64_t job_id;
    int attempt;
    if (hs_cluster_job_of(db, row_id, &job_id, &attempt, err, errlen) != 0)
        return -1;
    char why[600];
    if (result_json)
        snprintf(why, sizeof why, "result reported from Slurm (attempt %d)", attempt);
    else
        snprintf(why, sizeof why, "%s", error ? error : "runner failed without a reason");
    int t = hs_job_transition(db, job_id, HS_JOB_RUNNING,
                              result_json ? HS_JOB_SUCCEEDED : HS_JOB_FAILED,
                              result_json ? why : "runner failed", result_json,
                              result_json ? NULL : why, err, errlen);
    if (t < 0)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, row_id);
    return hs_db_step_done(db, st, "recording a reported outcome", err, errlen);
}

int hs_cluster_stop_requested(hs_db *db, int64_t job_id, bool *stop, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT cancel_requested OR state NOT IN ('queued', 'running') FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    int64_t v = 0;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    if (hs_db_step_int64(db, st, &v, "reading a cancel request", err, errlen) < 0)
        return -1;
    *stop = v != 0;
    return 0;
}

int hs_cluster_job_json(hs_db *db, int64_t job_id, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT c.slurm_job_id, c.slurm_state, c.slurm_reason, c.node, c.attempt, c.active,"
        " t.task FROM cluster_jobs c LEFT JOIN cluster_array_tasks t ON t.attempt_id = c.id"
        " WHERE c.job_id=?1 ORDER BY c.id DESC LIMIT 1";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && (*out = cJSON_CreateObject())) {
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            cJSON_AddNullToObject(*out, "job_id");
        else
            cJSON_AddStringToObject(*out, "job_id", hs_col_text(st, 0));
        cJSON *array = sqlite3_column_type(st, 6) == SQLITE_NULL ? cJSON_CreateNull()
                                                                  : cJSON_CreateObject();
        if (cJSON_IsObject(array)) {
            const char *id = hs_col_text(st, 0); /* "<array>_<task>", or "" before sbatch */
            const char *us = strchr(id, '_');
            char array_id[32];
            snprintf(array_id, sizeof array_id, "%.*s", us ? (int)(us - id) : 0, id);
            if (us)
                cJSON_AddStringToObject(array, "job_id", array_id);
            else
                cJSON_AddNullToObject(array, "job_id");
            cJSON_AddNumberToObject(array, "task", sqlite3_column_int(st, 6));
        }
        cJSON_AddItemToObject(*out, "array", array);
        cJSON_AddStringToObject(*out, "state", hs_col_text(st, 1));
        cJSON_AddStringToObject(*out, "reason", hs_col_text(st, 2));
        cJSON_AddStringToObject(*out, "node", hs_col_text(st, 3));
        cJSON_AddNumberToObject(*out, "attempt", sqlite3_column_int(st, 4));
        cJSON_AddBoolToObject(*out, "active", sqlite3_column_int(st, 5) != 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading the Slurm job", err, errlen);
}
