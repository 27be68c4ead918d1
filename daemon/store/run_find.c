/* Reads of run_summaries: GET /runs' filtered pages, a schedule's runs, a run's metadata and
 * its own summary (run_summaries.h). Every summary comes from columns; no result is parsed here. */
#include "run_summaries.h"
#include "common/clock.h"
#include "common/errors.h"
#include <string.h>

/* The summary columns, read by summary_json from its first column on. */
#define SUMMARY_COLUMNS                                                                      \
    " j.id, j.kind, j.state, j.created_at, j.started_at, j.finished_at, j.schedule_id,"     \
    " s.name, s.model, s.n_healthy, s.n_bos_sink, s.n_dead, s.n_low_entropy, s.ppl,"         \
    " s.baseline_ppl, s.best_checkpoint, s.heads_woken, s.improves_baseline,"                \
    " (SELECT json_group_array(tag) FROM (SELECT tag FROM run_tags t WHERE t.run_id = j.id"  \
    "   ORDER BY tag))"

static void add_time(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    char buf[HS_TIME_LEN];
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddStringToObject(o, name, hs_format_time(sqlite3_column_int64(st, col), buf));
}

static void add_int(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, col));
}

static void add_real(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, col));
}

static void add_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddStringToObject(o, name, hs_col_text(st, col));
}

static void add_duration(cJSON *o, sqlite3_stmt *st, int started, int finished)
{
    if (sqlite3_column_type(st, started) == SQLITE_NULL ||
        sqlite3_column_type(st, finished) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "duration_s");
    else
        cJSON_AddNumberToObject(o, "duration_s", (double)(sqlite3_column_int64(st, finished) -
                                                          sqlite3_column_int64(st, started)) /
                                                     1000.0);
}

/* The headline numbers that apply to the run's kind; the others are null. */
static void add_headline(cJSON *o, sqlite3_stmt *st, int c, const char *kind)
{
    add_int(o, "healthy", st, c + 9);
    add_int(o, "bos_sink", st, c + 10);
    add_int(o, "dead", st, c + 11);
    add_int(o, "low_entropy", st, c + 12);
    bool surgery = strcmp(kind, "surgery") == 0;
    if (surgery)
        cJSON_AddNullToObject(o, "ppl");
    else
        add_real(o, "ppl", st, c + 13);
    add_real(o, "baseline_ppl", st, c + 14);
    if (surgery)
        add_real(o, "best_ppl", st, c + 13);
    else
        cJSON_AddNullToObject(o, "best_ppl");
    add_text(o, "best_checkpoint", st, c + 15);
    add_int(o, "heads_woken", st, c + 16);
    if (sqlite3_column_type(st, c + 17) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "improves_baseline");
    else
        cJSON_AddBoolToObject(o, "improves_baseline", sqlite3_column_int(st, c + 17) != 0);
}

/* A run summary from SUMMARY_COLUMNS starting at column c. */
static cJSON *summary_json(sqlite3_stmt *st, int c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const char *kind = hs_col_text(st, c + 1);
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, c));
    cJSON_AddNumberToObject(o, "job_id", (double)sqlite3_column_int64(st, c));
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "state", hs_col_text(st, c + 2));
    add_text(o, "model", st, c + 8);
    add_text(o, "name", st, c + 7);
    cJSON *tags = cJSON_Parse(hs_col_text(st, c + 18));
    cJSON_AddItemToObject(o, "tags", tags ? tags : cJSON_CreateArray());
    add_time(o, "created_at", st, c + 3);
    add_time(o, "started_at", st, c + 4);
    add_time(o, "finished_at", st, c + 5);
    add_duration(o, st, c + 4, c + 5);
    add_int(o, "schedule_id", st, c + 6);
    add_headline(o, st, c, kind);
    return o;
}

static cJSON *listed_summary_json(sqlite3_stmt *st, void *last_id)
{
    *(int64_t *)last_id = sqlite3_column_int64(st, 0);
    return summary_json(st, 0);
}

/* ?1 kind ?2 state ?3 model ?4 model is a prefix ?5 tags (JSON array) ?6 q ?7 since ?8 until
 * ?9 schedule ?10 before ?11 limit. Only runs: jobs that started at least once. */
#define FIND_FROM                                                                            \
    " FROM jobs j LEFT JOIN run_summaries s ON s.run_id = j.id"                              \
    " WHERE (j.started_at IS NOT NULL OR j.state IN ('succeeded','failed','cancelled'))"     \
    " AND j.run_deleted_at IS NULL"                                                          \
    " AND (?1 IS NULL OR j.kind = ?1) AND (?2 IS NULL OR j.state = ?2)"                      \
    " AND (?3 IS NULL OR (CASE WHEN ?4 THEN substr(s.model, 1, length(?3)) = ?3"             \
    "                          ELSE s.model = ?3 END))"                                      \
    " AND (?5 IS NULL OR (SELECT count(*) FROM run_tags t WHERE t.run_id = j.id"             \
    "      AND t.tag IN (SELECT value FROM json_each(?5))) = json_array_length(?5))"         \
    " AND (?6 IS NULL OR instr(lower(s.name), lower(?6)) > 0"                                \
    "      OR instr(lower(s.notes), lower(?6)) > 0 OR instr(lower(s.model), lower(?6)) > 0)" \
    " AND (?7 IS NULL OR j.created_at >= ?7) AND (?8 IS NULL OR j.created_at <= ?8)"         \
    " AND (?9 IS NULL OR j.schedule_id = ?9)"

