/* Writes of run_summaries and run_tags: the row made at submit, the headline numbers at
 * success, and PATCH's guarded changes (run_summaries.h). */
#include "run_summaries.h"
#include "common/errors.h"
#include "common/utf8.h"
#include <stdio.h>
#include <string.h>

static int add_tag(hs_db *db, int64_t id, const char *tag, char *err, size_t errlen)
{
    static const char sql[] = "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?1, ?2)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    return hs_db_step_done(db, st, "adding a run tag", err, errlen);
}

static int clear_tags(hs_db *db, int64_t id, char *err, size_t errlen)
{
    static const char sql[] = "DELETE FROM run_tags WHERE run_id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return hs_db_step_done(db, st, "clearing run tags", err, errlen);
}

static const char *string_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int hs_run_name_owner(hs_db *db, const char *name, const char *client_id, int64_t *owner,
                      char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT s.run_id FROM run_summaries s JOIN jobs j ON j.id = s.run_id"
        " WHERE s.name = ?1 AND (?2 IS NULL OR j.client_id IS NOT ?2)";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    hs_bind_text_or_null(st, 2, client_id);
    return hs_db_step_int64(db, st, owner, "looking up a run name", err, errlen) < 0 ? -1 : 0;
}

int hs_run_summary_insert(hs_db *db, int64_t id, const char *spec_json, bool scheduled,
                          char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO run_summaries (run_id, name, notes, model) VALUES (?1, ?2, ?3, ?4)";
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "{}");
    if (!spec)
        return hs_errf(err, errlen, "job %lld: its spec is not JSON", (long long)id);
    const char *name = string_member(spec, "name");
    char scheduled_name[192];
    if (name && scheduled) {
        snprintf(scheduled_name, sizeof scheduled_name, "%.*s #%lld", hs_utf8_prefix(name, 100),
                 name, (long long)id);
        name = scheduled_name;
    }
    int rc = -1;
    int64_t owner = 0;
    if (name && hs_run_name_owner(db, name, NULL, &owner, err, errlen) != 0)
        goto done;
    if (owner) {
        hs_errf(err, errlen, "name \"%.128s\" is already used by run %lld", name,
                (long long)owner);
        rc = HS_RUN_NAME_TAKEN;
        goto done;
    }
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        goto done;
    sqlite3_bind_int64(st, 1, id);
    hs_bind_text_or_null(st, 2, name);
    hs_bind_text_or_null(st, 3, string_member(spec, "notes"));
    hs_bind_text_or_null(st, 4, string_member(spec, "model"));
    if (hs_db_step_done(db, st, "storing the run summary", err, errlen) != 0)
        goto done;
    rc = 0;
    const cJSON *tag;
    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(spec, "tags"))
    {
        if (rc == 0 && cJSON_IsString(tag))
            rc = add_tag(db, id, tag->valuestring, err, errlen);
    }
done:
    cJSON_Delete(spec);
    return rc;
}

