/* hs_store: opening, migrating and sharing the SQLite database, and the statement helpers
 * the table stores share (see store.h). */
#include "store.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/embedded_files.h"
#include "common/errors.h"
#include "data_dir.h"
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define HS_STMT_CACHE 96

struct hs_db {
    sqlite3 *handle;
    int n_cached;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[HS_STMT_CACHE];
};

/* A thread's read connection, remembered in thread-specific data so it is closed when the
 * thread exits. */
typedef struct reader_slot {
    hs_store *store;
    unsigned long generation;
    hs_db *db;
    struct reader_slot *next_of_store; /* the store's list of slots (under readers_mutex) */
} reader_slot;

/* One queued grouped write: on its caller's stack for hs_store_write_grouped (which waits on
 * `finished`), on the heap for hs_store_write_queued (freed after `done` ran). */
typedef struct grouped_write {
    hs_write_fn fn;
    hs_write_done_fn done; /* NULL: a waiting caller (hs_store_write_grouped) */
    void *arg;
    int rc;
    char err[512];
    bool finished;
    pthread_cond_t finished_cond; /* only for a waiting caller */
    struct grouped_write *next;
} grouped_write;

struct hs_store {
    char *path;
    _Atomic unsigned long generation; /* a new one makes every thread reopen its reader */
    hs_db *writer;
    pthread_mutex_t write_mutex;
    /* Writes failing for a storage reason (read-only file, full disk, I/O error): retried
     * with a doubling pause (writes fail fast meanwhile), logged at a streak's milestones,
     * a read-only writer reopened at each retry. Under write_mutex. */
    hs_backoff write_backoff;
    sqlite3_int64 changes_at_begin;
    /* What hs_store_get_health reports, under health_mutex. */
    pthread_mutex_t health_mutex;
    hs_store_health health;
    /* The committer thread (started by the first grouped write): commits everything queued
     * meanwhile in one transaction. group_mutex guards the fields up to committer_stop. */
    pthread_mutex_t group_mutex;
    pthread_cond_t group_queued;
    grouped_write *pending;      /* newest first */
    pthread_t committer;
    bool committer_running, committer_stop;
    reader_slot *readers;
    /* The checkpointer thread (hs_store_start_checkpointer): woken by the writer's WAL hook
     * once enough frames are waiting, and at least once a second. */
    pthread_mutex_t ckpt_mutex;
    pthread_cond_t ckpt_wake;
    pthread_t ckpt_thread;
    bool ckpt_running, ckpt_stop, ckpt_due;
};

#define WRITE_RETRY_FIRST_MS 1000
#define WRITE_RETRY_MAX_MS 30000
#define CHECKPOINT_RETRY_MAX_MS 60000

/* WAL frames (pages, ~4 MB) after which the writer wakes the checkpointer: regular
 * checkpoints off the commit path keep the WAL small without the writer ever doing one. */
#define CHECKPOINT_WAKE_FRAMES 1024
#define CHECKPOINT_IDLE_MS 1000

static pthread_key_t reader_key;
static pthread_once_t reader_key_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t generation_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_generation = 1;
/* Serialises slot ownership between a thread exiting and the store closing. */
static pthread_mutex_t slots_mutex = PTHREAD_MUTEX_INITIALIZER;

static void db_close(hs_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->n_cached; i++)
        sqlite3_finalize(db->cache[i].stmt);
    sqlite3_close(db->handle);
    free(db);
}

static void unlink_slot(reader_slot *slot)
{
    if (!slot->store)
        return;
    reader_slot **pp = &slot->store->readers;
    while (*pp && *pp != slot)
        pp = &(*pp)->next_of_store;
    if (*pp)
        *pp = slot->next_of_store;
    slot->store = NULL;
}

static void reader_destructor(void *p)
{
    reader_slot *slot = p;
    pthread_mutex_lock(&slots_mutex);
    unlink_slot(slot);
    db_close(slot->db);
    slot->db = NULL;
    pthread_mutex_unlock(&slots_mutex);
    free(slot);
}

static void make_reader_key(void) { pthread_key_create(&reader_key, reader_destructor); }

