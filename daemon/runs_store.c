/* head_stats, curves and checkpoints: writes from runners, reads for the API (runs_store.h). */
#include "runs_store.h"
#include "errors.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DB_ERR(db, what) hs_errf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(hs_db_handle(db)))

int hs_runs_add_curve_point(hs_store *store, int64_t run_id, int64_t step, double epoch,
                            const char *name, double value, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO curves (run_id, step, epoch, name, value) VALUES (?1,?2,?3,?4,?5)";
    if (!name || !*name)
        return hs_errf(err, errlen, "curve point of run %lld: empty curve name", (long long)run_id);
    if (!isfinite(value) || !isfinite(epoch))
        return hs_errf(err, errlen, "curve %s of run %lld: non-finite value at step %lld", name,
                       (long long)run_id, (long long)step);
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (st) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, step);
        sqlite3_bind_double(st, 3, epoch);
        sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, value);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : DB_ERR(db, "adding curve point");
        sqlite3_reset(st);
    }
    if (hs_store_write_end(store, rc == 0, err, errlen) != 0)
        return -1;
    return rc;
}

int hs_runs_store_head_stats(hs_store *store, int64_t run_id, const char *checkpoint,
                             const hs_head_stat_row *rows, int n_rows, char *err, size_t errlen)
{
    static const char del[] = "DELETE FROM head_stats WHERE run_id=?1 AND checkpoint=?2";
    static const char ins[] =
        "INSERT INTO head_stats (run_id, checkpoint, layer, head, bos_mass, entropy, local_mass,"
        " class) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)";
    const char *cp = checkpoint ? checkpoint : "";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    sqlite3_stmt *st = hs_db_stmt(db, del, err, errlen);
    if (!st)
        rc = -1;
    else {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, cp, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = DB_ERR(db, "replacing head statistics");
        sqlite3_reset(st);
    }
    for (int i = 0; rc == 0 && i < n_rows; i++) {
        st = hs_db_stmt(db, ins, err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, cp, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, rows[i].layer);
        sqlite3_bind_int(st, 4, rows[i].head);
        sqlite3_bind_double(st, 5, rows[i].bos_mass);
        sqlite3_bind_double(st, 6, rows[i].entropy);
        sqlite3_bind_double(st, 7, rows[i].local_mass);
        sqlite3_bind_text(st, 8, rows[i].cls ? rows[i].cls : "", -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = hs_errf(err, errlen, "database: storing head (%d, %d) of run %lld: %s",
                         rows[i].layer, rows[i].head, (long long)run_id,
                         sqlite3_errmsg(hs_db_handle(db)));
        sqlite3_reset(st);
    }
    if (hs_store_write_end(store, rc == 0, err, errlen) != 0)
        return -1;
    return rc;
}

int hs_runs_store_checkpoint(hs_store *store, int64_t run_id, const hs_checkpoint_row *row,
                             char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO checkpoints (run_id, name, path, epoch, step, ppl, woken, best)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)";
    static const char clear_best[] = "UPDATE checkpoints SET best=0 WHERE run_id=?1 AND name<>?2";
    if (!row->name || !*row->name || !row->path)
        return hs_errf(err, errlen, "checkpoint of run %lld: name and path are required",
                       (long long)run_id);
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (st) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, row->path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, row->epoch);
        sqlite3_bind_int64(st, 5, row->step);
        if (isfinite(row->ppl))
            sqlite3_bind_double(st, 6, row->ppl);
        if (row->woken >= 0)
            sqlite3_bind_int(st, 7, row->woken);
        sqlite3_bind_int(st, 8, row->best ? 1 : 0);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : DB_ERR(db, "storing checkpoint");
        sqlite3_reset(st);
    }
    if (rc == 0 && row->best) { /* one best checkpoint per run */
        st = hs_db_stmt(db, clear_best, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : DB_ERR(db, "marking best checkpoint");
            sqlite3_reset(st);
        }
    }
    if (hs_store_write_end(store, rc == 0, err, errlen) != 0)
        return -1;
    return rc;
}

static cJSON *head_row_json(sqlite3_stmt *st, int first_col, bool with_checkpoint)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int c = first_col;
    if (with_checkpoint)
        cJSON_AddStringToObject(o, "checkpoint", hs_col_text(st, c));
    c++;
    cJSON_AddNumberToObject(o, "layer", sqlite3_column_int(st, c++));
    cJSON_AddNumberToObject(o, "head", sqlite3_column_int(st, c++));
    cJSON_AddNumberToObject(o, "bos_mass", sqlite3_column_double(st, c++));
    cJSON_AddNumberToObject(o, "entropy", sqlite3_column_double(st, c++));
    cJSON_AddNumberToObject(o, "local_mass", sqlite3_column_double(st, c++));
    cJSON_AddStringToObject(o, "class", hs_col_text(st, c++));
    return o;
}

