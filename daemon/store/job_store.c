/* The jobs table: submit, claim, guarded transitions with events, cancel, progress,
 * reconciliation and job JSON (job_store.h). */
#include "job_store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "run_summaries.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int add_event(hs_db *db, int64_t id, const char *from, const char *to, const char *reason,
                     int64_t at, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (?1,?2,?3,?4,?5)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    hs_bind_text_or_null(st, 3, from);
    sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, reason ? reason : "", -1, SQLITE_TRANSIENT);
    return hs_db_step_done(db, st, "recording job event", err, errlen);
}

int hs_job_insert(hs_db *db, const hs_job_submit_req *req, const char *reason, int64_t *id,
                  char *err, size_t errlen)
{
    if (req->client_id) {
        static const char find[] = "SELECT id FROM jobs WHERE client_id = ?1";
        sqlite3_stmt *st = hs_db_stmt(db, find, err, errlen);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, req->client_id, -1, SQLITE_STATIC);
        int found = hs_db_step_int64(db, st, id, "looking up client_id", err, errlen);
        if (found != 0)
            return found < 0 ? -1 : 0;
    }
    static const char ins[] =
        "INSERT INTO jobs (kind, spec, priority, client_id, max_attempts, created_at, updated_at,"
        " schedule_id, scheduled_for) VALUES (?1,?2,?3,?4,?5,?6,?6,?7,?8)";
    sqlite3_stmt *st = hs_db_stmt(db, ins, err, errlen);
    if (!st)
        return -1;
    int64_t now = hs_now_ms();
    sqlite3_bind_text(st, 1, req->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->spec_json, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, req->priority);
    hs_bind_text_or_null(st, 4, req->client_id);
    sqlite3_bind_int(st, 5, req->max_attempts);
    sqlite3_bind_int64(st, 6, now);
    if (req->schedule_id > 0) {
        sqlite3_bind_int64(st, 7, req->schedule_id);
        sqlite3_bind_int64(st, 8, req->scheduled_for);
    }
    if (hs_db_step_done(db, st, "inserting job", err, errlen) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(hs_db_handle(db));
    int summary = hs_run_summary_insert(db, *id, req->spec_json, req->schedule_id > 0, err,
                                        errlen);
    if (summary != 0)
        return summary == HS_RUN_NAME_TAKEN ? HS_RUN_NAME_TAKEN : -1;
    if (add_event(db, *id, NULL, "queued", reason ? reason : "submitted", now, err, errlen) != 0)
        return -1;
    return 1;
}

typedef struct submit_call {
    const hs_job_submit_req *req;
    int64_t id;
} submit_call;

static int submit_in_group(hs_db *db, void *arg, char *err, size_t errlen)
{
    submit_call *c = arg;
    return hs_job_insert(db, c->req, "submitted", &c->id, err, errlen);
}

int hs_job_submit(hs_store *store, const hs_job_submit_req *req, int64_t *id, char *err,
                  size_t errlen)
{
    /* Group commit: concurrent submits share one transaction; each is committed before
     * this returns. */
    submit_call call = {.req = req};
    int rc = hs_store_write_grouped(store, submit_in_group, &call, err, errlen);
    if (rc >= 0)
        *id = call.id;
    return rc;
}

typedef struct queued_submit {
    const hs_job_submit_req *req;
    hs_job_submitted_fn done;
    void *arg;
    int64_t id;
    cJSON *job;
} queued_submit;

/* On the committer thread, inside the group's transaction: the insert, and the job's JSON
 * read back on the writer (no read transaction of its own). */
static int submit_and_read_in_group(hs_db *db, void *arg, char *err, size_t errlen)
{
    queued_submit *q = arg;
    int rc = hs_job_insert(db, q->req, "submitted", &q->id, err, errlen);
    if (rc < 0)
        return rc; /* -1, or HS_RUN_NAME_TAKEN for the API to answer 409 */
    if (hs_job_get_json(db, q->id, &q->job, err, errlen) != 0)
        return -1;
    if (!q->job)
        return hs_errf(err, errlen, "job %lld vanished inside its own transaction",
                       (long long)q->id);
    return rc;
}