static int db_open(const char *path, bool writer, hs_db **out, char *err, size_t errlen)
{
    hs_db *db = calloc(1, sizeof *db);
    if (!db)
        return hs_errf(err, errlen, "out of memory opening %s", path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db->handle, flags, NULL);
    if (rc != SQLITE_OK) {
        hs_errf(err, errlen, "cannot open database %s: %s", path,
                db->handle ? sqlite3_errmsg(db->handle) : sqlite3_errstr(rc));
        db_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db->handle, 10000);
    /* synchronous=FULL: every commit is on disk before it returns, so an answered submit
     * survives a power loss too; group commit makes that one fsync per group. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   " PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=20000;"
                                 : "PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    if (sqlite3_exec(db->handle, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        hs_errf(err, errlen, "cannot configure database %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        db_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static int migration_number(const char *path)
{
    /* "schema/NNN_name.sql" */
    const char *base = path + strlen("schema/");
    char *end = NULL;
    long n = strtol(base, &end, 10);
    if (end == base || *end != '_' || n <= 0)
        return -1;
    return (int)n;
}

#define MAX_MIGRATION 999

/* The embedded migrations by number (by_number[n], NULL where none) and the highest. */
static int embedded_migrations(const hs_embedded_file *by_number[MAX_MIGRATION + 1],
                               int *highest, char *err, size_t errlen)
{
    *highest = 0;
    for (size_t i = 0; i < hs_embedded_count; i++) {
        const hs_embedded_file *f = &hs_embedded_files[i];
        size_t len = strlen(f->path);
        if (strncmp(f->path, "schema/", 7) != 0 || len < 4 || strcmp(f->path + len - 4, ".sql"))
            continue;
        int n = migration_number(f->path);
        if (n < 0 || n > MAX_MIGRATION)
            return hs_errf(err, errlen, "embedded migration %s is not named NNN_name.sql", f->path);
        if (by_number[n])
            return hs_errf(err, errlen, "two migrations numbered %d (%s, %s)", n,
                           by_number[n]->path, f->path);
        by_number[n] = f;
        if (n > *highest)
            *highest = n;
    }
    return 0;
}

static int exec_sql(sqlite3 *h, const char *sql, const char *path, const char *what, char *err,
                    size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    hs_errf(err, errlen, "%s: %s: %s", path, what, msg ? msg : sqlite3_errmsg(h));
    sqlite3_free(msg);
    return -1;
}

/* Which migrations the database has (applied[n]): the numbers recorded in schema_migrations
 * up to user_version (a database taken back to an older version forgets the later ones). A
 * database from before that table has every number up to user_version (numbers had no gaps
 * then); the table is created and filled for it here. */
