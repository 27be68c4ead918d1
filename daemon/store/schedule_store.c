/* Schedules: CRUD and firing (schedule_store.h). Validation and timing are the caller's
 * (hs_schedule_rules). */
#include "schedule_store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "job_store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int schedule_exists(hs_db *db, int64_t id, bool *exists, char *err, size_t errlen)
{
    static const char sql[] = "SELECT 1 FROM schedules WHERE id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int found = hs_db_step_int64(db, st, NULL, "reading schedule", err, errlen);
    *exists = found == 1;
    return found < 0 ? -1 : 0;
}

static int name_taken(hs_db *db, const char *name, int64_t except_id, bool *taken, char *err,
                      size_t errlen)
{
    static const char sql[] = "SELECT 1 FROM schedules WHERE name=?1 AND id<>?2";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, except_id);
    int found = hs_db_step_int64(db, st, NULL, "checking schedule name", err, errlen);
    *taken = found == 1;
    return found < 0 ? -1 : 0;
}

/* Ends a create or patch: commits when rc == 0 and, when the schedule was written, reads it
 * back as JSON into *out. */
static int finish_schedule_write(hs_store *store, int rc, const hs_schedule_status *status,
                                 int64_t id, cJSON **out, char *err, size_t errlen)
{
    if (hs_store_write_finish(store, rc, err, errlen) != 0)
        return -1;
    if (*status != HS_SCHEDULE_OK)
        return 0;
    hs_db *reader = hs_store_reader(store, err, errlen);
    return reader ? hs_schedule_get_json(reader, id, false, out, err, errlen) : -1;
}

int hs_schedule_create(hs_store *store, const hs_schedule_fields *f,
                       const hs_schedule_rules *rules, cJSON **out, hs_schedule_status *status,
                       char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO schedules (name, cron, job, enabled, timezone, next_fire_at, created_at,"
        " updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?7)";
    *out = NULL;
    if (!f->name || !f->cron || !f->job_json)
        return hs_errf(err, errlen, "a new schedule needs a name, a cron and a job");
    const char *timezone = f->timezone ? f->timezone : "UTC";
    int64_t now = hs_now_ms();
    int64_t next = rules->next_fire(f->cron, timezone, now);
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    int64_t id = 0;
    bool taken = false;
    if (name_taken(db, f->name, 0, &taken, err, errlen) != 0)
        rc = -1;
    else if (taken)
        *status = HS_SCHEDULE_CONFLICT;
    else {
        sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, f->cron, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, f->job_json, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 4, f->enabled != 0);
            sqlite3_bind_text(st, 5, timezone, -1, SQLITE_STATIC);
            if (next >= 0)
                sqlite3_bind_int64(st, 6, next);
            sqlite3_bind_int64(st, 7, now);
            rc = hs_db_step_done(db, st, "inserting schedule", err, errlen);
            id = sqlite3_last_insert_rowid(hs_db_handle(db));
            *status = HS_SCHEDULE_OK;
        }
    }
    return finish_schedule_write(store, rc, status, id, out, err, errlen);
}

