/* The jobs table and its history: submit, the atomic claim, guarded state transitions with
 * their event rows (same transaction), cooperative-cancel requests, progress, the start-up
 * reconciliation of jobs a crash left running, and the job JSON of the API.
 * It never runs a job and knows nothing of HTTP. */
#ifndef HS_JOB_STORE_H
#define HS_JOB_STORE_H
#include "job_states.h"
#include "store.h"
#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct hs_job_submit_req {
    const char *kind;
    const char *spec_json;   /* the whole flat spec, as submitted */
    int priority;
    const char *client_id;   /* NULL: none */
    int max_attempts;
    int64_t schedule_id;     /* 0: not from a schedule */
    int64_t scheduled_for;   /* ms; with schedule_id */
} hs_job_submit_req;

/* Inserts a queued job and its submit event inside the caller's write transaction.
 * Returns 1 (created), 0 (client_id already used: *id is that job), HS_RUN_NAME_TAKEN
 * (run_summaries.h: the run name is another run's) or -1 with err. */
int hs_job_insert(hs_db *db, const hs_job_submit_req *req, const char *reason, int64_t *id,
                  char *err, size_t errlen);
/* hs_job_insert in a group commit (hs_store_write_grouped), waiting for it. */
int hs_job_submit(hs_store *store, const hs_job_submit_req *req, int64_t *id, char *err,
                  size_t errlen);
/* hs_job_insert in a group commit without waiting: once it is committed, done(arg, rc, id,
 * job, err) runs on the store's committer thread with hs_job_insert's rc (1 created, 0
 * existing client_id, -1 with err) and the job's JSON as committed (NULL when rc < 0; done
 * owns it). req and what it points to must stay valid until done is called. 0, or -1 with err
 * when it could not be queued (done is then never called). */
typedef void (*hs_job_submitted_fn)(void *arg, int rc, int64_t id, cJSON *job, const char *err);
int hs_job_submit_queued(hs_store *store, const hs_job_submit_req *req, hs_job_submitted_fn done,
                         void *arg, char *err, size_t errlen);

typedef struct hs_claimed_job {
    int64_t id;
    char kind[64];
    char *spec_json; /* malloc'd */
    int attempt, max_attempts;
} hs_claimed_job;

/* Claims the next queued job (priority first, then FIFO) with one atomic UPDATE and records
 * the event; device names the claiming worker. A job with an active Slurm attempt
 * (cluster_jobs.h) is never claimed: it may be running on the cluster. 1 claimed, 0 none
 * queued, -1 error. */
int hs_job_claim(hs_store *store, const char *device, hs_claimed_job *out, char *err,
                 size_t errlen);
void hs_claimed_job_free(hs_claimed_job *job);

/* Guarded transition inside the caller's transaction: changes the job only if it is in
 * `from` (compare-and-set) and the state machine allows from → to, then adds the event.
 * result_json is stored on success, error on failure/cancel. Returns 1 done, 0 the job was
 * not in `from` (or the transition is not allowed), -1 database error. */
int hs_job_transition(hs_db *db, int64_t id, hs_job_state from, hs_job_state to,
                      const char *reason, const char *result_json, const char *error, char *err,
                      size_t errlen);
/* hs_job_transition in its own transaction. */
int hs_job_transition_commit(hs_store *store, int64_t id, hs_job_state from, hs_job_state to,
                             const char *reason, const char *result_json, const char *error,
                             char *err, size_t errlen);
/* running → queued without consuming the attempt (graceful shutdown stopped it). */
int hs_job_requeue_unfinished(hs_store *store, int64_t id, const char *reason, char *err,
                              size_t errlen);

typedef enum hs_cancel_outcome {
    HS_CANCEL_DONE,      /* was queued, now cancelled */
    HS_CANCEL_REQUESTED, /* running: the runner stops at its next step boundary */
    HS_CANCEL_FINAL,     /* already succeeded/failed/cancelled */
    HS_CANCEL_NOT_FOUND
} hs_cancel_outcome;
int hs_job_cancel(hs_store *store, int64_t id, hs_cancel_outcome *outcome, char *err,
                  size_t errlen);
/* Whether a cancel was requested for this job (the worker's should_stop looks here). */
int hs_job_cancel_requested(hs_db *db, int64_t id, bool *requested, char *err, size_t errlen);

int hs_job_set_progress(hs_store *store, int64_t id, int64_t step, int64_t total,
                        const char *message, char *err, size_t errlen);
int hs_job_store_result(hs_store *store, int64_t id, const char *result_json, char *err,
                        size_t errlen);

/* At start-up: every job left running is requeued while attempts remain (cancelled if a
 * cancel had been requested), else failed with "daemon restarted". Counts are optional.
 * Jobs with an active Slurm attempt (cluster_jobs.h) are left to the slurm executor. */
int hs_job_reconcile(hs_store *store, int *requeued, int *failed, char *err, size_t errlen);

/* Jobs per state. */
int hs_job_counts(hs_db *db, int64_t counts[HS_JOB_STATE_COUNT], char *err, size_t errlen);

/* The job as API JSON; *out NULL (and 0 returned) when there is no such job. */
int hs_job_get_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen);

typedef struct hs_job_filter {
    int state;          /* hs_job_state or -1 */
    const char *kind;   /* NULL: any */
    int64_t before;     /* id < before when > 0 */
    int64_t since_ms;   /* updated_at >= since when >= 0 */
    int limit;
    bool started_only;  /* runs: jobs that have started at least once */
} hs_job_filter;
/* An array of job JSON objects, newest first; *next_before = the last id when the page is
 * full (more may follow), else 0. */
int hs_job_list_json(hs_db *db, const hs_job_filter *f, cJSON **out, int64_t *next_before,
                     char *err, size_t errlen);

#endif