static int applied_migrations(sqlite3 *h, const char *path, int version,
                              bool applied[MAX_MIGRATION + 1], char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    bool have_table = false;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE name='schema_migrations'", -1,
                           &st, NULL) != SQLITE_OK)
        return hs_errf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
    have_table = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!have_table) {
        char fill[256];
        snprintf(fill, sizeof fill,
                 "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d)"
                 " INSERT INTO schema_migrations SELECT x FROM n WHERE %d > 0;", version, version);
        if (exec_sql(h, "BEGIN IMMEDIATE; CREATE TABLE schema_migrations (number INTEGER PRIMARY"
                        " KEY);", path, "recording migrations", err, errlen) != 0 ||
            exec_sql(h, fill, path, "recording migrations", err, errlen) != 0 ||
            exec_sql(h, "COMMIT;", path, "recording migrations", err, errlen) != 0) {
            sqlite3_exec(h, "ROLLBACK;", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_prepare_v2(h, "SELECT number FROM schema_migrations", -1, &st, NULL) != SQLITE_OK)
        return hs_errf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_int(st, 0);
        if (n >= 1 && n <= MAX_MIGRATION && n <= version)
            applied[n] = true;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : hs_errf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
}

/* Applies every embedded migration the database lacks, in numeric order, each in its own
 * transaction with its record and the user_version bump. Numbers are reserved per feature,
 * so schema/ may have gaps, and a migration may arrive in a later build than a higher-numbered
 * one: it is applied then. A database with a migration this binary lacks is refused. */
static int apply_migrations(hs_db *db, const char *path, char *err, size_t errlen)
{
    sqlite3 *h = db->handle;
    sqlite3_stmt *st = NULL;
    int version = 0, highest = 0;
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return hs_errf(err, errlen, "%s: reading user_version: %s", path, sqlite3_errmsg(h));
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    const hs_embedded_file *by_number[MAX_MIGRATION + 1];
    bool applied[MAX_MIGRATION + 1];
    memset(by_number, 0, sizeof by_number);
    memset(applied, 0, sizeof applied);
    if (embedded_migrations(by_number, &highest, err, errlen) != 0)
        return -1;
    if (version > highest)
        return hs_errf(err, errlen,
                       "%s: database schema version %d is newer than this binary's (%d)", path,
                       version, highest);
    if (applied_migrations(h, path, version, applied, err, errlen) != 0)
        return -1;
    for (int n = 1; n <= highest; n++)
        if (applied[n] && !by_number[n])
            return hs_errf(err, errlen, "%s: the database has migration %d, which this binary "
                           "lacks (it is newer)", path, n);
    for (int n = 1; n <= highest; n++) {
        if (!by_number[n] || applied[n])
            continue;
        char record[160];
        snprintf(record, sizeof record,
                 "INSERT OR REPLACE INTO schema_migrations (number) VALUES (%d);"
                 " PRAGMA user_version=%d;", n, n > version ? n : version);
        if (exec_sql(h, "BEGIN IMMEDIATE;", path, by_number[n]->path, err, errlen) != 0 ||
            exec_sql(h, (const char *)by_number[n]->data, path, by_number[n]->path, err,
                     errlen) != 0 ||
            exec_sql(h, record, path, by_number[n]->path, err, errlen) != 0 ||
            exec_sql(h, "COMMIT;", path, by_number[n]->path, err, errlen) != 0) {
            sqlite3_exec(h, "ROLLBACK;", NULL, NULL, NULL);
            return -1;
        }
        if (n > version)
            version = n;
    }
    return 0;
}

int hs_store_open(const char *db_path, hs_store **out, char *err, size_t errlen)
{
    pthread_once(&reader_key_once, make_reader_key);
    hs_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(db_path))) {
        free(s);
        return hs_errf(err, errlen, "out of memory opening %s", db_path);
    }
    pthread_mutex_init(&s->write_mutex, NULL);
    pthread_mutex_init(&s->health_mutex, NULL);
    s->write_backoff = (hs_backoff){.first_ms = WRITE_RETRY_FIRST_MS, .max_ms = WRITE_RETRY_MAX_MS};
    pthread_mutex_init(&s->group_mutex, NULL);
    pthread_cond_init(&s->group_queued, NULL);
    pthread_mutex_init(&s->ckpt_mutex, NULL);
    pthread_cond_init(&s->ckpt_wake, NULL);
    pthread_mutex_lock(&generation_mutex);
    s->generation = next_generation++;
    pthread_mutex_unlock(&generation_mutex);
    if (db_open(db_path, true, &s->writer, err, errlen) != 0 ||
        apply_migrations(s->writer, db_path, err, errlen) != 0) {
        hs_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int hs_store_open_data_dir(const char *data_dir, bool only_existing, hs_store **out, char *err,
                           size_t errlen)
{
    char path[4096];
    *out = NULL;
    if (hs_data_db_path(data_dir, path, sizeof path, err, errlen) != 0)
        return -1;
    if (only_existing && access(path, F_OK) != 0)
        return 0;
    return hs_store_open(path, out, err, errlen);
}

void hs_store_close(hs_store *s)
{
    if (!s)
        return;
    /* The committer finishes what is queued (every caller gets its answer) before it stops. */
    pthread_mutex_lock(&s->group_mutex);
    bool committer_running = s->committer_running;
    s->committer_stop = true;
    pthread_cond_signal(&s->group_queued);
    pthread_mutex_unlock(&s->group_mutex);
    if (committer_running)
        pthread_join(s->committer, NULL);
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_mutex);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->ckpt_mutex);
        pthread_join(s->ckpt_thread, NULL);
    }
    pthread_mutex_lock(&slots_mutex);
    for (reader_slot *slot = s->readers; slot;) {
        reader_slot *next = slot->next_of_store;
        db_close(slot->db);
        slot->db = NULL;
        slot->store = NULL;
        slot = next;
    }
    s->readers = NULL;
    pthread_mutex_unlock(&slots_mutex);
    db_close(s->writer);
    pthread_mutex_destroy(&s->write_mutex);
    pthread_mutex_destroy(&s->health_mutex);
    pthread_mutex_destroy(&s->group_mutex);
    pthread_cond_destroy(&s->group_queued);
    pthread_mutex_destroy(&s->ckpt_mutex);
    pthread_cond_destroy(&s->ckpt_wake);
    free(s->path);
    free(s);
}

