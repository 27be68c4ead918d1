/* Loading one side of a comparison from head_stats, checkpoints and run_summaries
 * (run_sides.h). */
#include "run_sides.h"
#include "common/errors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_run_side_free(hs_run_side *side)
{
    free(side->heads);
    cJSON_Delete(side->targets);
    memset(side, 0, sizeof *side);
}

/* kind, model, perplexity and targets of the side; 1 found, 0 no such run, -1 err. */
static int load_identity(hs_db *db, hs_run_side *s, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT j.kind, COALESCE(r.model, ''),"
        " CASE WHEN ?2 = '' AND j.kind = 'evaluate' AND json_valid(j.result)"
        "        THEN json_extract(j.result, '$.ppl')"
        "      WHEN ?2 = 'start' THEN COALESCE(r.baseline_ppl, (SELECT value FROM curves v"
        "        WHERE v.run_id = j.id AND v.name = 'ppl' AND v.step = 0))"
        "      ELSE (SELECT ppl FROM checkpoints c WHERE c.run_id = j.id AND c.name = ?2) END,"
        " CASE WHEN j.kind = 'surgery' AND json_valid(j.result)"
        "      THEN json_extract(j.result, '$.targets') END"
        " FROM jobs j LEFT JOIN run_summaries r ON r.run_id = j.id WHERE j.id = ?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, s->checkpoint, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(s->kind, sizeof s->kind, "%s", hs_col_text(st, 0));
        snprintf(s->model, sizeof s->model, "%s", hs_col_text(st, 1));
        s->ppl = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            s->targets = cJSON_Parse(hs_col_text(st, 3));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return hs_db_errf(db, "reading a compared run", err, errlen);
    return rc == SQLITE_ROW;
}

/* The side's shape (max layer / head + 1) and row count. */
static int load_shape(hs_db *db, hs_run_side *s, int64_t *n_rows, char *err, size_t errlen)
{
    static const char sql[] = "SELECT count(*), max(layer) + 1, max(head) + 1 FROM head_stats"
                              " WHERE run_id = ?1 AND checkpoint = ?2";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, s->checkpoint, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n_rows = sqlite3_column_int64(st, 0);
        s->n_layer = sqlite3_column_int(st, 1);
        s->n_head = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : hs_db_errf(db, "reading a compared run", err, errlen);
}

static int load_rows(hs_db *db, hs_run_side *s, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT layer, head, bos_mass, entropy, local_mass, class FROM head_stats"
        " WHERE run_id = ?1 AND checkpoint = ?2";
    s->heads = calloc((size_t)s->n_layer * (size_t)s->n_head, sizeof *s->heads);
    if (!s->heads)
        return hs_errf(err, errlen, "out of memory reading run %lld", (long long)s->run_id);
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, s->checkpoint, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int l = sqlite3_column_int(st, 0), h = sqlite3_column_int(st, 1);
        if (l < 0 || h < 0 || l >= s->n_layer || h >= s->n_head)
            continue;
        hs_side_head *x = &s->heads[(size_t)l * (size_t)s->n_head + (size_t)h];
        x->bos_mass = sqlite3_column_double(st, 2);
        x->entropy = sqlite3_column_double(st, 3);
        x->local_mass = sqlite3_column_double(st, 4);
        snprintf(x->cls, sizeof x->cls, "%s", hs_col_text(st, 5));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, "reading head statistics", err, errlen);
}

/* Whether run_id lists checkpoint (or it is a surgery's start diagnosis). */
static int checkpoint_known(hs_db *db, const hs_run_side *s, char *err, size_t errlen)
{
    static const char sql[] = "SELECT count(*) FROM checkpoints WHERE run_id = ?1 AND name = ?2";
    if (strcmp(s->kind, "surgery") == 0 &&
        (strcmp(s->checkpoint, "start") == 0 || strcmp(s->checkpoint, "pass2-start") == 0))
        return 1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, s->checkpoint, -1, SQLITE_STATIC);
    int64_t n = 0;
    if (hs_db_step_int64(db, st, &n, "reading checkpoints", err, errlen) < 0)
        return -1;
    return n > 0;
}

int hs_run_side_load(hs_db *db, int64_t run_id, const char *checkpoint, hs_run_side *side,
                     hs_side_status *status, char *err, size_t errlen)
{
    memset(side, 0, sizeof *side);
    side->run_id = run_id;
    snprintf(side->checkpoint, sizeof side->checkpoint, "%s", checkpoint ? checkpoint : "");
    int found = load_identity(db, side, err, errlen);
    int64_t n_rows = 0;
    if (found <= 0) {
        hs_run_side_free(side);
        *status = HS_SIDE_NO_RUN;
        return found;
    }
    if (load_shape(db, side, &n_rows, err, errlen) != 0) {
        hs_run_side_free(side);
        return -1;
    }
    if (n_rows == 0 || n_rows != (int64_t)side->n_layer * side->n_head) {
        int known = side->checkpoint[0] ? checkpoint_known(db, side, err, errlen) : 1;
        hs_run_side_free(side);
        if (known < 0)
            return -1;
        *status = known ? HS_SIDE_NO_HEADS : HS_SIDE_NO_CHECKPOINT;
        return 0;
    }
    if (load_rows(db, side, err, errlen) != 0) {
        hs_run_side_free(side);
        return -1;
    }
    *status = HS_SIDE_OK;
    return 0;
}
