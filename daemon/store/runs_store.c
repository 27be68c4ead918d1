/* head_stats, curves and checkpoints: writes from runners, reads for the API (runs_store.h). */
#include "runs_store.h"
#include "common/errors.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hs_runs_add_curve_point_db(hs_db *db, int64_t run_id, int64_t step, double epoch,
                               const char *name, double value, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO curves (run_id, step, epoch, name, value) VALUES (?1,?2,?3,?4,?5)";
    if (!name || !*name)
        return hs_errf(err, errlen, "curve point of run %lld: empty curve name", (long long)run_id);
    if (!isfinite(value) || !isfinite(epoch))
        return hs_errf(err, errlen, "curve %s of run %lld: non-finite value at step %lld", name,
                       (long long)run_id, (long long)step);
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_double(st, 3, epoch);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, value);
    return hs_db_step_done(db, st, "adding curve point", err, errlen);
}

int hs_runs_add_curve_point(hs_store *store, int64_t run_id, int64_t step, double epoch,
                            const char *name, double value, char *err, size_t errlen)
{
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_runs_add_curve_point_db(db, run_id, step, epoch, name, value, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_runs_store_head_stats_db(hs_db *db, int64_t run_id, const char *checkpoint,
                                const hs_head_stat_row *rows, int n_rows, char *err,
                                size_t errlen)
{
    static const char del[] = "DELETE FROM head_stats WHERE run_id=?1 AND checkpoint=?2";
    static const char ins[] =
        "INSERT INTO head_stats (run_id, checkpoint, layer, head, bos_mass, entropy, local_mass,"
        " class) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)";
    const char *cp = checkpoint ? checkpoint : "";
    sqlite3_stmt *st = hs_db_stmt(db, del, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, cp, -1, SQLITE_STATIC);
    int rc = hs_db_step_done(db, st, "replacing head statistics", err, errlen);
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
    return rc;
}

int hs_runs_store_head_stats(hs_store *store, int64_t run_id, const char *checkpoint,
                             const hs_head_stat_row *rows, int n_rows, char *err, size_t errlen)
{
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_runs_store_head_stats_db(db, run_id, checkpoint, rows, n_rows, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

int hs_runs_store_checkpoint_db(hs_db *db, int64_t run_id, const hs_checkpoint_row *row,
                                char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO checkpoints (run_id, name, path, epoch, step, ppl, woken, best)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)";
    static const char clear_best[] = "UPDATE checkpoints SET best=0 WHERE run_id=?1 AND name<>?2";
    if (!row->name || !*row->name || !row->path)
        return hs_errf(err, errlen, "checkpoint of run %lld: name and path are required",
                       (long long)run_id);
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
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
    int rc = hs_db_step_done(db, st, "storing checkpoint", err, errlen);
    if (rc == 0 && row->best) { /* one best checkpoint per run */
        st = hs_db_stmt(db, clear_best, err, errlen);
        if (!st)
            rc = -1;
        else {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
            rc = hs_db_step_done(db, st, "marking best checkpoint", err, errlen);
        }
    }
    return rc;
}

int hs_runs_store_checkpoint(hs_store *store, int64_t run_id, const hs_checkpoint_row *row,
                             char *err, size_t errlen)
{
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = hs_runs_store_checkpoint_db(db, run_id, row, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

/* A head_stats row (checkpoint, layer, head, bos_mass, entropy, local_mass, class) as JSON;
 * with_checkpoint (a bool *) says whether the checkpoint is included. */
static cJSON *head_row_json(sqlite3_stmt *st, void *with_checkpoint)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int c = 0;
    if (*(const bool *)with_checkpoint)
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
            hs_db_errf(db, "reading run", err, errlen);
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
    bool with_checkpoint = false;
    cJSON *arr;
    if (hs_db_rows_json(db, st, head_row_json, &with_checkpoint, "loading diagnosis", &arr, err,
                        errlen) != 0)
        return NULL;
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
    bool with_checkpoint = true;
    return hs_db_rows_json(db, st, head_row_json, &with_checkpoint, "reading head statistics",
                           out, err, errlen);
}

/* A curves row (step, epoch, name, value) as JSON. */
static cJSON *curve_row_json(sqlite3_stmt *st, void *unused)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "step", (double)sqlite3_column_int64(st, 0));
    cJSON_AddNumberToObject(o, "epoch", sqlite3_column_double(st, 1));
    cJSON_AddStringToObject(o, "name", hs_col_text(st, 2));
    cJSON_AddNumberToObject(o, "value", sqlite3_column_double(st, 3));
    return o;
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
    return hs_db_rows_json(db, st, curve_row_json, NULL, "reading curves", out, err, errlen);
}

/* A checkpoints row (name, path, epoch, step, ppl, woken, best) of the run *run_id as JSON,
 * with the model name that loads it. */
static cJSON *checkpoint_row_json(sqlite3_stmt *st, void *run_id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
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
    /* its files vanished (removed by hand, lost disk): listed, but it cannot be loaded */
    struct stat sb;
    cJSON_AddBoolToObject(o, "missing", stat(hs_col_text(st, 1), &sb) != 0 || !S_ISDIR(sb.st_mode));
    char model[256];
    snprintf(model, sizeof model, "run:%lld/%s", *(const long long *)run_id, name);
    cJSON_AddStringToObject(o, "model", model);
    return o;
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
    long long id = run_id;
    return hs_db_rows_json(db, st, checkpoint_row_json, &id, "reading checkpoints", out, err,
                           errlen);
}