int hs_schedule_patch(hs_store *store, int64_t id, const hs_schedule_fields *f,
                      const hs_schedule_rules *rules, cJSON **out, hs_schedule_status *status,
                      char *err, size_t errlen)
{
    static const char read_sql[] = "SELECT cron, timezone FROM schedules WHERE id=?1";
    static const char sql[] =
        "UPDATE schedules SET name=COALESCE(?2, name), cron=COALESCE(?3, cron),"
        " job=COALESCE(?4, job), enabled=COALESCE(?5, enabled), timezone=COALESCE(?6, timezone),"
        " next_fire_at=?7, updated_at=?8 WHERE id=?1";
    *out = NULL;
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    *status = HS_SCHEDULE_OK;
    sqlite3_stmt *st = hs_db_stmt(db, read_sql, err, errlen);
    char cron_text[256] = "", tz_text[64] = "";
    if (!st)
        rc = -1;
    else {
        sqlite3_bind_int64(st, 1, id);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            snprintf(cron_text, sizeof cron_text, "%s", f->cron ? f->cron : hs_col_text(st, 0));
            snprintf(tz_text, sizeof tz_text, "%s", f->timezone ? f->timezone : hs_col_text(st, 1));
        } else if (step == SQLITE_DONE)
            *status = HS_SCHEDULE_NOT_FOUND;
        else
            rc = hs_db_errf(db, "reading schedule", err, errlen);
        sqlite3_reset(st);
    }
    bool taken = false;
    if (rc == 0 && *status == HS_SCHEDULE_OK && f->name &&
        name_taken(db, f->name, id, &taken, err, errlen) != 0)
        rc = -1;
    if (rc == 0 && taken)
        *status = HS_SCHEDULE_CONFLICT;
    if (rc == 0 && *status == HS_SCHEDULE_OK) {
        int64_t now = hs_now_ms(), next = rules->next_fire(cron_text, tz_text, now);
        st = hs_db_stmt(db, sql, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, id);
            hs_bind_text_or_null(st, 2, f->name);
            hs_bind_text_or_null(st, 3, f->cron);
            hs_bind_text_or_null(st, 4, f->job_json);
            if (f->enabled >= 0)
                sqlite3_bind_int(st, 5, f->enabled);
            hs_bind_text_or_null(st, 6, f->timezone);
            if (next >= 0)
                sqlite3_bind_int64(st, 7, next);
            sqlite3_bind_int64(st, 8, now);
            rc = hs_db_step_done(db, st, "updating schedule", err, errlen);
        }
    }
    return finish_schedule_write(store, rc, status, id, out, err, errlen);
}

int hs_schedule_delete(hs_store *store, int64_t id, hs_schedule_status *status, char *err,
                       size_t errlen)
{
    static const char del_firings[] = "DELETE FROM schedule_firings WHERE schedule_id=?1";
    static const char del[] = "DELETE FROM schedules WHERE id=?1";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    bool exists = false;
    int rc = schedule_exists(db, id, &exists, err, errlen);
    *status = exists ? HS_SCHEDULE_OK : HS_SCHEDULE_NOT_FOUND;
    const char *const sqls[] = {del_firings, del};
    for (int i = 0; rc == 0 && exists && i < 2; i++) {
        sqlite3_stmt *st = hs_db_stmt(db, sqls[i], err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        sqlite3_bind_int64(st, 1, id);
        rc = hs_db_step_done(db, st, "deleting schedule", err, errlen);
    }
    return hs_store_write_finish(store, rc, err, errlen);
}

#define SCHEDULE_COLUMNS \
    "id, name, cron, job, enabled, timezone, next_fire_at, last_fired_at, created_at, updated_at"

static void add_time_or_null(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    char buf[HS_TIME_LEN];
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddStringToObject(o, name, hs_format_time(sqlite3_column_int64(st, col), buf));
}

static cJSON *schedule_row_json(sqlite3_stmt *st, void *unused)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "name", hs_col_text(st, 1));
    cJSON_AddStringToObject(o, "cron", hs_col_text(st, 2));
    cJSON *job = cJSON_Parse(hs_col_text(st, 3));
    cJSON_AddItemToObject(o, "job", job ? job : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "enabled", sqlite3_column_int(st, 4) != 0);
    cJSON_AddStringToObject(o, "timezone", hs_col_text(st, 5));
    add_time_or_null(o, "next_fire_at", st, 6);
    add_time_or_null(o, "last_fired_at", st, 7);
    add_time_or_null(o, "created_at", st, 8);
    add_time_or_null(o, "updated_at", st, 9);
    return o;
}

/* A schedule_firings row (scheduled_for, job_id, skipped, reason, fired_at) as JSON. */
static cJSON *firing_row_json(sqlite3_stmt *st, void *unused)
{
    cJSON *fo = cJSON_CreateObject();
    if (!fo)
        return NULL;
    add_time_or_null(fo, "scheduled_for", st, 0);
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        cJSON_AddNullToObject(fo, "job_id");
    else
        cJSON_AddNumberToObject(fo, "job_id", (double)sqlite3_column_int64(st, 1));
    cJSON_AddBoolToObject(fo, "skipped", sqlite3_column_int(st, 2) != 0);
    cJSON_AddStringToObject(fo, "reason", hs_col_text(st, 3));
    add_time_or_null(fo, "fired_at", st, 4);
    return fo;
}