static void submit_committed(void *arg, int rc, const char *err)
{
    queued_submit *q = arg;
    if (rc < 0) {
        cJSON_Delete(q->job); /* read inside a savepoint that was rolled back */
        q->job = NULL;
    }
    q->done(q->arg, rc, q->id, q->job, err);
    free(q);
}

int hs_job_submit_queued(hs_store *store, const hs_job_submit_req *req, hs_job_submitted_fn done,
                         void *arg, char *err, size_t errlen)
{
    queued_submit *q = calloc(1, sizeof *q);
    if (!q)
        return hs_errf(err, errlen, "out of memory queueing a submit");
    *q = (queued_submit){.req = req, .done = done, .arg = arg};
    if (hs_store_write_queued(store, submit_and_read_in_group, submit_committed, q, err,
                              errlen) != 0) {
        free(q);
        return -1;
    }
    return 0;
}

int hs_job_claim(hs_store *store, const char *device, hs_claimed_job *out, char *err,
                 size_t errlen)
{
    static const char sql[] =
        "UPDATE jobs SET state='running', attempt=attempt+1, started_at=?1, updated_at=?1,"
        " finished_at=NULL, device=?2, progress_step=0, progress_total=0, progress_message='',"
        " error=NULL"
        " WHERE id = (SELECT id FROM jobs WHERE state='queued' AND id NOT IN"
        " (SELECT job_id FROM cluster_jobs WHERE active=1) ORDER BY priority DESC, id LIMIT 1)"
        " AND state='queued' RETURNING id, kind, spec, attempt, max_attempts";
    memset(out, 0, sizeof *out);
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int result = -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (st) {
        int64_t now = hs_now_ms();
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->id = sqlite3_column_int64(st, 0);
            snprintf(out->kind, sizeof out->kind, "%s", hs_col_text(st, 1));
            out->spec_json = strdup(hs_col_text(st, 2));
            out->attempt = sqlite3_column_int(st, 3);
            out->max_attempts = sqlite3_column_int(st, 4);
            rc = sqlite3_step(st); /* finish the RETURNING statement */
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            hs_db_errf(db, "claiming a job", err, errlen);
        else if (out->id == 0)
            result = 0;
        else if (!out->spec_json)
            hs_errf(err, errlen, "out of memory claiming job %lld", (long long)out->id);
        else {
            char reason[96];
            snprintf(reason, sizeof reason, "claimed by worker %s (attempt %d)", device,
                     out->attempt);
            result = add_event(db, out->id, "queued", "running", reason, now, err, errlen) == 0
                         ? 1 : -1;
        }
    }
    if (hs_store_write_end(store, result >= 0, err, errlen) != 0)
        result = -1;
    if (result != 1)
        hs_claimed_job_free(out);
    return result;
}

void hs_claimed_job_free(hs_claimed_job *job)
{
    free(job->spec_json);
    memset(job, 0, sizeof *job);
}

int hs_job_transition(hs_db *db, int64_t id, hs_job_state from, hs_job_state to,
                      const char *reason, const char *result_json, const char *error, char *err,
                      size_t errlen)
{
    if (!hs_job_transition_allowed(from, to) || to == HS_JOB_RUNNING)
        return 0; /* running is entered only through hs_job_claim */
    static const char final_sql[] =
        "UPDATE jobs SET state=?3, finished_at=?4, updated_at=?4, result=COALESCE(?5, result),"
        " error=?6 WHERE id=?1 AND state=?2";
    static const char requeue_sql[] =
        "UPDATE jobs SET state='queued', updated_at=?4, started_at=NULL, finished_at=NULL,"
        " error=?6, progress_step=0, progress_total=0, progress_message=''"
        " WHERE id=?1 AND state=?2 AND ?3='queued' AND ?5 IS NULL";
    sqlite3_stmt *st = hs_db_stmt(db, to == HS_JOB_QUEUED ? requeue_sql : final_sql, err, errlen);
    if (!st)
        return -1;
    int64_t now = hs_now_ms();
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, hs_job_state_name(from), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hs_job_state_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    hs_bind_text_or_null(st, 5, result_json);
    hs_bind_text_or_null(st, 6, error);
    if (hs_db_step_done(db, st, "changing job state", err, errlen) != 0)
        return -1;
    if (sqlite3_changes(hs_db_handle(db)) != 1)
        return 0;
    if (add_event(db, id, hs_job_state_name(from), hs_job_state_name(to), reason, now, err,
                  errlen) != 0)
        return -1;
    if (to == HS_JOB_SUCCEEDED && hs_run_summary_complete(db, id, err, errlen) != 0)
        return -1;
    return 1;
}