cJSON *hs_runs_load_diagnosis(hs_db *db, int64_t run_id, char *err, size_t errlen)
{
    static const char job_sql[] = "SELECT kind, state FROM jobs WHERE id=?1";
    static const char rows_sql[] =
        "SELECT checkpoint, layer, head, bos_mass, entropy, local_mass, class FROM head_stats"
        " WHERE run_id=?1 AND checkpoint='' ORDER BY layer, head";
    sqlite3_stmt *st = hs_db_stmt(db, job_sql, err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            hs_errf(err, errlen, "run %lld does not exist", (long long)run_id);
        else
            DB_ERR(db, "reading run");
        return NULL;
    }
    char kind[64], state[32];
    snprintf(kind, sizeof kind, "%s", hs_col_text(st, 0));
    snprintf(state, sizeof state, "%s", hs_col_text(st, 1));
    sqlite3_reset(st);
    if (strcmp(kind, "diagnose") != 0) {
        hs_errf(err, errlen, "run %lld is a %s job, not a diagnose job", (long long)run_id, kind);
        return NULL;
    }
    if (strcmp(state, "succeeded") != 0) {
        hs_errf(err, errlen, "diagnose run %lld has not succeeded (state %s)", (long long)run_id,
                state);
        return NULL;
    }
    st = hs_db_stmt(db, rows_sql, err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, run_id);
    cJSON *arr = cJSON_CreateArray();
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = head_row_json(st, 0, false);
        if (!o)
            break;
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    if (!arr || rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        if (rc == SQLITE_ROW || !arr)
            hs_errf(err, errlen, "out of memory loading diagnosis %lld", (long long)run_id);
        else
            DB_ERR(db, "loading diagnosis");
        return NULL;
    }
    return arr;
}

int hs_runs_heads_json(hs_db *db, int64_t run_id, const char *checkpoint, cJSON **out,
                       char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT checkpoint, layer, head, bos_mass, entropy, local_mass, class FROM head_stats"
        " WHERE run_id=?1 AND (?2 IS NULL OR checkpoint=?2) ORDER BY checkpoint, layer, head";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    hs_bind_text_or_null(st, 2, checkpoint);
    cJSON *arr = cJSON_CreateArray();
    int rc = SQLITE_NOMEM;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = head_row_json(st, 0, true);
        if (!o) {
            rc = SQLITE_NOMEM;
            break;
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return DB_ERR(db, "reading head statistics");
    }
    *out = arr;
    return 0;
}

int hs_runs_curves_json(hs_db *db, int64_t run_id, const char *name, cJSON **out, char *err,
                        size_t errlen)
{
    static const char sql[] =
        "SELECT step, epoch, name, value FROM curves WHERE run_id=?1 AND (?2 IS NULL OR name=?2)"
        " ORDER BY name, step, rowid";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    hs_bind_text_or_null(st, 2, name);
    cJSON *arr = cJSON_CreateArray();
    int rc = SQLITE_NOMEM;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            rc = SQLITE_NOMEM;
            break;
        }
        cJSON_AddNumberToObject(o, "step", (double)sqlite3_column_int64(st, 0));
        cJSON_AddNumberToObject(o, "epoch", sqlite3_column_double(st, 1));
        cJSON_AddStringToObject(o, "name", hs_col_text(st, 2));
        cJSON_AddNumberToObject(o, "value", sqlite3_column_double(st, 3));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return DB_ERR(db, "reading curves");
    }
    *out = arr;
    return 0;
}

int hs_runs_checkpoints_json(hs_db *db, int64_t run_id, cJSON **out, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT name, path, epoch, step, ppl, woken, best FROM checkpoints WHERE run_id=?1"
        " ORDER BY step, name";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    cJSON *arr = cJSON_CreateArray();
    int rc = SQLITE_NOMEM;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            rc = SQLITE_NOMEM;
            break;
        }
        const char *name = hs_col_text(st, 0);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "path", hs_col_text(st, 1));
        cJSON_AddNumberToObject(o, "epoch", sqlite3_column_int(st, 2));
        cJSON_AddNumberToObject(o, "step", (double)sqlite3_column_int64(st, 3));
        if (sqlite3_column_type(st, 4) == SQLITE_NULL)
            cJSON_AddNullToObject(o, "ppl");
        else
            cJSON_AddNumberToObject(o, "ppl", sqlite3_column_double(st, 4));
        if (sqlite3_column_type(st, 5) == SQLITE_NULL)
            cJSON_AddNullToObject(o, "woken");
        else
            cJSON_AddNumberToObject(o, "woken", sqlite3_column_int(st, 5));
        cJSON_AddBoolToObject(o, "best", sqlite3_column_int(st, 6) != 0);
        char model[256];
        snprintf(model, sizeof model, "run:%lld/%s", (long long)run_id, name);
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return DB_ERR(db, "reading checkpoints");
    }
    *out = arr;
    return 0;
}
