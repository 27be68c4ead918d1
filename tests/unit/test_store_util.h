/* A cmocka fixture for the store's unit tests (test_core_*.c): a fresh SQLite store (schema
 * migrated) in a temporary directory, closed and removed with the directory at teardown.
 * Static functions only: each test binary includes this header once. */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H
#include "test_util.h"

#include "store/store.h"
#include <sqlite3.h>

typedef struct store_fixture {
    char dir[256], db_path[320];
    hs_store *store;
} store_fixture;

/* cmocka setup: *state = a store_fixture with its store open. */
static int store_fixture_setup(void **state)
{
    store_fixture *f = calloc(1, sizeof *f);
    if (!f || tu_mkdtemp(f->dir, sizeof f->dir, "hs_core_store") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->db_path, sizeof f->db_path, "%s/surgeon.db", f->dir);
    char err[512];
    if (hs_store_open(f->db_path, &f->store, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        tu_rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* cmocka teardown of store_fixture_setup. */
static int store_fixture_teardown(void **state)
{
    store_fixture *f = *state;
    hs_store_close(f->store);
    int rc = tu_rm_tree(f->dir);
    free(f);
    return rc;
}

/* An integer from the database through an independent connection: the first column of the
 * first row of sql (its ?1, when it has one, bound to id), or -999 when there is no row. */
static inline int64_t store_fixture_query_int(store_fixture *f, const char *sql, int64_t id)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, id);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -999;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Job id's state through an independent connection, "?" when there is no such job. */
static inline const char *store_fixture_job_state(store_fixture *f, int64_t id)
{
    static char buf[32];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT state FROM jobs WHERE id=?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    snprintf(buf, sizeof buf, "%s",
             sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "?");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

#endif