static const char find_newest[] = "SELECT" SUMMARY_COLUMNS FIND_FROM
    " AND (?10 IS NULL OR j.id < ?10) ORDER BY j.id DESC LIMIT ?11";
static const char find_oldest[] = "SELECT" SUMMARY_COLUMNS FIND_FROM
    " AND (?10 IS NULL OR j.id > ?10) ORDER BY j.id LIMIT ?11";
static const char find_ppl[] = "SELECT" SUMMARY_COLUMNS FIND_FROM
    " AND (?10 IS NULL OR (s.ppl IS NULL, COALESCE(s.ppl, 0), j.id) >"
    "  (SELECT b.ppl IS NULL, COALESCE(b.ppl, 0), ?10 FROM jobs bj"
    "   LEFT JOIN run_summaries b ON b.run_id = bj.id WHERE bj.id = ?10))"
    " ORDER BY s.ppl IS NULL, COALESCE(s.ppl, 0), j.id LIMIT ?11";

static void bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms >= 0)
        sqlite3_bind_int64(st, i, ms);
}

int hs_runs_find_json(hs_db *db, const hs_run_find *f, cJSON **out, int64_t *next_before,
                      char *err, size_t errlen)
{
    const char *sql = f->order == HS_RUN_ORDER_OLDEST ? find_oldest
                      : f->order == HS_RUN_ORDER_PPL  ? find_ppl
                                                      : find_newest;
    *out = NULL;
    *next_before = 0;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    hs_bind_text_or_null(st, 1, f->kind);
    hs_bind_text_or_null(st, 2, f->state);
    hs_bind_text_or_null(st, 3, f->model);
    sqlite3_bind_int(st, 4, f->model_prefix ? 1 : 0);
    hs_bind_text_or_null(st, 5, f->tags_json);
    hs_bind_text_or_null(st, 6, f->q);
    bind_time(st, 7, f->since_ms);
    bind_time(st, 8, f->until_ms);
    if (f->schedule_id > 0)
        sqlite3_bind_int64(st, 9, f->schedule_id);
    if (f->before > 0)
        sqlite3_bind_int64(st, 10, f->before);
    sqlite3_bind_int(st, 11, f->limit);
    int64_t last = 0;
    if (hs_db_rows_json(db, st, listed_summary_json, &last, "finding runs", out, err,
                        errlen) != 0)
        return -1;
    if (cJSON_GetArraySize(*out) == f->limit && f->limit > 0)
        *next_before = last;
    return 0;
}

/* A schedule_firings row with the summary of the run it made (null when skipped). */
static cJSON *firing_json(sqlite3_stmt *st, void *unused)
{
    (void)unused;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_time(o, "scheduled_for", st, 0);
    add_time(o, "fired_at", st, 1);
    cJSON_AddBoolToObject(o, "skipped", sqlite3_column_int(st, 2) != 0);
    cJSON_AddStringToObject(o, "reason", hs_col_text(st, 3));
    cJSON *run = sqlite3_column_type(st, 4) == SQLITE_NULL ? cJSON_CreateNull()
                                                           : summary_json(st, 4);
    if (!run || !cJSON_AddItemToObject(o, "run", run)) {
        cJSON_Delete(run);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int hs_schedule_runs_json(hs_db *db, int64_t schedule_id, int limit, cJSON **out, char *err,
                          size_t errlen)
{
    static const char sql[] =
        "SELECT f.scheduled_for, f.fired_at, f.skipped, f.reason," SUMMARY_COLUMNS
        " FROM schedule_firings f LEFT JOIN jobs j ON j.id = f.job_id"
        " LEFT JOIN run_summaries s ON s.run_id = j.id"
        " WHERE f.schedule_id = ?1 ORDER BY f.scheduled_for LIMIT ?2";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, schedule_id);
    sqlite3_bind_int(st, 2, limit);
    return hs_db_rows_json(db, st, firing_json, NULL, "reading a schedule's runs", out, err,
                           errlen);
}

int hs_run_meta_add_json(hs_db *db, int64_t id, cJSON *o, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT s.name, s.notes, (SELECT json_group_array(tag) FROM (SELECT tag FROM run_tags"
        " WHERE run_id = ?1 ORDER BY tag)) FROM jobs j LEFT JOIN run_summaries s"
        " ON s.run_id = j.id WHERE j.id = ?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        add_text(o, "name", st, 0);
        cJSON *tags = cJSON_Parse(hs_col_text(st, 2));
        cJSON_AddItemToObject(o, "tags", tags ? tags : cJSON_CreateArray());
        add_text(o, "notes", st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading run metadata", err, errlen);
}

int hs_run_summary_add_json(hs_db *db, int64_t id, cJSON *o, char *err, size_t errlen)
{
    static const char sql[] = "SELECT" SUMMARY_COLUMNS
        " FROM jobs j LEFT JOIN run_summaries s ON s.run_id = j.id WHERE j.id = ?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    cJSON *summary = rc == SQLITE_ROW ? summary_json(st, 0) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading a run summary", err, errlen);
    if (rc == SQLITE_DONE)
        summary = cJSON_CreateNull();
    if (!summary || !cJSON_AddItemToObject(o, "summary", summary)) {
        cJSON_Delete(summary);
        return hs_errf(err, errlen, "out of memory building a run summary");
    }
    return 0;
}
