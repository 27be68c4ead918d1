/* Names and allowed transitions of job states (job_states.h). */
#include "job_states.h"
#include <string.h>

static const char *const state_names[HS_JOB_STATE_COUNT] = {
    [HS_JOB_QUEUED] = "queued",       [HS_JOB_RUNNING] = "running",
    [HS_JOB_SUCCEEDED] = "succeeded", [HS_JOB_FAILED] = "failed",
    [HS_JOB_CANCELLED] = "cancelled",
};

/* allowed[from][to] */
static const bool allowed[HS_JOB_STATE_COUNT][HS_JOB_STATE_COUNT] = {
    [HS_JOB_QUEUED] = {[HS_JOB_RUNNING] = true, [HS_JOB_CANCELLED] = true,
                       /* a job that can never run (unknown kind after a downgrade) */
                       [HS_JOB_FAILED] = true},
    [HS_JOB_RUNNING] = {[HS_JOB_SUCCEEDED] = true, [HS_JOB_FAILED] = true,
                        [HS_JOB_CANCELLED] = true, [HS_JOB_QUEUED] = true},
};

const char *hs_job_state_name(hs_job_state s)
{
    return (unsigned)s < HS_JOB_STATE_COUNT ? state_names[s] : "?";
}

int hs_job_state_parse(const char *name)
{
    for (int i = 0; i < HS_JOB_STATE_COUNT; i++)
        if (name && strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

bool hs_job_state_is_final(hs_job_state s)
{
    return s == HS_JOB_SUCCEEDED || s == HS_JOB_FAILED || s == HS_JOB_CANCELLED;
}

bool hs_job_transition_allowed(hs_job_state from, hs_job_state to)
{
    if ((unsigned)from >= HS_JOB_STATE_COUNT || (unsigned)to >= HS_JOB_STATE_COUNT)
        return false;
    return allowed[from][to];
}
