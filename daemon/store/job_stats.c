/* Monitoring reads of jobs and job_events (job_stats.h). */
#include "job_stats.h"
#include "common/clock.h"
#include "common/errors.h"

/* A job_events row (at, from_state, to_state, reason) as JSON. */
static cJSON *event_row_json(sqlite3_stmt *st, void *unused)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return NULL;
    char buf[HS_TIME_LEN];
    cJSON_AddStringToObject(e, "at", hs_format_time(sqlite3_column_int64(st, 0), buf));
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        cJSON_AddNullToObject(e, "from");
    else
        cJSON_AddStringToObject(e, "from", hs_col_text(st, 1));
    cJSON_AddStringToObject(e, "to", hs_col_text(st, 2));
    cJSON_AddStringToObject(e, "reason", hs_col_text(st, 3));
    return e;
}

int hs_job_events_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT at, from_state, to_state, reason FROM job_events WHERE job_id=?1 ORDER BY id";
    static const char exists_sql[] = "SELECT 1 FROM jobs WHERE id=?1";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, exists_sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int found = hs_db_step_int64(db, st, NULL, "reading a job", err, errlen);
    if (found <= 0)
        return found;
    st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return hs_db_rows_json(db, st, event_row_json, NULL, "reading job events", out, err, errlen);
}

int hs_job_finished_counts(hs_db *db, hs_finished_count_fn fn, void *arg, char *err,
                           size_t errlen)
{
    static const char sql[] =
        "SELECT kind, state, COUNT(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')"
        " GROUP BY kind, state ORDER BY kind, state";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(hs_col_text(st, 0), hs_col_text(st, 1), sqlite3_column_int64(st, 2), arg);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "counting finished jobs", err, errlen);
}

int hs_job_durations(hs_db *db, hs_job_duration_fn fn, void *arg, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT kind, (finished_at - started_at) / 1000.0 FROM jobs WHERE finished_at IS NOT NULL"
        " AND started_at IS NOT NULL ORDER BY kind";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(hs_col_text(st, 0), sqlite3_column_double(st, 1), arg);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading job durations", err, errlen);
}
