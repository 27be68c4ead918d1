/* Sweeps and their jobs (sweep_store.h). */
#include "sweep_store.h"
#include "common/clock.h"
#include "common/errors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int insert_sweep(hs_db *db, const char *name, const char *spec_json,
                        const char *grid_json, int64_t *id, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO sweeps (name, spec, grid, created_at) VALUES (?1, ?2, ?3, ?4)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, grid_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, hs_now_ms());
    if (hs_db_step_done(db, st, "inserting sweep", err, errlen) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(hs_db_handle(db));
    return 0;
}

int hs_sweep_create(hs_store *store, const char *name, const char *spec_json,
                    const char *grid_json, const hs_sweep_job *jobs, int n, int64_t *sweep_id,
                    char *err, size_t errlen)
{
    static const char tag[] = "INSERT INTO sweep_jobs (sweep_id, job_id, params) VALUES (?1,?2,?3)";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = insert_sweep(db, name, spec_json, grid_json, sweep_id, err, errlen);
    char reason[64];
    snprintf(reason, sizeof reason, "submitted by sweep %lld", (long long)*sweep_id);
    for (int i = 0; rc == 0 && i < n; i++) {
        int64_t job_id = 0;
        if (hs_job_insert(db, &jobs[i].req, reason, &job_id, err, errlen) != 1) {
            rc = -1;
            break;
        }
        sqlite3_stmt *st = hs_db_stmt(db, tag, err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        sqlite3_bind_int64(st, 1, *sweep_id);
        sqlite3_bind_int64(st, 2, job_id);
        sqlite3_bind_text(st, 3, jobs[i].params_json, -1, SQLITE_STATIC);
        rc = hs_db_step_done(db, st, "tagging a sweep job", err, errlen);
    }
    return hs_store_write_finish(store, rc, err, errlen) < 0 ? -1 : 0;
}

static cJSON *sweep_job_row(sqlite3_stmt *st, void *counts)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "state", hs_col_text(st, 1));
    cJSON *params = cJSON_Parse(hs_col_text(st, 2));
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "attempt", sqlite3_column_int(st, 3));
    if (sqlite3_column_type(st, 4) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "error");
    else
        cJSON_AddStringToObject(o, "error", hs_col_text(st, 4));
    cJSON *c = counts;
    const char *state = hs_col_text(st, 1);
    cJSON *have = cJSON_GetObjectItemCaseSensitive(c, state);
    if (have)
        cJSON_SetNumberValue(have, have->valuedouble + 1);
    else
        cJSON_AddNumberToObject(c, state, 1);
    return o;
}

int hs_sweep_get_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen)
{
    static const char head[] = "SELECT name, spec, grid, created_at FROM sweeps WHERE id=?1";
    static const char rows[] =
        "SELECT j.id, j.state, s.params, j.attempt, j.error FROM sweep_jobs s JOIN jobs j ON"
        " j.id = s.job_id WHERE s.sweep_id=?1 ORDER BY j.id";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, head, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    cJSON *o = rc == SQLITE_ROW ? cJSON_CreateObject() : NULL;
    if (o) {
        char when[HS_TIME_LEN];
        cJSON_AddNumberToObject(o, "id", (double)id);
        cJSON_AddStringToObject(o, "name", hs_col_text(st, 0));
        cJSON *spec = cJSON_Parse(hs_col_text(st, 1)), *grid = cJSON_Parse(hs_col_text(st, 2));
        cJSON_AddItemToObject(o, "job", spec ? spec : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "grid", grid ? grid : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "created_at",
                                hs_format_time(sqlite3_column_int64(st, 3), when));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (!o)
        return rc == SQLITE_ROW ? hs_errf(err, errlen, "out of memory reading a sweep")
                                : hs_db_errf(db, "reading a sweep", err, errlen);
    cJSON *counts = cJSON_AddObjectToObject(o, "counts"), *jobs = NULL;
    st = counts ? hs_db_stmt(db, rows, err, errlen) : NULL;
    if (st)
        sqlite3_bind_int64(st, 1, id);
    if (!st || hs_db_rows_json(db, st, sweep_job_row, counts, "reading a sweep's jobs", &jobs,
                               err, errlen) != 0) {
        cJSON_Delete(o);
        return counts ? -1 : hs_errf(err, errlen, "out of memory reading a sweep");
    }
    cJSON_AddItemToObject(o, "jobs", jobs);
    *out = o;
    return 0;
}

static cJSON *sweep_list_row(sqlite3_stmt *st, void *unused)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char when[HS_TIME_LEN];
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "name", hs_col_text(st, 1));
    cJSON_AddStringToObject(o, "created_at", hs_format_time(sqlite3_column_int64(st, 2), when));
    cJSON_AddNumberToObject(o, "jobs", sqlite3_column_int(st, 3));
    return o;
}

int hs_sweep_list_json(hs_db *db, int limit, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT id, name, created_at, (SELECT COUNT(*) FROM sweep_jobs WHERE sweep_id=sweeps.id)"
        " FROM sweeps ORDER BY id DESC LIMIT ?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, limit);
    return hs_db_rows_json(db, st, sweep_list_row, NULL, "listing sweeps", out, err, errlen);
}

int hs_sweep_of_job_json(hs_db *db, int64_t job_id, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT sweep_id, params FROM sweep_jobs WHERE job_id=?1";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && (*out = cJSON_CreateObject())) {
        cJSON_AddNumberToObject(*out, "id", (double)sqlite3_column_int64(st, 0));
        cJSON *params = cJSON_Parse(hs_col_text(st, 1));
        cJSON_AddItemToObject(*out, "params", params ? params : cJSON_CreateObject());
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading a job's sweep", err, errlen);
}