int hs_run_summary_complete(hs_db *db, int64_t id, char *err, size_t errlen)
{
    /* One UPDATE reading the result just stored: diagnose keeps its counts under "summary",
     * evaluate under "diagnosis"."summary"; surgery names its own headline numbers. */
    static const char sql[] =
        "INSERT OR IGNORE INTO run_summaries (run_id) VALUES (?1)";
    static const char upd[] =
        "UPDATE run_summaries SET"
        " n_healthy = COALESCE(json_extract(r, '$.summary.healthy'),"
        "                      json_extract(r, '$.diagnosis.summary.healthy')),"
        " n_bos_sink = COALESCE(json_extract(r, '$.summary.bos_sink'),"
        "                       json_extract(r, '$.diagnosis.summary.bos_sink')),"
        " n_dead = COALESCE(json_extract(r, '$.summary.dead'),"
        "                   json_extract(r, '$.diagnosis.summary.dead')),"
        " n_low_entropy = COALESCE(json_extract(r, '$.summary.low_entropy'),"
        "                          json_extract(r, '$.diagnosis.summary.low_entropy')),"
        " ppl = CASE k WHEN 'evaluate' THEN json_extract(r, '$.ppl')"
        "              WHEN 'surgery' THEN json_extract(r, '$.best_ppl') END,"
        " baseline_ppl = CASE k WHEN 'surgery' THEN COALESCE(json_extract(r, '$.baseline_ppl'),"
        "   (SELECT value FROM curves v WHERE v.run_id = ?1 AND v.name = 'ppl' AND v.step = 0))"
        "   END,"
        " best_checkpoint = json_extract(r, '$.best_checkpoint'),"
        " heads_woken = json_extract(r, '$.heads_woken'),"
        " improves_baseline = CASE k WHEN 'surgery' THEN COALESCE("
        "   json_extract(r, '$.improves_baseline'), json_extract(r, '$.best_ppl') <"
        "   (SELECT value FROM curves v WHERE v.run_id = ?1 AND v.name = 'ppl' AND v.step = 0))"
        "   END"
        " FROM (SELECT kind AS k, result AS r FROM jobs WHERE id=?1 AND json_valid(result))"
        " WHERE run_id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    if (hs_db_step_done(db, st, "making the run summary", err, errlen) != 0)
        return -1;
    st = hs_db_stmt(db, upd, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return hs_db_step_done(db, st, "storing the run's headline numbers", err, errlen);
}

/* The UPDATE of one nullable text column of run id's summary row. */
static int set_text(hs_db *db, const char *sql, int64_t id, const char *value, char *err,
                    size_t errlen)
{
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    hs_bind_text_or_null(st, 2, value);
    return hs_db_step_done(db, st, "changing run metadata", err, errlen);
}

/* Inside the write transaction: 1 when job id exists (its summary row made if missing), 0
 * when not, -1 with err. */
static int ensure_row(hs_db *db, int64_t id, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO run_summaries (run_id) SELECT id FROM jobs WHERE id=?1";
    static const char exists[] = "SELECT count(*) FROM run_summaries WHERE run_id=?1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    if (hs_db_step_done(db, st, "reading run metadata", err, errlen) != 0)
        return -1;
    if (!(st = hs_db_stmt(db, exists, err, errlen)))
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int64_t n = 0;
    if (hs_db_step_int64(db, st, &n, "reading run metadata", err, errlen) < 0)
        return -1;
    return n > 0 ? 1 : 0;
}

static int apply_patch(hs_db *db, int64_t id, const hs_run_meta_patch *p,
                       hs_run_patch_outcome *outcome, int64_t *owner, char *err, size_t errlen)
{
    static const char name_sql[] = "UPDATE run_summaries SET name=?2 WHERE run_id=?1";
    static const char notes_sql[] = "UPDATE run_summaries SET notes=?2 WHERE run_id=?1";
    int found = ensure_row(db, id, err, errlen);
    if (found <= 0) {
        *outcome = HS_RUN_PATCH_NOT_FOUND;
        return found;
    }
    if (p->set_name && p->name) {
        if (hs_run_name_owner(db, p->name, NULL, owner, err, errlen) != 0)
            return -1;
        if (*owner && *owner != id) {
            *outcome = HS_RUN_PATCH_NAME_TAKEN;
            return 0;
        }
    }
    if (p->set_name && set_text(db, name_sql, id, p->name, err, errlen) != 0)
        return -1;
    if (p->set_notes && set_text(db, notes_sql, id, p->notes, err, errlen) != 0)
        return -1;
    if (p->set_tags) {
        if (clear_tags(db, id, err, errlen) != 0)
            return -1;
        for (int i = 0; i < p->n_tags; i++)
            if (add_tag(db, id, p->tags[i], err, errlen) != 0)
                return -1;
    }
    *outcome = HS_RUN_PATCH_OK;
    return 1;
}

int hs_run_meta_update(hs_store *store, int64_t id, const hs_run_meta_patch *p,
                       hs_run_patch_outcome *outcome, int64_t *owner, char *err,
                       size_t errlen)
{
    *owner = 0;
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    int rc = apply_patch(db, id, p, outcome, owner, err, errlen);
    /* Nothing is kept unless every change was made. */
    if (rc >= 0 && *outcome != HS_RUN_PATCH_OK)
        return hs_store_write_end(store, false, err, errlen);
    return hs_store_write_finish(store, rc, err, errlen) < 0 ? -1 : 0;
}