/* Called by SQLite inside each commit of the writer with the WAL's frame count: only wakes the
 * checkpointer, never checkpoints on the writer's time. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    hs_store *s = arg;
    if (frames >= CHECKPOINT_WAKE_FRAMES) {
        pthread_mutex_lock(&s->ckpt_mutex);
        if (!s->ckpt_due) {
            s->ckpt_due = true;
            pthread_cond_signal(&s->ckpt_wake);
        }
        pthread_mutex_unlock(&s->ckpt_mutex);
    }
    return SQLITE_OK;
}

static void probe_write(hs_store *s);

static void *checkpointer_main(void *arg)
{
    hs_store *s = arg;
    hs_backoff failing = {.first_ms = CHECKPOINT_IDLE_MS, .max_ms = CHECKPOINT_RETRY_MAX_MS};
    pthread_mutex_lock(&s->ckpt_mutex);
    while (!s->ckpt_stop) {
        if (!s->ckpt_due) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)CHECKPOINT_IDLE_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&s->ckpt_wake, &s->ckpt_mutex, &until);
            if (s->ckpt_stop)
                break;
        }
        s->ckpt_due = false;
        pthread_mutex_unlock(&s->ckpt_mutex);
        /* A failing checkpoint is retried with a growing pause and logged at its streak's
         * milestones only (not at all while the store reports its writes failing). It goes on
         * while writes fail: on a full disk a checkpoint lets the WAL's space be reused. */
        int64_t now = hs_now_ms();
        bool degraded = hs_store_degraded(s);
        if (degraded)
            probe_write(s);
        if (!hs_backoff_waiting(&failing, now)) {
            char err[HS_ERR_LEN], stamp[HS_TIME_LEN];
            if (hs_store_checkpoint(s, err, sizeof err) != 0) {
                if (hs_backoff_fail(&failing, now) && !degraded)
                    fprintf(stderr, "%s surgeond: %s (failure %llu; retrying in %lld ms)\n",
                            hs_format_time(now, stamp), err,
                            (unsigned long long)failing.failures,
                            (long long)(failing.retry_at_ms - now));
            } else if (hs_backoff_ok(&failing)) {
                fprintf(stderr, "%s surgeond: checkpoints of %s work again\n",
                        hs_format_time(now, stamp), s->path);
            }
        }
        pthread_mutex_lock(&s->ckpt_mutex);
    }
    pthread_mutex_unlock(&s->ckpt_mutex);
    return NULL;
}

int hs_store_start_checkpointer(hs_store *s, char *err, size_t errlen)
{
    if (s->ckpt_running)
        return 0;
    if (pthread_create(&s->ckpt_thread, NULL, checkpointer_main, s) != 0)
        return hs_errf(err, errlen, "cannot start the checkpoint thread of %s", s->path);
    s->ckpt_running = true;
    /* From now on the writer never checkpoints itself (this replaces SQLite's automatic
     * checkpoint, which is itself a WAL hook). */
    pthread_mutex_lock(&s->write_mutex);
    sqlite3_wal_hook(s->writer->handle, on_wal_commit, s);
    pthread_mutex_unlock(&s->write_mutex);
    return 0;
}

const char *hs_store_path(const hs_store *s) { return s->path; }

