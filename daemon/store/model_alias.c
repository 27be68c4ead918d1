/* Model aliases resolved against the checkpoints and jobs tables (model_alias.h). */
#include "model_alias.h"
#include "common/errors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alias_word(const char *s)
{
    return !strcmp(s, "best") || !strcmp(s, "final") || !strcmp(s, "latest");
}

/* "run:<id>/<rest>" or "run:latest[:<tag>]/<rest>": 1 with *id (0 for latest), *rest and
 * the tag into tag (taglen bytes; "" for none), else 0. */
static int split_run_name(const char *name, int64_t *id, const char **rest, char *tag,
                          size_t taglen)
{
    tag[0] = '\0';
    if (!name || strncmp(name, "run:", 4) != 0)
        return 0;
    const char *p = name + 4;
    if (!strncmp(p, "latest/", 7) || !strncmp(p, "latest:", 7)) {
        const char *slash = strchr(p, '/');
        if (!slash)
            return 0;
        if (p[6] == ':')
            snprintf(tag, taglen, "%.*s", (int)(slash - p - 7), p + 7);
        *id = 0;
        *rest = slash + 1;
        return 1;
    }
    char *end = NULL;
    long long v = strtoll(p, &end, 10);
    if (end == p || v <= 0 || *end != '/')
        return 0;
    *id = v;
    *rest = end + 1;
    return 1;
}

bool hs_model_is_alias(const char *name)
{
    int64_t id;
    const char *rest;
    char tag[80];
    return split_run_name(name, &id, &rest, tag, sizeof tag) && (id == 0 || is_alias_word(rest));
}

/* One text column of the first row of st (bound by the caller) into out: 1, 0 none, -1. */
static int first_text(hs_db *db, sqlite3_stmt *st, char *out, size_t outlen, const char *what,
                      char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, outlen, "%s", hs_col_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : hs_db_errf(db, what, err, errlen);
}

/* The checkpoint of run id that word names into out: 1, or -1 with err. */
static int resolve_word(hs_db *db, int64_t id, const char *word, char *out, size_t outlen,
                        char *err, size_t errlen)
{
    static const char exact[] = "SELECT name FROM checkpoints WHERE run_id=?1 AND name=?2";
    static const char pick[] =
        "SELECT c.name FROM checkpoints c JOIN jobs j ON j.id = c.run_id"
        " WHERE c.run_id=?1 AND j.run_deleted_at IS NULL AND"
        " (?2 <> 'best' OR c.best = 1) AND (?2 <> 'final' OR j.state = 'succeeded')"
        " ORDER BY c.step DESC, c.rowid DESC LIMIT 1";
    sqlite3_stmt *st = hs_db_stmt(db, exact, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, word, -1, SQLITE_STATIC);
    int rc = first_text(db, st, out, outlen, "resolving a model alias", err, errlen);
    if (rc != 0 || !is_alias_word(word))
        return rc < 0 ? -1 : rc == 1 ? 1
                                      : hs_errf(err, errlen, "run %lld has no checkpoint \"%s\"",
                                                (long long)id, word);
    if (!(st = hs_db_stmt(db, pick, err, errlen)))
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, word, -1, SQLITE_STATIC);
    rc = first_text(db, st, out, outlen, "resolving a model alias", err, errlen);
    if (rc == 0)
        return hs_errf(err, errlen, "run %lld has no %s checkpoint%s", (long long)id, word,
                       !strcmp(word, "final") ? " (the run has not succeeded, or has none)" : "");
    return rc;
}

/* The newest succeeded surgery run (with tag, when not ""): 1 with *id, or -1 with err. */
static int latest_surgery(hs_db *db, const char *tag, int64_t *id, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT id FROM jobs j WHERE kind='surgery' AND state='succeeded' AND run_deleted_at IS NULL"
        " AND (?1 = '' OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = j.id AND t.tag = ?1))"
        " ORDER BY finished_at DESC, id DESC LIMIT 1";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
    int rc = hs_db_step_int64(db, st, id, "finding the newest surgery run", err, errlen);
    if (rc == 0 && tag[0])
        return hs_errf(err, errlen, "no surgery run tagged \"%s\" has succeeded yet", tag);
    if (rc == 0)
        return hs_errf(err, errlen, "no surgery run has succeeded yet");
    return rc;
}

int hs_model_alias_resolve(hs_db *db, const char *name, char *out, size_t outlen, char *err,
                           size_t errlen)
{
    int64_t id = 0;
    const char *rest = "";
    char tag[80], inner[HS_ERR_LEN];
    if (!hs_model_is_alias(name)) {
        snprintf(out, outlen, "%s", name ? name : "");
        return 0;
    }
    if (!split_run_name(name, &id, &rest, tag, sizeof tag) || !*rest || strchr(rest, '/'))
        return hs_errf(err, errlen, "model \"%s\": expected run:latest[:<tag>]/<checkpoint>",
                       name);
    if (id == 0 && latest_surgery(db, tag, &id, inner, sizeof inner) < 0)
        return hs_errf(err, errlen, "model \"%s\": %s", name, inner);
    char ckpt[160];
    if (resolve_word(db, id, rest, ckpt, sizeof ckpt, inner, sizeof inner) < 0)
        return hs_errf(err, errlen, "model \"%s\": %s", name, inner);
    if (snprintf(out, outlen, "run:%lld/%s", (long long)id, ckpt) >= (int)outlen)
        return hs_errf(err, errlen, "model \"%s\": resolved name too long", name);
    return 1;
}

int hs_job_resolve_model(hs_store *store, int64_t job_id, const char *model, char *out,
                         size_t outlen, char *err, size_t errlen)
{
    static const char get[] = "SELECT model_resolved FROM jobs WHERE id=?1";
    static const char set[] = "UPDATE jobs SET model_resolved=?2 WHERE id=?1";
    hs_db *db = hs_store_write_begin(store, err, errlen);
    if (!db)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, get, err, errlen);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_int64(st, 1, job_id);
        rc = first_text(db, st, out, outlen, "reading model_resolved", err, errlen);
    }
    if (rc == 1 && out[0]) { /* an earlier attempt's choice */
        rc = 0;
    } else if (rc >= 0 && (rc = hs_model_alias_resolve(db, model, out, outlen, err, errlen)) >= 0) {
        st = hs_db_stmt(db, set, err, errlen);
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, job_id);
            sqlite3_bind_text(st, 2, out, -1, SQLITE_STATIC);
            rc = hs_db_step_done(db, st, "recording model_resolved", err, errlen);
        }
    }
    return hs_store_write_finish(store, rc, err, errlen) < 0 ? -1 : 0;
}
