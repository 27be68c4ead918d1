/* Persistent daemon settings (daemon_state.h). */
#include "daemon_state.h"
#include "common/errors.h"
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