int hs_job_transition_commit(hs_store *store, int64_t id, hs_job_state from, hs_job_state to,
                             const char *reason, const char *result_json, const char *error,
                             char *err, size_t errlen)
{
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_job_transition(db, id, from, to, reason, result_json, error, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_job_requeue_unfinished(hs_store *store, int64_t id, const char *reason, char *err,
                              size_t errlen)
{
    static const char sql[] = "UPDATE jobs SET attempt=MAX(attempt-1, 0) WHERE id=?1";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_job_transition(db, id, HS_JOB_RUNNING, HS_JOB_QUEUED, reason, NULL, NULL, err,
                               errlen);
    if (rc == 1) {
        sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, id);
            if (hs_db_step_done(db, st, "restoring the attempt count", err, errlen) != 0)
                rc = -1;
        }
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

static int job_state_of(hs_db *db, int64_t id, int *state, char *err, size_t errlen)
{
    static const char sql[] = "SELECT state FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    *state = rc == SQLITE_ROW ? hs_job_state_parse(hs_col_text(st, 0)) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading job state", err, errlen);
    return 0;
}

int hs_job_cancel(hs_store *store, int64_t id, hs_cancel_outcome *outcome, char *err,
                  size_t errlen)
{
    static const char request_sql[] =
        "UPDATE jobs SET cancel_requested=1, updated_at=?2 WHERE id=?1 AND state='running'";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_job_transition(db, id, HS_JOB_QUEUED, HS_JOB_CANCELLED, "cancelled by request",
                               NULL, "cancelled by request", err, errlen);
    if (rc == 1)
        *outcome = HS_CANCEL_DONE;
    else if (rc == 0) {
        sqlite3_stmt *st = hs_db_stmt(db, request_sql, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, hs_now_ms());
            if (hs_db_step_done(db, st, "requesting cancel", err, errlen) != 0)
                rc = -1;
            else if (sqlite3_changes(hs_db_handle(db)) == 1)
                *outcome = HS_CANCEL_REQUESTED;
            else {
                int state;
                if (job_state_of(db, id, &state, err, errlen) != 0)
                    rc = -1;
                else
                    *outcome = state < 0 ? HS_CANCEL_NOT_FOUND : HS_CANCEL_FINAL;
            }
        }
    }
    return hs_store_write_finish(store, rc, err, errlen) < 0 ? -1 : 0;
}

int hs_job_cancel_requested(hs_db *db, int64_t id, bool *requested, char *err, size_t errlen)
{
    static const char sql[] = "SELECT cancel_requested FROM jobs WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int64_t flag;
    int found = hs_db_step_int64(db, st, &flag, "reading cancel flag", err, errlen);
    *requested = found == 1 && flag != 0;
    return found < 0 ? -1 : 0;
}

