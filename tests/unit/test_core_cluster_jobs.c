/* Unit tests of the Slurm attempts' table (daemon/store/cluster_jobs.c) on a real SQLite store,
 * of SHA-256 (daemon/common/sha256.c) and of the migration runner's gaps (store.c: skipped,
 * recorded, a lower number applied later, a database with an unknown one refused): an attempt
 * is created once per job, a RUNNING state starts the job, an attempt that ends without a
 * result requeues the job while attempts remain and fails it after, a cancel wins (also over
 * a snapshot read before it); a job with a live attempt is never claimed by a local worker; tokens map
 * to their job (1), another job (2) or nothing (0); a batch is applied only as the next
 * sequence number; reconciliation after a restart leaves jobs with a live attempt alone; the
 * tasks of a job array are recorded and ended like single attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "store/cluster_jobs.h"
#include "store/job_store.h"
#include "store/store.h"
#include "test_store_util.h"

static int64_t submit(store_fixture *f, int max_attempts)
{
    hs_job_submit_req req = {.kind = "test-steps", .spec_json = "{\"kind\":\"test-steps\"}",
                             .max_attempts = max_attempts};
    int64_t id = 0;
    char err[512];
    assert_true(hs_job_submit(f->store, &req, &id, err, sizeof err) >= 0);
    return id;
}

/* The one active attempt (there is exactly one in these tests). */
static hs_cluster_attempt active_one(store_fixture *f)
{
    char err[512];
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    hs_cluster_attempt *a = NULL;
    int n = 0;
    assert_non_null(db);
    assert_int_equal(hs_cluster_active(db, &a, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    hs_cluster_attempt one = a[0];
    free(a);
    return one;
}

/* Creates attempt `attempt` of job with a token hash derived from tag, submitted as slurm_id. */
static void start_attempt(store_fixture *f, int64_t job, int attempt, const char *tag,
                          const char *slurm_id)
{
    char err[512], hash[HS_SHA256_HEX_LEN];
    hs_sha256_hex(tag, strlen(tag), hash);
    int64_t row = 0;
    assert_int_equal(hs_cluster_attempt_create(f->store, job, attempt, "hs-x", -1, hash, &row, err,
                                               sizeof err), 1);
    assert_int_equal(hs_cluster_attempt_submitted(f->store, row, slurm_id, err, sizeof err), 0);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char out[HS_SHA256_HEX_LEN];
    hs_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hs_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    hs_sha256_hex(two, strlen(two), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char tok[65];
    assert_int_equal(hs_random_hex(32, tok, sizeof tok), 0);
    assert_int_equal(strlen(tok), 64);
}

static void exec_sql(store_fixture *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static void reopen(store_fixture *f)
{
    char err[512];
    hs_store_close(f->store);
    f->store = NULL;
    if (hs_store_open(f->db_path, &f->store, err, sizeof err) != 0)
        fail_msg("reopening: %s", err);
}

#define DROP_006 "DROP TABLE sweep_jobs; DROP TABLE sweeps; DROP TABLE cluster_jobs;"

static void test_migrations_with_gaps(void **state)
{
    store_fixture *f = *state;
    /* schema/ has a gap before 006 (numbers reserved for other features): all applied,
     * each recorded. */
    assert_true(store_fixture_query_int(f, "PRAGMA user_version", 0) >= 6);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE name='cluster_jobs'",
                               0), 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM schema_migrations WHERE number=6", 0), 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM schema_migrations WHERE number=5", 0), 0);
    /* A number the database lacks although its version is higher (it arrived in a later build
     * than a higher number) is applied at the next open. */
    exec_sql(f, DROP_006 " DELETE FROM schema_migrations WHERE number=6;");
    reopen(f);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE name='cluster_jobs'",
                               0), 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM schema_migrations WHERE number=6", 0), 1);
    /* A database from before the record (no gaps then): every number up to its version counts
     * as applied, the later ones are applied. */
    exec_sql(f, DROP_006 " ALTER TABLE jobs DROP COLUMN run_deleted_at;" /* and 004 */
                         " ALTER TABLE jobs DROP COLUMN model_resolved;"
                         " ALTER TABLE jobs DROP COLUMN corpus_resolved;"
                         " DROP TABLE schema_migrations; PRAGMA user_version=3;");
    reopen(f);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM schema_migrations WHERE number<=3", 0), 3);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE name='sweeps'", 0),
                     1);
    /* A database with a migration this binary lacks is refused. */
    exec_sql(f, "INSERT INTO schema_migrations VALUES (5);");
    hs_store_close(f->store);
    f->store = NULL;
    char err[512];
    hs_store *other = NULL;
    assert_int_equal(hs_store_open(f->db_path, &other, err, sizeof err), -1);
    assert_non_null(strstr(err, "migration 5"));
    exec_sql(f, "DELETE FROM schema_migrations WHERE number=5;");
    reopen(f);
}

