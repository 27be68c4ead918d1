/* Unit tests of the store (daemon/store/store.c): group commit from many threads (every write
 * committed exactly once, a failing write rolled back alone; queued writes answered after
 * their commit, also when the store closes), per-thread readers seeing
 * committed data, and the statement cache. Uses the daemon_state table of the schema as a
 * scratch key/value table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "test_store_util.h"

#include <time.h>

#define THREADS 8
#define WRITES_PER_THREAD 50

typedef struct put_arg {
    char key[64];
    bool fail; /* insert, then report failure: the insert must be rolled back */
} put_arg;

static int put(hs_db *db, void *arg, char *err, size_t errlen)
{
    static const char sql[] = "INSERT INTO daemon_state (key, value) VALUES (?1, 'v')";
    put_arg *p = arg;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, p->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "insert %s: %s", p->key, sqlite3_errmsg(hs_db_handle(db)));
        return -1;
    }
    if (p->fail) {
        snprintf(err, errlen, "planned failure of %s", p->key);
        return -1;
    }
    return 1;
}

typedef struct worker_arg {
    hs_store *store;
    int index;
    int failures_seen, successes;
} worker_arg;

static void *writer_thread(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < WRITES_PER_THREAD; i++) {
        put_arg p = {.fail = i % 10 == 3};
        snprintf(p.key, sizeof p.key, "t%d-%d", w->index, i);
        char err[512] = "";
        int rc = hs_store_write_grouped(w->store, put, &p, err, sizeof err);
        if (rc == 1)
            w->successes++;
        else if (rc == -1 && strstr(err, "planned failure"))
            w->failures_seen++;
        /* a reader on this thread sees its own committed write at once */
        hs_db *db = hs_store_reader(w->store, err, sizeof err);
        if (!db)
            continue;
        static const char q[] = "SELECT COUNT(*) FROM daemon_state WHERE key=?1";
        sqlite3_stmt *st = hs_db_stmt(db, q, err, sizeof err);
        if (!st)
            continue;
        sqlite3_bind_text(st, 1, p.key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) != (p.fail ? 0 : 1))
            w->successes = -100000; /* flag: visibility broken */
        sqlite3_reset(st);
    }
    return NULL;
}

static void test_group_commit_from_threads(void **state)
{
    store_fixture *f = *state;
    pthread_t threads[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.store = f->store, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_thread, &args[i]), 0);
    }
    int successes = 0, failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        successes += args[i].successes;
        failures += args[i].failures_seen;
    }
    int planned_failures = THREADS * (WRITES_PER_THREAD / 10);
    assert_int_equal(failures, planned_failures);
    assert_int_equal(successes, THREADS * WRITES_PER_THREAD - planned_failures);
    /* count through an independent connection */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM daemon_state WHERE key LIKE 't%'",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), successes);
    sqlite3_finalize(st);
    /* none of the planned failures is stored */
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM daemon_state WHERE key LIKE 't%-3'"
                                        " OR key LIKE 't%-13' OR key LIKE 't%-23'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_duplicate_in_group_fails_alone(void **state)
{
    store_fixture *f = *state;
    char err[512];
    put_arg a = {.key = "same"}, b = {.key = "same"}, c = {.key = "other"};
    assert_int_equal(hs_store_write_grouped(f->store, put, &a, err, sizeof err), 1);
    assert_int_equal(hs_store_write_grouped(f->store, put, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "insert same"));
    assert_int_equal(hs_store_write_grouped(f->store, put, &c, err, sizeof err), 1);
}

/* Rows of daemon_state with the given key prefix that are in the database FILE itself, not
 * only in its WAL: counted in a byte copy of the main file opened without any WAL. */
static int rows_in_main_file(const store_fixture *f, const char *prefix)
{
    char copy[400];
    snprintf(copy, sizeof copy, "%s/main-only.db", f->dir);
    tu_copy_file(f->db_path, copy);
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    int rc = sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM daemon_state WHERE key LIKE ?1 || '%'",
                                -1, &st, NULL);
    if (rc != SQLITE_OK && strstr(sqlite3_errmsg(db), "no such table"))
        n = 0; /* even the schema is still only in the WAL */
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    remove(copy);
    return n;
}

/* The checkpointer thread copies the WAL into the database soon after the writer's commits
 * grow it, so the daemon's submits never wait for a checkpoint; without it nothing would be
 * copied before SQLite's large automatic threshold. */