hs_db *hs_store_reader(hs_store *s, char *err, size_t errlen)
{
    reader_slot *slot = pthread_getspecific(reader_key);
    if (slot && slot->db && slot->store == s && slot->generation == atomic_load(&s->generation))
        return slot->db;
    if (!slot) {
        slot = calloc(1, sizeof *slot);
        if (!slot) {
            hs_errf(err, errlen, "out of memory");
            return NULL;
        }
        pthread_setspecific(reader_key, slot);
    }
    pthread_mutex_lock(&slots_mutex);
    /* A slot of a closed store was already closed by hs_store_close (db NULL, store NULL). */
    unlink_slot(slot);
    db_close(slot->db);
    slot->db = NULL;
    pthread_mutex_unlock(&slots_mutex);
    hs_db *db = NULL;
    if (db_open(s->path, false, &db, err, errlen) != 0)
        return NULL;
    pthread_mutex_lock(&slots_mutex);
    slot->db = db;
    slot->store = s;
    slot->generation = atomic_load(&s->generation);
    slot->next_of_store = s->readers;
    s->readers = slot;
    pthread_mutex_unlock(&slots_mutex);
    return db;
}

/* The failures that retrying later can cure and that every write would hit meanwhile. */
static bool is_storage_error(int code)
{
    switch (code & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return true;
    default:
        return false;
    }
}

/* SQLite says "database or disk is full": name the cause as the system does. */
static void name_cause(int code, char *why, size_t whylen)
{
    if ((code & 0xff) == SQLITE_FULL && !strstr(why, "ENOSPC")) {
        size_t n = strlen(why);
        snprintf(why + n, whylen - n, " (ENOSPC: no space left on device)");
    }
}

/* A write failed for a storage reason (caller holds write_mutex). */
static void note_write_failure(hs_store *s, const char *reason)
{
    int64_t now = hs_now_ms();
    bool log = hs_backoff_fail(&s->write_backoff, now);
    pthread_mutex_lock(&s->health_mutex);
    s->health.degraded = true;
    snprintf(s->health.reason, sizeof s->health.reason, "%s", reason);
    s->health.since_ms = s->write_backoff.since_ms;
    s->health.retry_at_ms = s->write_backoff.retry_at_ms;
    s->health.failures = s->write_backoff.failures;
    s->health.failures_total++;
    pthread_mutex_unlock(&s->health_mutex);
    if (log) {
        char stamp[HS_TIME_LEN];
        fprintf(stderr, "%s surgeond: database not writable (failure %llu): %s; writes fail at once"
                " until a retry in %lld ms\n", hs_format_time(now, stamp),
                (unsigned long long)s->write_backoff.failures, reason,
                (long long)(s->write_backoff.retry_at_ms - now));
    }
}

/* A write committed (caller holds write_mutex): ends a failure streak. */
static void note_write_ok(hs_store *s)
{
    if (!hs_backoff_ok(&s->write_backoff))
        return;
    pthread_mutex_lock(&s->health_mutex);
    s->health.degraded = false;
    s->health.failures = 0;
    pthread_mutex_unlock(&s->health_mutex);
    /* Readers opened meanwhile may be read-only connections: every thread reopens its own. */
    pthread_mutex_lock(&generation_mutex);
    atomic_store(&s->generation, next_generation++);
    pthread_mutex_unlock(&generation_mutex);
    char stamp[HS_TIME_LEN];
    fprintf(stderr, "%s surgeond: database writable again\n", hs_format_time(hs_now_ms(), stamp));
}

/* SQLite opens a file it may not write read-only, and such a connection stays read-only:
 * a retry opens a new writer, which can write once the file can be written again. */
static void reopen_writer(hs_store *s)
{
    hs_db *fresh = NULL;
    char err[HS_ERR_LEN];
    if (db_open(s->path, true, &fresh, err, sizeof err) != 0)
        return; /* keep the old one; the write fails and is retried later */
    db_close(s->writer);
    s->writer = fresh;
    if (s->ckpt_running)
        sqlite3_wal_hook(fresh->handle, on_wal_commit, s);
}

/* While degraded, the checkpointer tries a write of its own when a retry is due, so the store
 * recovers (and /healthz says so) without waiting for a job or a request to write: it
 * rewrites the schema's user_version with its own value, which dirties the header page. */
static void probe_write(hs_store *s)
{
    char err[HS_ERR_LEN];
    pthread_mutex_lock(&s->write_mutex);
    bool due = s->write_backoff.failures > 0 && !hs_backoff_waiting(&s->write_backoff, hs_now_ms());
    pthread_mutex_unlock(&s->write_mutex);
    if (!due)
        return;
    hs_db *db = hs_store_write_begin(s, err, sizeof err);
    if (!db)
        return;
    sqlite3 *h = db->handle;
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version);
    bool ok = version >= 0 && sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (ok && hs_db_exec(db, "COMMIT", err, sizeof err) == 0) {
        note_write_ok(s);
        pthread_mutex_unlock(&s->write_mutex);
        return;
    }
    hs_store_write_end(s, false, NULL, 0); /* notes a storage failure, if it was one */
}

