/* The cluster_jobs table: one row per attempt of a job submitted to Slurm (schema/006), with
 * cluster_array_tasks (schema/007) for the attempts submitted as tasks of a job array. The
 * slurm executor (queue/executor_slurm.c) picks queued jobs, records an attempt before sbatch
 * runs, then what squeue/sacct say about it, and ends it with the job's transition in the same
 * transaction; the report routes (http/api_report.c) check an attempt's token and apply its
 * numbered report batches exactly once. It runs no command and knows nothing of HTTP. */
#ifndef HS_CLUSTER_JOBS_H
#define HS_CLUSTER_JOBS_H
#include "store.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* A queued job with no active attempt, in priority order. */
typedef struct hs_cluster_candidate {
    int64_t job_id;
    int64_t sweep_id; /* the sweep it belongs to, 0 for none */
    int attempt;      /* the attempt a submission now would be (jobs.attempt + 1) */
    char kind[64];
    char *spec_json;  /* malloc'd */
} hs_cluster_candidate;

/* An active attempt with its job's state. */
typedef struct hs_cluster_attempt {
    int64_t row_id, job_id;
    int attempt, max_attempts;
    char slurm_name[64];     /* --job-name (an array's, shared by its tasks) */
    int array_task;          /* the task index in an array, -1 for an ordinary Slurm job */
    char slurm_job_id[32];   /* "" until sbatch answered; "<array>_<task>" for a task */
    char slurm_raw_id[32];   /* a started task's own numeric id, else "" */
    char slurm_state[32];
    char slurm_reason[128];
    char node[128];
    char job_state[16];      /* jobs.state */
    bool cancel_requested, result_reported;
    int64_t submitted_at;
} hs_cluster_attempt;

int hs_cluster_count_active(hs_db *db, int *n, char *err, size_t errlen);
/* Up to limit candidates into *out (free with hs_cluster_candidates_free). */
int hs_cluster_candidates(hs_db *db, int limit, hs_cluster_candidate **out, int *n, char *err,
                          size_t errlen);
void hs_cluster_candidates_free(hs_cluster_candidate *c, int n);
/* Every active attempt into *out (free()). */
int hs_cluster_active(hs_db *db, hs_cluster_attempt **out, int *n, char *err, size_t errlen);

/* The stored spec of a job (malloc'd JSON text). */
int hs_cluster_spec_of(hs_db *db, int64_t job_id, char **spec_json, char *err, size_t errlen);

/* Records an attempt about to be submitted (state SUBMITTING), as task array_task (>= 0) of
 * the array named name or (-1) as an ordinary Slurm job; 1 created, 0 the job is no longer
 * queued or already has an active attempt, -1 error. */
int hs_cluster_attempt_create(hs_store *store, int64_t job_id, int attempt, const char *name,
                              int array_task, const char *token_hash, int64_t *row_id, char *err,
                              size_t errlen);
/* sbatch answered with slurm_job_id (or squeue showed it): the attempt is PENDING. An
 * ordinary id for a task of an array (submitted again alone) makes it an ordinary attempt. */
int hs_cluster_attempt_submitted(hs_store *store, int64_t row_id, const char *slurm_job_id,
                                 char *err, size_t errlen);
/* sbatch answered array_job_id for the n tasks (indexes) of the array named name: each of them
 * still active and not yet recorded becomes "<array_job_id>_<task>", PENDING, in one
 * transaction. */
int hs_cluster_array_submitted(hs_store *store, const char *name, const char *array_job_id,
                               const int *tasks, int n, char *err, size_t errlen);
/* What Slurm says about an active attempt. RUNNING (or any state but PENDING) starts the job
 * (queued → running, its attempt number set) if it has not started yet. raw_id: a started
 * array task's own id (kept when not ""). */
int hs_cluster_attempt_observe(hs_store *store, const hs_cluster_attempt *a, const char *state,
                               const char *reason, const char *node, const char *raw_id,
                               char *err, size_t errlen);
/* Ends an attempt with Slurm's final state and reason, and moves the job on in the same
 * transaction: cancelled when a cancel was requested, unchanged when a result (or a failure)
 * was reported or the job is already final, else requeued while attempts remain and failed
 * otherwise. permanent: a submission Slurm refused outright fails the job at once. */
int hs_cluster_attempt_end(hs_store *store, const hs_cluster_attempt *a, const char *state,
                           const char *reason, bool permanent, char *err, size_t errlen);

/* Which attempt a report token (its hex SHA-256) belongs to: 1 an active attempt of job_id
 * (*row_id set), 2 an active attempt of another job, 0 none. -1 error. */
int hs_cluster_token_lookup(hs_db *db, int64_t job_id, const char *token_hash, int64_t *row_id,
                            char *err, size_t errlen);

/* Applies report batch seq of attempt row_id in one write transaction: apply(db, arg) runs only
 * when seq is the next one (seq == last + 1), then last_seq is advanced. *outcome: 1 applied,
 * 0 already applied (a replay), 2 out of order (a gap), 3 the attempt has ended. The job is
 * marked running first if it has not started yet; node (the runner's, may be NULL) is recorded
 * when squeue has not named one yet (a short job may end before the executor sees it run). */
typedef int (*hs_cluster_apply_fn)(hs_db *db, void *arg, char *err, size_t errlen);
int hs_cluster_apply_batch(hs_store *store, int64_t row_id, int64_t seq, const char *node,
                           hs_cluster_apply_fn apply, void *arg, int *outcome, int64_t *last_seq,
                           char *err, size_t errlen);
/* Inside a batch: the attempt's job, its progress, its outcome. */
int hs_cluster_job_of(hs_db *db, int64_t row_id, int64_t *job_id, int *attempt, char *err,
                      size_t errlen);
int hs_cluster_set_progress_db(hs_db *db, int64_t job_id, int64_t step, int64_t total,
                               const char *message, char *err, size_t errlen);
/* The runner's outcome: result_json != NULL succeeded, else failed with error. 0 or -1. */
int hs_cluster_report_outcome_db(hs_db *db, int64_t row_id, const char *result_json,
                                 const char *error, char *err, size_t errlen);
/* Whether a cancel was requested for the job (the answer to a batch says stop). */
int hs_cluster_stop_requested(hs_db *db, int64_t job_id, bool *stop, char *err, size_t errlen);

/* {"job_id", "array", "state", "reason", "node", "attempt", "active"} of the job's newest
 * attempt ("array": {"job_id", "task"} for a task of an array, else null), or NULL (and 0) when
 * it never went to Slurm. */
int hs_cluster_job_json(hs_db *db, int64_t job_id, cJSON **out, char *err, size_t errlen);

#endif