static void test_attempt_once_and_running(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t job = submit(f, 3);
    start_attempt(f, job, 1, "t1", "101");
    int64_t row = 0;
    /* a second active attempt of the same job is refused */
    assert_int_equal(hs_cluster_attempt_create(f->store, job, 2, "hs-y", -1, "h2", &row, err,
                                               sizeof err), 0);
    hs_cluster_attempt a = active_one(f);
    assert_string_equal(a.slurm_job_id, "101");
    assert_int_equal(hs_cluster_attempt_observe(f->store, &a, "PENDING", "Priority", "", "", err,
                                                sizeof err), 0);
    assert_string_equal(store_fixture_job_state(f, job), "queued");
    assert_int_equal(hs_cluster_attempt_observe(f->store, &a, "RUNNING", "", "node1", "", err,
                                                sizeof err), 0);
    assert_string_equal(store_fixture_job_state(f, job), "running");
    assert_int_equal(store_fixture_query_int(f, "SELECT attempt FROM jobs WHERE id=?1", job), 1);
    /* a restart's reconciliation leaves it to the executor */
    int requeued = -1, failed = -1;
    assert_int_equal(hs_job_reconcile(f->store, &requeued, &failed, err, sizeof err), 0);
    assert_int_equal(requeued, 0);
    assert_string_equal(store_fixture_job_state(f, job), "running");
}

static void test_end_requeues_then_fails(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t job = submit(f, 2);
    for (int attempt = 1; attempt <= 2; attempt++) {
        char slurm_id[16];
        snprintf(slurm_id, sizeof slurm_id, "%d", 200 + attempt);
        start_attempt(f, job, attempt, attempt == 1 ? "a1" : "a2", slurm_id);
        hs_cluster_attempt a = active_one(f);
        assert_int_equal(hs_cluster_attempt_observe(f->store, &a, "RUNNING", "", "n", "", err,
                                                    sizeof err), 0);
        a = active_one(f);
        assert_int_equal(hs_cluster_attempt_end(f->store, &a, "NODE_FAIL", "NodeDown", false,
                                                err, sizeof err), 0);
        assert_string_equal(store_fixture_job_state(f, job), attempt == 1 ? "queued" : "failed");
    }
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM cluster_jobs WHERE active=1", 0), 0);
}

static void test_cancel_wins(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t job = submit(f, 3);
    start_attempt(f, job, 1, "c1", "301");
    hs_cluster_attempt a = active_one(f);
    assert_int_equal(hs_cluster_attempt_observe(f->store, &a, "RUNNING", "", "n", "", err,
                                                sizeof err), 0);
    a = active_one(f); /* read before the cancel: a stale snapshot must not requeue it */
    hs_cancel_outcome out;
    assert_int_equal(hs_job_cancel(f->store, job, &out, err, sizeof err), 0);
    assert_int_equal(out, HS_CANCEL_REQUESTED);
    assert_false(a.cancel_requested);
    assert_int_equal(hs_cluster_attempt_end(f->store, &a, "FAILED", "", false, err,
                                            sizeof err), 0);
    assert_string_equal(store_fixture_job_state(f, job), "cancelled");
}

static void test_claim_skips_cluster_jobs(void **state)
{
    store_fixture *f = *state;
    int64_t job = submit(f, 3);
    start_attempt(f, job, 1, "k1", "501"); /* pending in Slurm: still queued here */
    assert_string_equal(store_fixture_job_state(f, job), "queued");
    hs_claimed_job claimed;
    char err[512];
    assert_int_equal(hs_job_claim(f->store, "cpu", &claimed, err, sizeof err), 0);
}

static int apply_nothing(hs_db *db, void *arg, char *err, size_t errlen)
{
    (*(int *)arg)++;
    return 0;
}