int hs_job_set_progress(hs_store *store, int64_t id, int64_t step, int64_t total,
                        const char *message, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE jobs SET progress_step=?2, progress_total=?3, progress_message=?4, updated_at=?5"
        " WHERE id=?1 AND state='running'";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int64(st, 3, total);
    sqlite3_bind_text(st, 4, message ? message : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, hs_now_ms());
    int rc = hs_db_step_done(db, st, "storing progress", err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_job_store_result(hs_store *store, int64_t id, const char *result_json, char *err,
                        size_t errlen)
{
    static const char sql[] =
        "UPDATE jobs SET result=?2, updated_at=?3 WHERE id=?1 AND state='running'";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, result_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, hs_now_ms());
    int rc = hs_db_step_done(db, st, "storing result", err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_job_reconcile(hs_store *store, int *requeued, int *failed, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT id, attempt, max_attempts, cancel_requested FROM jobs WHERE state='running'"
        " AND id NOT IN (SELECT job_id FROM cluster_jobs WHERE active=1)" /* Slurm's own */
        " ORDER BY id";
    int n_requeued = 0, n_failed = 0, rc = 0;
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        rc = -1;
    /* Collect first: transitions use other statements on the same connection. */
    int64_t *ids = NULL;
    int *kinds = NULL, n = 0, cap = 0;
    while (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = hs_db_errf(db, "listing running jobs", err, errlen);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *ni = realloc(ids, cap * sizeof *ids);
            int *nk = ni ? realloc(kinds, cap * sizeof *kinds) : NULL;
            if (ni)
                ids = ni;
            if (!nk) {
                rc = hs_errf(err, errlen, "out of memory reconciling jobs");
                break;
            }
            kinds = nk;
        }
        ids[n] = sqlite3_column_int64(st, 0);
        int attempt = sqlite3_column_int(st, 1), max_attempts = sqlite3_column_int(st, 2);
        kinds[n] = sqlite3_column_int(st, 3) ? 2 : attempt < max_attempts ? 0 : 1;
        n++;
    }
    if (st)
        sqlite3_reset(st);
    for (int i = 0; rc == 0 && i < n; i++) {
        int t;
        if (kinds[i] == 0) {
            t = hs_job_transition(db, ids[i], HS_JOB_RUNNING, HS_JOB_QUEUED,
                                  "requeued after daemon restart", NULL, NULL, err, errlen);
            n_requeued += t == 1;
        } else if (kinds[i] == 1) {
            t = hs_job_transition(db, ids[i], HS_JOB_RUNNING, HS_JOB_FAILED,
                                  "daemon restarted (no attempts left)", NULL, "daemon restarted",
                                  err, errlen);
            n_failed += t == 1;
        } else {
            t = hs_job_transition(db, ids[i], HS_JOB_RUNNING, HS_JOB_CANCELLED,
                                  "cancel requested before daemon restart", NULL,
                                  "cancelled by request", err, errlen);
        }
        if (t < 0)
            rc = -1;
    }
    free(ids);
    free(kinds);
    if (hs_store_write_end(store, rc == 0, err, errlen) != 0)
        return -1;
    if (requeued)
        *requeued = n_requeued;
    if (failed)
        *failed = n_failed;
    return rc;
}

int hs_job_counts(hs_db *db, int64_t counts[HS_JOB_STATE_COUNT], char *err, size_t errlen)
{
    static const char sql[] = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
    for (int i = 0; i < HS_JOB_STATE_COUNT; i++)
        counts[i] = 0;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int s = hs_job_state_parse(hs_col_text(st, 0));
        if (s >= 0)
            counts[s] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "counting jobs", err, errlen);
}

/* ---- JSON ------------------------------------------------------------------------------ */

#define JOB_COLUMNS                                                                         \
    "id, kind, state, priority, client_id, spec, attempt, max_attempts, created_at,"        \
    " started_at, finished_at, updated_at, progress_step, progress_total, progress_message," \
    " result, error, schedule_id, cancel_requested, device, scheduled_for, run_deleted_at,"   \
    " model_resolved, corpus_resolved"

static void add_time(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    char buf[HS_TIME_LEN];
    cJSON_AddStringToObject(o, name, hs_format_time(sqlite3_column_int64(st, col), buf));
}

static void add_json_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    cJSON *v = NULL;
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        v = cJSON_Parse(hs_col_text(st, col));
    if (!v)
        v = cJSON_CreateNull();
    if (v && !cJSON_AddItemToObject(o, name, v))
        cJSON_Delete(v); /* not added (out of memory): still ours */
}

static void add_text_or_null(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddStringToObject(o, name, hs_col_text(st, col));
}

