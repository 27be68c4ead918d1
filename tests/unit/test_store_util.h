/* A cmocka fixture for the store's unit tests (test_core_*.c): a fresh SQLite store (schema
 * migrated) in a temporary directory, closed and removed with the directory at teardown.
 * Static functions only: each test binary includes this header once. */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H
#include "test_util.h"

#include "store/store.h"

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

#endif