static void test_tokens_and_sequence(void **state)
{
    store_fixture *f = *state;
    char err[512], h1[HS_SHA256_HEX_LEN], h2[HS_SHA256_HEX_LEN];
    int64_t j1 = submit(f, 3), j2 = submit(f, 3);
    start_attempt(f, j1, 1, "tok-one", "401");
    start_attempt(f, j2, 1, "tok-two", "402");
    hs_sha256_hex("tok-one", 7, h1);
    hs_sha256_hex("tok-two", 7, h2);
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    int64_t row = 0, other = 0;
    assert_int_equal(hs_cluster_token_lookup(db, j1, h1, &row, err, sizeof err), 1);
    assert_int_equal(hs_cluster_token_lookup(db, j1, h2, &other, err, sizeof err), 2);
    assert_int_equal(hs_cluster_token_lookup(db, j1, "00", &other, err, sizeof err), 0);
    int calls = 0, outcome = -1;
    int64_t last = -1;
    assert_int_equal(hs_cluster_apply_batch(f->store, row, 1, "n1", apply_nothing, &calls, &outcome,
                                            &last, err, sizeof err), 0);
    assert_int_equal(outcome, 1);
    assert_int_equal(calls, 1);
    assert_string_equal(store_fixture_job_state(f, j1), "running"); /* a report means it runs */
    assert_int_equal(hs_cluster_apply_batch(f->store, row, 1, "n1", apply_nothing, &calls, &outcome,
                                            &last, err, sizeof err), 0);
    assert_int_equal(outcome, 0); /* replay: not applied again */
    assert_int_equal(calls, 1);
    assert_int_equal(hs_cluster_apply_batch(f->store, row, 3, NULL, apply_nothing, &calls, &outcome,
                                            &last, err, sizeof err), 0);
    assert_int_equal(outcome, 2); /* gap */
    assert_int_equal(last, 1);
    assert_int_equal(calls, 1);
}

/* The tasks of an array: recorded under the array's name with their index, given
 * "<array>_<task>" ids in one go, their raw id kept once started; an end state Slurm reports
 * only on a real cluster (OUT_OF_MEMORY, PREEMPTED) requeues like any other; resubmitted alone
 * with an ordinary id, an attempt is no task any more. */
static void test_array_tasks(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t jobs[2] = {submit(f, 2), submit(f, 1)}, rows[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(hs_cluster_attempt_create(f->store, jobs[t], 1, "hs-arr", t,
                                                   t ? "h1" : "h0", &rows[t], err, sizeof err),
                         1);
    const int tasks[] = {0, 1};
    assert_int_equal(hs_cluster_array_submitted(f->store, "hs-arr", "42", tasks, 2, err,
                                                sizeof err), 0);
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    hs_cluster_attempt *a = NULL;
    int n = 0;
    assert_int_equal(hs_cluster_active(db, &a, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(a[0].slurm_job_id, "42_0");
    assert_string_equal(a[1].slurm_job_id, "42_1");
    assert_int_equal(a[1].array_task, 1);
    assert_int_equal(hs_cluster_attempt_observe(f->store, &a[1], "RUNNING", "", "n", "44", err,
                                                sizeof err), 0);
    cJSON *j = NULL;
    assert_int_equal(hs_cluster_job_json(db, jobs[1], &j, err, sizeof err), 0);
    cJSON *array = cJSON_GetObjectItemCaseSensitive(j, "array");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(array, "job_id")),
                        "42");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(array, "task")->valueint, 1);
    cJSON_Delete(j);
    assert_int_equal(hs_cluster_attempt_observe(f->store, &a[0], "RUNNING", "", "n", "43", err,
                                                sizeof err), 0);
    assert_int_equal(hs_cluster_attempt_end(f->store, &a[0], "OUT_OF_MEMORY", "", false, err,
                                            sizeof err), 0);
    assert_int_equal(hs_cluster_attempt_end(f->store, &a[1], "PREEMPTED", "", false, err,
                                            sizeof err), 0);
    free(a);
    assert_int_equal(store_fixture_query_int(f, "SELECT raw_id FROM cluster_array_tasks WHERE"
                                                " attempt_id=?", rows[1]), 44);
    assert_int_equal(store_fixture_query_int(f, "SELECT state='queued' FROM jobs WHERE id=?",
                                             jobs[0]), 1); /* attempts remain */
    assert_int_equal(store_fixture_query_int(f, "SELECT state='failed' FROM jobs WHERE id=?",
                                             jobs[1]), 1);
    /* The retry of job 0 goes alone: an ordinary id makes its row an ordinary attempt. */
    int64_t row = 0;
    assert_int_equal(hs_cluster_attempt_create(f->store, jobs[0], 2, "hs-arr", 0, "h2", &row, err,
                                               sizeof err), 1);
    assert_int_equal(hs_cluster_attempt_submitted(f->store, row, "50", err, sizeof err), 0);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM cluster_array_tasks WHERE"
                                                " attempt_id=?", row), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test_setup_teardown(test_migrations_with_gaps, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_attempt_once_and_running, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_end_requeues_then_fails, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_wins, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tokens_and_sequence, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_claim_skips_cluster_jobs, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_array_tasks, store_fixture_setup,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
