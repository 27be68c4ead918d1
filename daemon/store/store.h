/* The SQLite store: one database file under the data dir, WAL, busy timeout, migrations from
 * schema/ (embedded) applied at open (PRAGMA user_version). Writes go through one writer
 * connection serialised by a mutex (so writers never sleep in SQLite's busy handler); reads use
 * one connection per thread, opened lazily. Grouped writes (submits) are queued for a
 * committer thread that commits everything queued meanwhile in one transaction. Statements
 * are prepared once per connection and cached by their SQL text's address (pass string
 * literals). Also the statement dance every store repeats: ending a write with its result,
 * stepping a statement to completion, reading a single-row integer, collecting rows into a
 * JSON array. This file knows no table. */
#ifndef HS_STORE_H
#define HS_STORE_H
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_store hs_store;
typedef struct hs_db hs_db; /* a connection plus its statement cache */

int hs_store_open(const char *db_path, hs_store **out, char *err, size_t errlen);
/* hs_store_open of the data directory's database (data_dir.h). only_existing: 0 with *out
 * NULL when the data directory has no database yet, instead of creating one. */
int hs_store_open_data_dir(const char *data_dir, bool only_existing, hs_store **out, char *err,
                           size_t errlen);
void hs_store_close(hs_store *store);
const char *hs_store_path(const hs_store *store);

/* This thread's read connection (opened on first use, closed when the thread exits or the
 * store closes). NULL with err on failure. */
hs_db *hs_store_reader(hs_store *store, char *err, size_t errlen);

/* Takes the writer and starts a transaction (BEGIN IMMEDIATE). Every successful begin is paired
 * with hs_store_write_end(commit or not), which also releases the writer. */
hs_db *hs_store_write_begin(hs_store *store, char *err, size_t errlen);
int hs_store_write_end(hs_store *store, bool commit, char *err, size_t errlen);
/* hs_store_write_end for a write whose outcome is rc: commits when rc >= 0, else rolls back.
 * Returns rc, or -1 with err when the commit fails. */
int hs_store_write_finish(hs_store *store, int rc, char *err, size_t errlen);
/* hs_store_write_begin, then the cached statement for sql on the writer (*db): the start of a
 * write of one statement. NULL with err (and no transaction left open) on failure; else end
 * it with hs_store_write_finish. */
sqlite3_stmt *hs_store_write_stmt(hs_store *store, const char *sql, hs_db **db, char *err,
                                  size_t errlen);

/* Copies the WAL back into the database (a PASSIVE checkpoint on this thread's read
 * connection), so the writer's commits never pay for it. Without a checkpointer thread,
 * automatic checkpoints happen on the writer past a large WAL as a safety net. */
int hs_store_checkpoint(hs_store *store, char *err, size_t errlen);
/* Starts a thread that checkpoints whenever the writer's WAL holds about 4 MB (and at
 * least once a second), and stops the writer from ever checkpointing itself, so submits never
 * wait for one. Stopped by hs_store_close. */
int hs_store_start_checkpointer(hs_store *store, char *err, size_t errlen);

/* Group commit: fn(db, arg) runs on the store's committer thread in a write transaction
 * shared with every other grouped write queued meanwhile (one commit for the group; each fn in
 * its own savepoint, so one failing rolls back only itself). hs_store_write_grouped waits and
 * returns fn's result (>= 0), or -1 with err. */
typedef int (*hs_write_fn)(hs_db *db, void *arg, char *err, size_t errlen);
int hs_store_write_grouped(hs_store *store, hs_write_fn fn, void *arg, char *err, size_t errlen);
/* The same without waiting: done(arg, rc, err) is called on the committer thread once the
 * group is committed (rc is fn's result, or -1 with err, "" otherwise). Every queued write
 * gets its done call, also when the store closes meanwhile. 0, or -1 with err when it could
 * not be queued (done is then never called). */
typedef void (*hs_write_done_fn)(void *arg, int rc, const char *err);
int hs_store_write_queued(hs_store *store, hs_write_fn fn, hs_write_done_fn done, void *arg,
                          char *err, size_t errlen);

/* Write health. Writes failing for a storage reason (the file read-only, the disk full, an I/O
 * error) put the store in a degraded state: it logs the first failure (then only at 2, 4, 8,
 * ... failures), writes fail at once with the reason until a retry is due (the pause doubles
 * from 1 s up to 30 s; a read-only writer connection is reopened at each retry), and the
 * first write that commits changes ends it (logged once). A full disk is named "ENOSPC". */
typedef struct hs_store_health {
    bool degraded;
    char reason[256];
    int64_t since_ms, retry_at_ms; /* while degraded */
    uint64_t failures;             /* in the current streak */
    uint64_t failures_total;       /* since the store was opened */
} hs_store_health;
void hs_store_get_health(hs_store *store, hs_store_health *out);
bool hs_store_degraded(hs_store *store);
/* Lets the next write try at once instead of failing fast (after space was freed). */
void hs_store_retry_now(hs_store *store);

sqlite3 *hs_db_handle(hs_db *db);
/* The cached statement for sql (prepared on first use), reset and with bindings cleared.
 * sql must be a string with static storage. NULL with err on a prepare error. */
sqlite3_stmt *hs_db_stmt(hs_db *db, const char *sql, char *err, size_t errlen);
/* Runs one cached statement without parameters (BEGIN, COMMIT, ...); 0 or -1 with err. */
int hs_db_exec(hs_db *db, const char *sql, char *err, size_t errlen);

/* Whether db answers a trivial query (the health check). 0, or -1 with err. */
int hs_db_ping(hs_db *db, char *err, size_t errlen);

/* "database: <what>: <SQLite's last message on db>" into err; returns -1. */
int hs_db_errf(hs_db *db, const char *what, char *err, size_t errlen);
/* Steps st once expecting no row (INSERT, UPDATE, DELETE), then resets it: 0 on SQLITE_DONE,
 * else -1 with hs_db_errf(what). */
int hs_db_step_done(hs_db *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen);
/* Steps st for its first row, then resets it: 1 with column 0 as an integer in *value (when
 * value is not NULL), 0 when there is no row (*value = 0), -1 with hs_db_errf(what). */
int hs_db_step_int64(hs_db *db, sqlite3_stmt *st, int64_t *value, const char *what, char *err,
                     size_t errlen);
/* Steps st through all its rows, then resets it: *out = a new array of row_json(st, arg) for
 * each row. 0, or -1 with *out NULL and err ("out of memory <what>" when row_json or the array
 * could not be made, else hs_db_errf(what)). */
typedef cJSON *(*hs_row_json_fn)(sqlite3_stmt *st, void *arg);
int hs_db_rows_json(hs_db *db, sqlite3_stmt *st, hs_row_json_fn row_json, void *arg,
                    const char *what, cJSON **out, char *err, size_t errlen);

/* Text of column i as a C string ("" for NULL). */
const char *hs_col_text(sqlite3_stmt *st, int i);
/* Binds text or NULL when text is NULL. */
int hs_bind_text_or_null(sqlite3_stmt *st, int i, const char *text);

#endif