static int add_firings(hs_db *db, int64_t id, cJSON *o, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT scheduled_for, job_id, skipped, reason, fired_at FROM schedule_firings"
        " WHERE schedule_id=?1 ORDER BY scheduled_for DESC LIMIT 100";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    cJSON *arr;
    if (hs_db_rows_json(db, st, firing_row_json, NULL, "reading firings", &arr, err, errlen) != 0)
        return -1;
    if (!cJSON_AddItemToObject(o, "firings", arr)) {
        cJSON_Delete(arr);
        return hs_errf(err, errlen, "out of memory reading firings");
    }
    return 0;
}

int hs_schedule_get_json(hs_db *db, int64_t id, bool with_firings, cJSON **out, char *err,
                         size_t errlen)
{
    static const char sql[] = "SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE id=?1";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    cJSON *o = rc == SQLITE_ROW ? schedule_row_json(st, NULL) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading schedule", err, errlen);
    if (rc == SQLITE_ROW && !o)
        return hs_errf(err, errlen, "out of memory");
    if (o && with_firings && add_firings(db, id, o, err, errlen) != 0) {
        cJSON_Delete(o);
        return -1;
    }
    *out = o;
    return 0;
}

int hs_schedule_list_json(hs_db *db, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " SCHEDULE_COLUMNS " FROM schedules ORDER BY id";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    return hs_db_rows_json(db, st, schedule_row_json, NULL, "listing schedules", out, err,
                           errlen);
}

/* ---- firing ------------------------------------------------------------------------------ */

typedef struct due_schedule {
    int64_t id, scheduled_for;
    char cron[256], timezone[64];
    char *job_json;
} due_schedule;

static int record_firing(hs_db *db, int64_t schedule_id, int64_t scheduled_for, int64_t job_id,
                         const char *reason, bool *inserted, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO schedule_firings (schedule_id, scheduled_for, fired_at, job_id,"
        " skipped, reason) VALUES (?1,?2,?3,?4,?5,?6)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, schedule_id);
    sqlite3_bind_int64(st, 2, scheduled_for);
    sqlite3_bind_int64(st, 3, hs_now_ms());
    if (job_id > 0)
        sqlite3_bind_int64(st, 4, job_id);
    sqlite3_bind_int(st, 5, job_id > 0 ? 0 : 1);
    sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
    if (hs_db_step_done(db, st, "recording a firing", err, errlen) != 0)
        return -1;
    *inserted = sqlite3_changes(hs_db_handle(db)) == 1;
    return 0;
}

/* The id of this schedule's job that is still queued or running, or 0. */
static int active_job(hs_db *db, int64_t schedule_id, int64_t *job_id, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT id FROM jobs WHERE schedule_id=?1 AND state IN ('queued','running') LIMIT 1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, schedule_id);
    return hs_db_step_int64(db, st, job_id, "checking a schedule's job", err, errlen) < 0 ? -1 : 0;
}

