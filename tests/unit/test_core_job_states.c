/* Unit tests of the job state machine (daemon/store/job_states.c) and of its guarded transitions in
 * the store (daemon/store/job_store.c) on a real SQLite database in a temporary directory: claim
 * order, compare-and-set transitions, cancel, start-up reconciliation, idempotent submit, and
 * one event row per transition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/job_states.h"
#include "store/job_store.h"
#include "store/store.h"
#include "test_store_util.h"

static void test_transition_table(void **state)
{
    (void)state;
    /* The complete table, written out: from → allowed targets. */
    const char *allowed[HS_JOB_STATE_COUNT] = {
        [HS_JOB_QUEUED] = "running cancelled failed",
        [HS_JOB_RUNNING] = "succeeded failed cancelled queued",
        [HS_JOB_SUCCEEDED] = "",
        [HS_JOB_FAILED] = "",
        [HS_JOB_CANCELLED] = "",
    };
    for (int from = 0; from < HS_JOB_STATE_COUNT; from++)
        for (int to = 0; to < HS_JOB_STATE_COUNT; to++) {
            bool want = strstr(allowed[from], hs_job_state_name(to)) != NULL;
            if (hs_job_transition_allowed(from, to) != want)
                fail_msg("%s -> %s: expected %s", hs_job_state_name(from), hs_job_state_name(to),
                         want ? "allowed" : "refused");
        }
    assert_false(hs_job_transition_allowed(-1, HS_JOB_RUNNING));
    assert_false(hs_job_transition_allowed(HS_JOB_QUEUED, HS_JOB_STATE_COUNT));
    assert_true(hs_job_state_is_final(HS_JOB_SUCCEEDED));
    assert_true(hs_job_state_is_final(HS_JOB_FAILED));
    assert_true(hs_job_state_is_final(HS_JOB_CANCELLED));
    assert_false(hs_job_state_is_final(HS_JOB_QUEUED));
    assert_false(hs_job_state_is_final(HS_JOB_RUNNING));
    for (int s = 0; s < HS_JOB_STATE_COUNT; s++)
        assert_int_equal(hs_job_state_parse(hs_job_state_name(s)), s);
    assert_int_equal(hs_job_state_parse("done"), -1);
    assert_int_equal(hs_job_state_parse(NULL), -1);
}

static int64_t submit(hs_store *s, int priority, const char *client_id, int max_attempts)
{
    hs_job_submit_req req = {.kind = "test-steps", .spec_json = "{\"kind\":\"test-steps\",\"steps\":1}",
                             .priority = priority, .client_id = client_id,
                             .max_attempts = max_attempts};
    int64_t id = 0;
    char err[512];
    int rc = hs_job_submit(s, &req, &id, err, sizeof err);
    if (rc < 0)
        fail_msg("submit: %s", err);
    return id;
}

static void test_claim_order_priority_then_fifo(void **state)
{
    store_fixture *f = *state;
    int64_t a = submit(f->store, 0, NULL, 3);
    int64_t b = submit(f->store, 5, NULL, 3);
    int64_t c = submit(f->store, 0, NULL, 3);
    int64_t d = submit(f->store, 5, NULL, 3);
    int64_t expected[] = {b, d, a, c};
    char err[512];
    for (int i = 0; i < 4; i++) {
        hs_claimed_job job;
        assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 1);
        assert_int_equal(job.id, expected[i]);
        assert_int_equal(job.attempt, 1);
        assert_string_equal(job.kind, "test-steps");
        assert_non_null(strstr(job.spec_json, "\"steps\":1"));
        hs_claimed_job_free(&job);
        assert_string_equal(store_fixture_job_state(f, expected[i]), "running");
    }
    hs_claimed_job none;
    assert_int_equal(hs_job_claim(f->store, "cpu", &none, err, sizeof err), 0);
}

static void test_guarded_transitions(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t id = submit(f->store, 0, NULL, 3);
    /* queued → succeeded is not allowed; running is only entered by a claim */
    assert_int_equal(hs_job_transition_commit(f->store, id, HS_JOB_QUEUED, HS_JOB_SUCCEEDED, "x",
                                              "{}", NULL, err, sizeof err), 0);
    assert_int_equal(hs_job_transition_commit(f->store, id, HS_JOB_QUEUED, HS_JOB_RUNNING, "x",
                                              NULL, NULL, err, sizeof err), 0);
    /* the compare-and-set refuses a wrong "from" */
    assert_int_equal(hs_job_transition_commit(f->store, id, HS_JOB_RUNNING, HS_JOB_SUCCEEDED, "x",
                                              "{}", NULL, err, sizeof err), 0);
    assert_string_equal(store_fixture_job_state(f, id), "queued");
    hs_claimed_job job;
    assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 1);
    hs_claimed_job_free(&job);
    assert_int_equal(hs_job_transition_commit(f->store, id, HS_JOB_RUNNING, HS_JOB_SUCCEEDED,
                                              "done", "{\"x\":1}", NULL, err, sizeof err), 1);
    assert_string_equal(store_fixture_job_state(f, id), "succeeded");
    /* a second finish is refused: the job is no longer running */
    assert_int_equal(hs_job_transition_commit(f->store, id, HS_JOB_RUNNING, HS_JOB_FAILED, "late",
                                              NULL, "late", err, sizeof err), 0);
    assert_string_equal(store_fixture_job_state(f, id), "succeeded");
    /* one event per transition: submit, claim, finish */
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM job_events WHERE job_id=?1", id), 3);
    assert_int_equal(store_fixture_query_int(f, "SELECT finished_at IS NOT NULL FROM jobs WHERE id=?1", id), 1);

    cJSON *json;
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(hs_job_get_json(db, id, &json, err, sizeof err), 0);
    assert_non_null(json);
    assert_string_equal(cJSON_GetObjectItem(json, "state")->valuestring, "succeeded");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "result"), "x")->valueint, 1);
    cJSON_Delete(json);
    assert_int_equal(hs_job_get_json(db, id + 100, &json, err, sizeof err), 0);
    assert_null(json);
}