hs_db *hs_store_write_begin(hs_store *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->write_mutex);
    if (s->write_backoff.failures > 0) {
        if (hs_backoff_waiting(&s->write_backoff, hs_now_ms())) {
            pthread_mutex_lock(&s->health_mutex);
            hs_errf(err, errlen, "database not writable: %s", s->health.reason);
            pthread_mutex_unlock(&s->health_mutex);
            pthread_mutex_unlock(&s->write_mutex);
            return NULL;
        }
        if (sqlite3_db_readonly(s->writer->handle, "main") == 1)
            reopen_writer(s);
    }
    char why[HS_ERR_LEN];
    if (hs_db_exec(s->writer, "BEGIN IMMEDIATE", why, sizeof why) != 0) {
        int code = sqlite3_extended_errcode(s->writer->handle);
        name_cause(code, why, sizeof why);
        if (is_storage_error(code))
            note_write_failure(s, why);
        hs_errf(err, errlen, "%s", why);
        pthread_mutex_unlock(&s->write_mutex);
        return NULL;
    }
    s->changes_at_begin = sqlite3_total_changes64(s->writer->handle);
    return s->writer;
}

int hs_store_write_end(hs_store *s, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    sqlite3 *h = s->writer->handle;
    char why[HS_ERR_LEN];
    if (commit) {
        bool wrote = sqlite3_total_changes64(h) > s->changes_at_begin;
        rc = hs_db_exec(s->writer, "COMMIT", why, sizeof why);
        if (rc != 0) {
            int code = sqlite3_extended_errcode(h);
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
            name_cause(code, why, sizeof why);
            if (is_storage_error(code))
                note_write_failure(s, why);
            hs_errf(err, errlen, "%s", why);
        } else if (wrote) {
            note_write_ok(s); /* an empty commit proves nothing (it succeeds on a full disk) */
        }
    } else {
        /* rolled back because a statement failed: was it the storage? */
        int code = sqlite3_extended_errcode(h);
        if (is_storage_error(code)) {
            hs_errf(why, sizeof why, "database: %s", sqlite3_errmsg(h));
            name_cause(code, why, sizeof why);
            note_write_failure(s, why);
        }
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->write_mutex);
    return rc;
}

void hs_store_retry_now(hs_store *s)
{
    pthread_mutex_lock(&s->write_mutex);
    s->write_backoff.retry_at_ms = 0;
    pthread_mutex_unlock(&s->write_mutex);
}

void hs_store_get_health(hs_store *s, hs_store_health *out)
{
    pthread_mutex_lock(&s->health_mutex);
    *out = s->health;
    pthread_mutex_unlock(&s->health_mutex);
}

bool hs_store_degraded(hs_store *s)
{
    pthread_mutex_lock(&s->health_mutex);
    bool degraded = s->health.degraded;
    pthread_mutex_unlock(&s->health_mutex);
    return degraded;
}

int hs_store_write_finish(hs_store *s, int rc, char *err, size_t errlen)
{
    if (hs_store_write_end(s, rc >= 0, err, errlen) != 0)
        return -1;
    return rc;
}

sqlite3_stmt *hs_store_write_stmt(hs_store *s, const char *sql, hs_db **db, char *err,
                                  size_t errlen)
{
    *db = hs_store_write_begin(s, err, errlen);
    if (!*db)
        return NULL;
    sqlite3_stmt *st = hs_db_stmt(*db, sql, err, errlen);
    if (!st)
        hs_store_write_end(s, false, NULL, 0);
    return st;
}