static int fire_one(hs_db *db, const hs_schedule_rules *rules, const due_schedule *d, int64_t now,
                    int *jobs_created, char *err, size_t errlen)
{
    static const char advance_sql[] =
        "UPDATE schedules SET next_fire_at=?2, last_fired_at=COALESCE(?3, last_fired_at)"
        " WHERE id=?1 AND next_fire_at=?4";
    int64_t active = 0, job_id = 0;
    char reason[640] = "";
    bool fired = false, inserted = false;
    if (active_job(db, d->id, &active, err, errlen) != 0)
        return -1;
    if (active) {
        snprintf(reason, sizeof reason, "previous job %lld is still queued or running",
                 (long long)active);
    } else {
        hs_job_submit_req req = {0};
        char why_not[512] = "";
        if (rules->job_of(d->job_json, rules->arg, &req, why_not, sizeof why_not) != 0) {
            snprintf(reason, sizeof reason, "%s", why_not);
        } else {
            req.spec_json = d->job_json;
            req.schedule_id = d->id;
            req.scheduled_for = d->scheduled_for;
            char why[96];
            snprintf(why, sizeof why, "fired by schedule %lld", (long long)d->id);
            /* UNIQUE(schedule_id, scheduled_for) on jobs: a tick can never make two jobs. */
            static const char exists_sql[] =
                "SELECT id FROM jobs WHERE schedule_id=?1 AND scheduled_for=?2";
            sqlite3_stmt *st = hs_db_stmt(db, exists_sql, err, errlen);
            if (!st)
                return -1;
            sqlite3_bind_int64(st, 1, d->id);
            sqlite3_bind_int64(st, 2, d->scheduled_for);
            int64_t existing;
            if (hs_db_step_int64(db, st, &existing, "checking an earlier firing", err,
                                 errlen) < 0)
                return -1;
            if (existing)
                job_id = existing;
            else if (hs_job_insert(db, &req, why, &job_id, err, errlen) < 0)
                return -1;
            else {
                fired = true;
                (*jobs_created)++;
            }
            snprintf(reason, sizeof reason, "%s", existing ? "already fired" : "fired");
        }
    }
    if (record_firing(db, d->id, d->scheduled_for, job_id, reason, &inserted, err, errlen) != 0)
        return -1;
    int64_t next = rules->next_fire(d->cron, d->timezone,
                                    now > d->scheduled_for ? now : d->scheduled_for);
    sqlite3_stmt *st = hs_db_stmt(db, advance_sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, d->id);
    if (next >= 0)
        sqlite3_bind_int64(st, 2, next);
    if (fired)
        sqlite3_bind_int64(st, 3, d->scheduled_for);
    sqlite3_bind_int64(st, 4, d->scheduled_for);
    return hs_db_step_done(db, st, "advancing a schedule", err, errlen);
}

int hs_schedules_fire_due(hs_store *store, const hs_schedule_rules *rules, int64_t now_ms,
                          int *jobs_created, char *err, size_t errlen)
{
    static const char due_sql[] =
        "SELECT id, next_fire_at, cron, timezone, job FROM schedules WHERE enabled=1 AND"
        " next_fire_at IS NOT NULL AND next_fire_at <= ?1 ORDER BY next_fire_at LIMIT 64";
    *jobs_created = 0;
    hs_db *db = hs_store_reader(store, err, errlen);
    if (!db)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, due_sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    due_schedule due[64];
    int n = 0, rc;
    while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        due_schedule *d = &due[n];
        d->id = sqlite3_column_int64(st, 0);
        d->scheduled_for = sqlite3_column_int64(st, 1);
        snprintf(d->cron, sizeof d->cron, "%s", hs_col_text(st, 2));
        snprintf(d->timezone, sizeof d->timezone, "%s", hs_col_text(st, 3));
        d->job_json = strdup(hs_col_text(st, 4));
        if (!d->job_json)
            break;
        n++;
    }
    sqlite3_reset(st);
    int result = 0;
    for (int i = 0; i < n; i++) {
        hs_db *w = hs_store_write_begin(store, err, errlen);
        if (!w) {
            result = -1;
            break;
        }
        /* Re-check under the write lock that this tick is still due (not fired meanwhile). */
        static const char still_sql[] =
            "SELECT 1 FROM schedules WHERE id=?1 AND enabled=1 AND next_fire_at=?2";
        sqlite3_stmt *s2 = hs_db_stmt(w, still_sql, err, errlen);
        int ok = -1;
        if (s2) {
            sqlite3_bind_int64(s2, 1, due[i].id);
            sqlite3_bind_int64(s2, 2, due[i].scheduled_for);
            int due_still = hs_db_step_int64(w, s2, NULL, "re-reading a schedule", err, errlen);
            if (due_still == 0)
                ok = 0;
            else if (due_still == 1)
                ok = fire_one(w, rules, &due[i], now_ms, jobs_created, err, errlen);
        }
        if (hs_store_write_end(store, ok == 0, err, errlen) != 0 || ok != 0)
            result = -1;
    }
    for (int i = 0; i < n; i++)
        free(due[i].job_json);
    return result;
}