static void test_cancel(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t running = submit(f->store, 1, NULL, 3);
    int64_t queued = submit(f->store, 0, NULL, 3);
    hs_claimed_job job;
    assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 1);
    assert_int_equal(job.id, running);
    hs_claimed_job_free(&job);
    hs_cancel_outcome out;
    assert_int_equal(hs_job_cancel(f->store, queued, &out, err, sizeof err), 0);
    assert_int_equal(out, HS_CANCEL_DONE);
    assert_string_equal(store_fixture_job_state(f, queued), "cancelled");
    assert_int_equal(hs_job_cancel(f->store, running, &out, err, sizeof err), 0);
    assert_int_equal(out, HS_CANCEL_REQUESTED);
    assert_string_equal(store_fixture_job_state(f, running), "running");
    bool requested = false;
    hs_db *db = hs_store_reader(f->store, err, sizeof err);
    assert_int_equal(hs_job_cancel_requested(db, running, &requested, err, sizeof err), 0);
    assert_true(requested);
    assert_int_equal(hs_job_cancel(f->store, queued, &out, err, sizeof err), 0);
    assert_int_equal(out, HS_CANCEL_FINAL);
    assert_int_equal(hs_job_cancel(f->store, 9999, &out, err, sizeof err), 0);
    assert_int_equal(out, HS_CANCEL_NOT_FOUND);
    /* the cancelled queued job never claimed */
    assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 0);
}

static void test_reconcile_after_crash(void **state)
{
    store_fixture *f = *state;
    char err[512];
    int64_t retry = submit(f->store, 3, NULL, 3);
    int64_t last = submit(f->store, 2, NULL, 1);
    int64_t cancel = submit(f->store, 1, NULL, 3);
    int64_t untouched = submit(f->store, 0, NULL, 3);
    hs_claimed_job job;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 1);
        hs_claimed_job_free(&job);
    }
    hs_cancel_outcome out;
    assert_int_equal(hs_job_cancel(f->store, cancel, &out, err, sizeof err), 0);
    /* "crash": reopen the store, then reconcile */
    hs_store_close(f->store);
    assert_int_equal(hs_store_open(f->db_path, &f->store, err, sizeof err), 0);
    int requeued = -1, failed = -1;
    assert_int_equal(hs_job_reconcile(f->store, &requeued, &failed, err, sizeof err), 0);
    assert_int_equal(requeued, 1);
    assert_int_equal(failed, 1);
    assert_string_equal(store_fixture_job_state(f, retry), "queued");
    assert_string_equal(store_fixture_job_state(f, last), "failed");
    assert_string_equal(store_fixture_job_state(f, cancel), "cancelled");
    assert_string_equal(store_fixture_job_state(f, untouched), "queued");
    assert_int_equal(store_fixture_query_int(f, "SELECT error='daemon restarted' FROM jobs WHERE id=?1", last), 1);
    /* the requeued job runs again as attempt 2 */
    assert_int_equal(hs_job_claim(f->store, "cpu", &job, err, sizeof err), 1);
    assert_int_equal(job.id, retry);
    assert_int_equal(job.attempt, 2);
    hs_claimed_job_free(&job);
    /* graceful-shutdown requeue gives the attempt back */
    assert_int_equal(hs_job_requeue_unfinished(f->store, retry, "stopping", err, sizeof err), 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT attempt FROM jobs WHERE id=?1", retry), 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM job_events WHERE job_id=?1", retry), 5);
}

static void test_idempotent_submit(void **state)
{
    store_fixture *f = *state;
    int64_t a = submit(f->store, 0, "client-1", 3);
    int64_t b = submit(f->store, 0, "client-1", 3);
    int64_t c = submit(f->store, 0, "client-2", 3);
    assert_int_equal(a, b);
    assert_true(c != a);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM jobs WHERE ?1=?1", 0), 2);
}

static void test_migrations_are_versioned(void **state)
{
    store_fixture *f = *state;
    assert_true(store_fixture_query_int(f, "PRAGMA user_version", 0) >= 1);
    assert_int_equal(store_fixture_query_int(f, "SELECT COUNT(*) FROM sqlite_master WHERE name='jobs' AND ?1=?1", 0), 1);
    /* reopening does not re-apply anything */
    char err[512];
    hs_store_close(f->store);
    assert_int_equal(hs_store_open(f->db_path, &f->store, err, sizeof err), 0);
    /* a database from a newer binary is refused */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    hs_store *other = NULL;
    assert_int_equal(hs_store_open(f->db_path, &other, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test_setup_teardown(test_claim_order_priority_then_fifo, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_guarded_transitions, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_after_crash, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_submit, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_migrations_are_versioned, store_fixture_setup,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