int hs_store_checkpoint(hs_store *s, char *err, size_t errlen)
{
    hs_db *db = hs_store_reader(s, err, errlen);
    if (!db)
        return -1;
    /* A connection that has not read the database yet does not know it is in WAL mode, and
     * its checkpoint would silently do nothing: read the header first. */
    int rc = sqlite3_exec(db->handle, "PRAGMA schema_version;", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(db->handle, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return hs_errf(err, errlen, "checkpoint of %s: %s", s->path, sqlite3_errmsg(db->handle));
    return 0;
}

/* Runs a batch (given newest first, run oldest first) in one transaction; fills each item's
 * rc/err and returns the batch as a list in run order. */
static grouped_write *run_group(hs_store *s, grouped_write *batch)
{
    grouped_write *order = NULL; /* reverse the newest-first list */
    while (batch) {
        grouped_write *next = batch->next;
        batch->next = order;
        order = batch;
        batch = next;
    }
    char err[512];
    hs_db *db = hs_store_write_begin(s, err, sizeof err);
    if (!db) {
        for (grouped_write *w = order; w; w = w->next) {
            w->rc = -1;
            snprintf(w->err, sizeof w->err, "%s", err);
        }
        return order;
    }
    static const char savepoint[] = "SAVEPOINT grouped_write";
    static const char release[] = "RELEASE grouped_write";
    static const char rollback_to[] = "ROLLBACK TO grouped_write";
    for (grouped_write *w = order; w; w = w->next) {
        if (hs_db_exec(db, savepoint, w->err, sizeof w->err) != 0) {
            w->rc = -1;
            continue;
        }
        w->rc = w->fn(db, w->arg, w->err, sizeof w->err);
        if (w->rc < 0)
            hs_db_exec(db, rollback_to, err, sizeof err);
        if (hs_db_exec(db, release, err, sizeof err) != 0 && w->rc >= 0) {
            w->rc = -1;
            snprintf(w->err, sizeof w->err, "%s", err);
        }
    }
    if (hs_store_write_end(s, true, err, sizeof err) != 0)
        for (grouped_write *w = order; w; w = w->next)
            if (w->rc >= 0) {
                w->rc = -1;
                snprintf(w->err, sizeof w->err, "%s", err);
            }
    return order;
}

/* Tells a batch's callers their outcome: wakes each waiting caller, calls each queued
 * write's done callback (then frees it). */
static void finish_group(hs_store *s, grouped_write *ran)
{
    pthread_mutex_lock(&s->group_mutex);
    grouped_write *callbacks = NULL;
    /* Read each next before marking finished: a finished waiter's item may vanish at once. */
    for (grouped_write *w = ran, *next; w; w = next) {
        next = w->next;
        if (w->done) {
            w->next = callbacks;
            callbacks = w;
        } else {
            w->finished = true;
            pthread_cond_signal(&w->finished_cond);
        }
    }
    pthread_mutex_unlock(&s->group_mutex);
    for (grouped_write *w = callbacks, *next; w; w = next) {
        next = w->next;
        w->done(w->arg, w->rc, w->rc < 0 ? w->err : "");
        free(w);
    }
}

static void *committer_main(void *arg)
{
    hs_store *s = arg;
    pthread_mutex_lock(&s->group_mutex);
    for (;;) {
        if (!s->pending) {
            if (s->committer_stop)
                break;
            pthread_cond_wait(&s->group_queued, &s->group_mutex);
            continue;
        }
        grouped_write *batch = s->pending;
        s->pending = NULL;
        pthread_mutex_unlock(&s->group_mutex);
        finish_group(s, run_group(s, batch));
        pthread_mutex_lock(&s->group_mutex);
    }
    pthread_mutex_unlock(&s->group_mutex);
    return NULL;
}

/* Queues w for the committer (starting it on first use). 0, or -1 with err when the thread
 * cannot be started or the store is closing. */
static int enqueue_write(hs_store *s, grouped_write *w, char *err, size_t errlen)
{
    /* caller holds group_mutex */
    if (s->committer_stop)
        return hs_errf(err, errlen, "%s is closing", s->path);
    if (!s->committer_running) {
        if (pthread_create(&s->committer, NULL, committer_main, s) != 0)
            return hs_errf(err, errlen, "cannot start the commit thread of %s", s->path);
        s->committer_running = true;
    }
    bool was_idle = s->pending == NULL;
    w->next = s->pending;
    s->pending = w;
    if (was_idle)
        pthread_cond_signal(&s->group_queued);
    return 0;
}

int hs_store_write_grouped(hs_store *s, hs_write_fn fn, void *arg, char *err, size_t errlen)
{
    grouped_write me = {.fn = fn, .arg = arg};
    pthread_cond_init(&me.finished_cond, NULL);
    pthread_mutex_lock(&s->group_mutex);
    int rc = enqueue_write(s, &me, err, errlen);
    while (rc == 0 && !me.finished)
        pthread_cond_wait(&me.finished_cond, &s->group_mutex);
    pthread_mutex_unlock(&s->group_mutex);
    pthread_cond_destroy(&me.finished_cond);
    if (rc != 0)
        return -1;
    if (me.rc < 0)
        hs_errf(err, errlen, "%s", me.err);
    return me.rc;
}

int hs_store_write_queued(hs_store *s, hs_write_fn fn, hs_write_done_fn done, void *arg,
                          char *err, size_t errlen)
{
    grouped_write *w = calloc(1, sizeof *w);
    if (!w)
        return hs_errf(err, errlen, "out of memory queueing a write");
    w->fn = fn;
    w->done = done;
    w->arg = arg;
    pthread_mutex_lock(&s->group_mutex);
    int rc = enqueue_write(s, w, err, errlen);
    pthread_mutex_unlock(&s->group_mutex);
    if (rc != 0)
        free(w);
    return rc;
}

sqlite3 *hs_db_handle(hs_db *db) { return db->handle; }

sqlite3_stmt *hs_db_stmt(hs_db *db, const char *sql, char *err, size_t errlen)
{
    for (int i = 0; i < db->n_cached; i++)
        if (db->cache[i].sql == sql) {
            sqlite3_stmt *st = db->cache[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        hs_errf(err, errlen, "database: %s (in: %.80s)", sqlite3_errmsg(db->handle), sql);
        return NULL;
    }
    if (db->n_cached < HS_STMT_CACHE) {
        db->cache[db->n_cached].sql = sql;
        db->cache[db->n_cached].stmt = st;
        db->n_cached++;
    } else {
        /* Cache full: evict the oldest entry (never expected with the daemon's fixed SQL). */
        sqlite3_finalize(db->cache[0].stmt);
        memmove(&db->cache[0], &db->cache[1], sizeof db->cache[0] * (HS_STMT_CACHE - 1));
        db->cache[HS_STMT_CACHE - 1].sql = sql;
        db->cache[HS_STMT_CACHE - 1].stmt = st;
    }
    return st;
}

int hs_db_ping(hs_db *db, char *err, size_t errlen)
{
    static const char sql[] = "SELECT 1";
    return hs_db_exec(db, sql, err, errlen);
}

int hs_db_exec(hs_db *db, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return hs_errf(err, errlen, "database: %s (in: %.80s)", sqlite3_errmsg(db->handle), sql);
    return 0;
}

int hs_db_errf(hs_db *db, const char *what, char *err, size_t errlen)
{
    return hs_errf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(db->handle));
}

int hs_db_step_done(hs_db *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : hs_db_errf(db, what, err, errlen);
    sqlite3_reset(st);
    return rc;
}

int hs_db_step_int64(hs_db *db, sqlite3_stmt *st, int64_t *value, const char *what, char *err,
                     size_t errlen)
{
    int step = sqlite3_step(st);
    int64_t v = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : hs_db_errf(db, what, err, errlen);
    sqlite3_reset(st);
    if (value)
        *value = v;
    return rc;
}

int hs_db_rows_json(hs_db *db, sqlite3_stmt *st, hs_row_json_fn row_json, void *arg,
                    const char *what, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *arr = cJSON_CreateArray();
    int step = SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *row = row_json(st, arg);
        if (!row) {
            step = SQLITE_NOMEM;
            break;
        }
        cJSON_AddItemToArray(arr, row);
    }
    int rc = 0;
    if (step == SQLITE_NOMEM)
        rc = hs_errf(err, errlen, "out of memory %s", what);
    else if (step != SQLITE_DONE)
        rc = hs_db_errf(db, what, err, errlen);
    sqlite3_reset(st);
    if (rc != 0) {
        cJSON_Delete(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

const char *hs_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int hs_bind_text_or_null(sqlite3_stmt *st, int i, const char *text)
{
    return text ? sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}
