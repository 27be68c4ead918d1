/* Unit tests of what the slurm executor reads from Slurm's commands (daemon/queue/slurm_cmd.c):
 * squeue -r lines of array tasks ("7_2") with their raw ids, sacct lines with steps and a
 * requeued job's several records, task indexes of ids, and which states end a job (TIMEOUT,
 * PREEMPTED, NODE_FAIL, OUT_OF_MEMORY, ... end it; PENDING, RUNNING, ... do not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "queue/slurm_cmd.h"

static void test_squeue_array_lines(void **state)
{
    (void)state;
    char text[] = "7_0|8|hs-a|RUNNING|None|vm\n"
                  "7_2|7|hs-a|PENDING|Resources|\n"
                  "12|12|hs-b|CANCELLED by 0|None|(null)\n";
    hs_slurm_job jobs[4];
    int n = 0;
    hs_slurm_parse_jobs(text, "iAnsrN", jobs, 4, &n);
    assert_int_equal(n, 3);
    assert_string_equal(jobs[0].id, "7_0");
    assert_string_equal(jobs[0].raw_id, "8");
    assert_string_equal(jobs[0].node, "vm");
    assert_string_equal(jobs[1].reason, "Resources");
    assert_string_equal(jobs[2].state, "CANCELLED");
    assert_string_equal(jobs[2].reason, "");
    assert_string_equal(jobs[2].node, "");
}

static void test_sacct_lines(void **state)
{
    (void)state;
    char text[] = "9|9|hs-a|NODE_FAIL|vm\n9.batch|9.batch|batch|CANCELLED|vm\n"
                  "9|9|hs-a|OUT_OF_MEMORY|vm\n10|10|hs-c|TIMEOUT|vm\n";
    hs_slurm_job jobs[1];
    int n = 0;
    hs_slurm_parse_jobs(text, "iAnsN", jobs, 1, &n);
    assert_int_equal(n, 1); /* the last record of 9 kept; 10 did not fit */
    assert_string_equal(jobs[0].state, "OUT_OF_MEMORY");
}

static void test_array_task_of_ids(void **state)
{
    (void)state;
    assert_int_equal(hs_slurm_array_task("7_2"), 2);
    assert_int_equal(hs_slurm_array_task("7_15"), 15);
    assert_int_equal(hs_slurm_array_task("12"), -1);
    assert_int_equal(hs_slurm_array_task("7_[2-3]"), -1);
    assert_int_equal(hs_slurm_array_task("7_"), -1);
    assert_int_equal(hs_slurm_array_task(""), -1);
}

static void test_final_states(void **state)
{
    (void)state;
    const char *final[] = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED",
                           "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "VANISHED"};
    const char *live[] = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED",
                          "REQUEUED", ""};
    for (size_t i = 0; i < sizeof final / sizeof *final; i++)
        assert_true(hs_slurm_state_final(final[i]));
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        assert_false(hs_slurm_state_final(live[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_squeue_array_lines),
        cmocka_unit_test(test_sacct_lines),
        cmocka_unit_test(test_array_task_of_ids),
        cmocka_unit_test(test_final_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
