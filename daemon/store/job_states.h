/* The job state machine: queued → running → succeeded | failed | cancelled, plus the two
 * edges back to queued (a crash or shutdown requeues a running job) and queued → cancelled.
 * Only transitions this table allows are ever written (job_store.c guards each one with a
 * compare-and-set UPDATE on the current state). */
#ifndef HS_JOB_STATES_H
#define HS_JOB_STATES_H
#include <stdbool.h>

typedef enum hs_job_state {
    HS_JOB_QUEUED,
    HS_JOB_RUNNING,
    HS_JOB_SUCCEEDED,
    HS_JOB_FAILED,
    HS_JOB_CANCELLED,
    HS_JOB_STATE_COUNT
} hs_job_state;

const char *hs_job_state_name(hs_job_state s);
/* The state named name, or -1. */
int hs_job_state_parse(const char *name);
bool hs_job_state_is_final(hs_job_state s);
bool hs_job_transition_allowed(hs_job_state from, hs_job_state to);

#endif