static cJSON *job_row_json(sqlite3_stmt *st, void *unused)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "kind", hs_col_text(st, 1));
    cJSON_AddStringToObject(o, "state", hs_col_text(st, 2));
    cJSON_AddNumberToObject(o, "priority", sqlite3_column_int(st, 3));
    add_text_or_null(o, "client_id", st, 4);
    add_json_text(o, "spec", st, 5);
    cJSON_AddNumberToObject(o, "attempt", sqlite3_column_int(st, 6));
    cJSON_AddNumberToObject(o, "max_attempts", sqlite3_column_int(st, 7));
    add_time(o, "created_at", st, 8);
    add_time(o, "started_at", st, 9);
    add_time(o, "finished_at", st, 10);
    add_time(o, "updated_at", st, 11);
    cJSON *progress = cJSON_AddObjectToObject(o, "progress");
    if (progress) {
        cJSON_AddNumberToObject(progress, "step", (double)sqlite3_column_int64(st, 12));
        cJSON_AddNumberToObject(progress, "total", (double)sqlite3_column_int64(st, 13));
        cJSON_AddStringToObject(progress, "message", hs_col_text(st, 14));
    }
    add_json_text(o, "result", st, 15);
    add_text_or_null(o, "error", st, 16);
    if (sqlite3_column_type(st, 17) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "schedule_id");
    else
        cJSON_AddNumberToObject(o, "schedule_id", (double)sqlite3_column_int64(st, 17));
    cJSON_AddBoolToObject(o, "cancel_requested", sqlite3_column_int(st, 18) != 0);
    add_text_or_null(o, "device", st, 19);
    add_time(o, "scheduled_for", st, 20);
    add_time(o, "run_deleted_at", st, 21); /* null unless the run's outcome was deleted */
    add_text_or_null(o, "model_resolved", st, 22); /* the concrete model it started on */
    add_text_or_null(o, "corpus_resolved", st, 23); /* upload:<name>@<sha256> it started on */
    /* An allocation failing above leaves a member out: an error, never half a job. */
    if (cJSON_GetArraySize(o) != 22 || !progress || cJSON_GetArraySize(progress) != 3) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int hs_job_get_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id=?1";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = job_row_json(st, NULL);
        sqlite3_reset(st);
        return *out ? 0 : hs_errf(err, errlen, "out of memory formatting job %lld", (long long)id);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading job", err, errlen);
}

/* job_row_json, remembering the row's id in *last_id (for the next page). */
static cJSON *listed_job_json(sqlite3_stmt *st, void *last_id)
{
    *(int64_t *)last_id = sqlite3_column_int64(st, 0);
    return job_row_json(st, NULL);
}

int hs_job_list_json(hs_db *db, const hs_job_filter *f, cJSON **out, int64_t *next_before,
                     char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT " JOB_COLUMNS " FROM jobs WHERE (?1 IS NULL OR state=?1) AND"
        " (?2 IS NULL OR kind=?2) AND (?3 IS NULL OR id < ?3) AND"
        " (?4 IS NULL OR updated_at >= ?4) AND (?5 = 0 OR (run_deleted_at IS NULL AND"
        "  (started_at IS NOT NULL OR state IN ('succeeded','failed','cancelled'))))"
        " ORDER BY id DESC LIMIT ?6";
    *out = NULL;
    *next_before = 0;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    if (f->state >= 0)
        sqlite3_bind_text(st, 1, hs_job_state_name(f->state), -1, SQLITE_STATIC);
    if (f->kind)
        sqlite3_bind_text(st, 2, f->kind, -1, SQLITE_STATIC);
    if (f->before > 0)
        sqlite3_bind_int64(st, 3, f->before);
    if (f->since_ms >= 0)
        sqlite3_bind_int64(st, 4, f->since_ms);
    sqlite3_bind_int(st, 5, f->started_only ? 1 : 0);
    sqlite3_bind_int(st, 6, f->limit);
    int64_t last = 0;
    if (hs_db_rows_json(db, st, listed_job_json, &last, "listing jobs", out, err, errlen) != 0)
        return -1;
    int n = cJSON_GetArraySize(*out);
    if (n == f->limit && n > 0)
        *next_before = last;
    return 0;
}