static void test_checkpointer_copies_the_wal(void **state)
{
    store_fixture *f = *state;
    char err[512];
    for (int i = 0; i < 200; i++) {
        put_arg p = {0};
        snprintf(p.key, sizeof p.key, "before-%d-%040d", i, i);
        assert_int_equal(hs_store_write_grouped(f->store, put, &p, err, sizeof err), 1);
    }
    assert_int_equal(rows_in_main_file(f, "before-"), 0); /* still only in the WAL */
    assert_int_equal(hs_store_start_checkpointer(f->store, err, sizeof err), 0);
    for (int i = 0; i < 200; i++) {
        put_arg p = {0};
        snprintf(p.key, sizeof p.key, "after-%d-%040d", i, i);
        assert_int_equal(hs_store_write_grouped(f->store, put, &p, err, sizeof err), 1);
    }
    int in_file = 0;
    for (int waited_ms = 0; waited_ms < 5000; waited_ms += 50) {
        in_file = rows_in_main_file(f, "after-");
        if (in_file == 200)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(in_file, 200);
    assert_int_equal(rows_in_main_file(f, "before-"), 200);
}

/* Queued (non-waiting) writes: each done callback runs exactly once, after its write is
 * committed (visible to an independent connection at that moment), with fn's result or the
 * failure of that write alone; closing the store answers whatever is still queued. */
#define QUEUED_WRITES 300

typedef struct queued_probe {
    put_arg put;
    const char *db_path;
    pthread_mutex_t *mutex;
    int *calls, *committed_at_done, *failed_with_reason;
} queued_probe;

static int count_key(const char *db_path, const char *key)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM daemon_state WHERE key=?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void queued_done(void *arg, int rc, const char *err)
{
    queued_probe *p = arg;
    int stored = count_key(p->db_path, p->put.key);
    pthread_mutex_lock(p->mutex);
    (*p->calls)++;
    if (rc == 1 && stored == 1)
        (*p->committed_at_done)++;
    if (rc == -1 && p->put.fail && strstr(err, "planned failure") && stored == 0)
        (*p->failed_with_reason)++;
    pthread_mutex_unlock(p->mutex);
}

static void test_queued_writes_answer_after_commit(void **state)
{
    store_fixture *f = *state;
    static queued_probe probes[QUEUED_WRITES];
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    int calls = 0, committed = 0, failed = 0;
    char err[512];
    for (int i = 0; i < QUEUED_WRITES; i++) {
        probes[i] = (queued_probe){.db_path = f->db_path, .mutex = &mutex, .calls = &calls,
                                   .committed_at_done = &committed,
                                   .failed_with_reason = &failed};
        snprintf(probes[i].put.key, sizeof probes[i].put.key, "q-%d", i);
        probes[i].put.fail = i % 7 == 0;
        assert_int_equal(hs_store_write_queued(f->store, put, queued_done, &probes[i], err,
                                               sizeof err), 0);
    }
    /* Close at once: the writes still queued are committed and answered before it returns. */
    hs_store_close(f->store);
    f->store = NULL;
    int planned_failures = (QUEUED_WRITES + 6) / 7;
    assert_int_equal(calls, QUEUED_WRITES);
    assert_int_equal(failed, planned_failures);
    assert_int_equal(committed, QUEUED_WRITES - planned_failures);
}

/* The writer syncs every commit (synchronous=FULL = 2): an answered submit survives a power
 * loss, not only a crash of the daemon. */
static void test_writer_syncs_every_commit(void **state)
{
    store_fixture *f = *state;
    char err[512];
    hs_db *db = hs_store_write_begin(f->store, err, sizeof err);
    assert_non_null(db);
    static const char sql[] = "PRAGMA synchronous";
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_reset(st);
    assert_int_equal(hs_store_write_end(f->store, false, err, sizeof err), 0);
}

static void test_statement_cache_reuses(void **state)
{
    store_fixture *f = *state;
    char err[512];
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    assert_non_null(db);
    static const char sql[] = "SELECT 1";
    sqlite3_stmt *a = hs_db_stmt(db, sql, err, sizeof err);
    sqlite3_stmt *b = hs_db_stmt(db, sql, err, sizeof err);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_null(hs_db_stmt(db, "SELECT * FROM no_such_table", err, sizeof err));
    assert_non_null(strstr(err, "no_such_table"));
    assert_int_equal(hs_store_checkpoint(f->store, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_from_threads, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_in_group_fails_alone, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_checkpointer_copies_the_wal, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_queued_writes_answer_after_commit,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_writer_syncs_every_commit, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache_reuses, store_fixture_setup,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
