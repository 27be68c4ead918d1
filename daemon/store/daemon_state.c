/* Persistent daemon settings (daemon_state.h). */
#include "daemon_state.h"
#include "common/errors.h"
#include <stdio.h>
#include <string.h>

int hs_state_load_paused(hs_store *store, bool *paused, char *err, size_t errlen)
{
    static const char sql[] = "SELECT value FROM daemon_state WHERE key='paused'";
    *paused = false;
    hs_db *db = hs_store_reader(store, err, errlen);
    if (!db)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    *paused = rc == SQLITE_ROW && strcmp(hs_col_text(st, 0), "1") == 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? 0 : hs_db_errf(db, "reading the pause flag", err, errlen);
}

int hs_state_save_paused(hs_store *store, bool paused, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO daemon_state (key, value) VALUES ('paused', ?1)"
        " ON CONFLICT (key) DO UPDATE SET value=excluded.value";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, paused ? "1" : "0", -1, SQLITE_STATIC);
    int rc = hs_db_step_done(db, st, "storing the pause flag", err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}

/* The value of key into out ("" when the key is absent). 0, or -1 with err. */
static int load_text(hs_store *store, const char *sql, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    out[0] = '\0';
    hs_db *db = hs_store_reader(store, err, errlen);
    if (!db)
        return -1;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, outlen, "%s", hs_col_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? 0 : hs_db_errf(db, "reading daemon state", err, errlen);
}

int hs_state_load_instance(hs_store *store, char *out, size_t outlen, char *err, size_t errlen)
{
    static const char sql[] = "SELECT value FROM daemon_state WHERE key='instance'";
    if (load_text(store, sql, out, outlen, err, errlen) != 0)
        return -1;
    if (!out[0])
        return hs_errf(err, errlen, "the database has no instance id");
    return 0;
}

int hs_state_legacy_runs_pending(hs_store *store, bool *pending, char *err, size_t errlen)
{
    static const char sql[] = "SELECT value FROM daemon_state WHERE key='adopt_legacy_runs'";
    char v[8];
    int rc = load_text(store, sql, v, sizeof v, err, errlen);
    *pending = rc == 0 && strcmp(v, "1") == 0;
    return rc;
}

int hs_state_legacy_runs_done(hs_store *store, char *err, size_t errlen)
{
    static const char sql[] = "DELETE FROM daemon_state WHERE key='adopt_legacy_runs'";
    hs_db *db;
    sqlite3_stmt *st = hs_store_write_stmt(store, sql, &db, err, errlen);
    if (!st)
        return -1;
    int rc = hs_db_step_done(db, st, "clearing adopt_legacy_runs", err, errlen);
    return hs_store_write_finish(store, rc, err, errlen);
}
