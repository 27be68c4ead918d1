/* The worker's implementation of the runner API (kinds/runner.h) over the store: progress
 * (throttled, the last one always written), log lines appended to the job's log
 * (store/job_log.h, paths shown relative to their roots), curve points, head statistics and
 * checkpoints as rows, the result kept until the worker commits the final transition. */
#ifndef HS_WORKER_CONTEXT_H
#define HS_WORKER_CONTEXT_H
#include "kinds/runner.h"
#include "store/job_log.h"
#include "store/store.h"

typedef struct hs_worker_job_state {
    hs_store *store;
    hs_job_log *log;              /* the job's log (store/job_log.h), NULL if it cannot open */
    bool (*stop_requested)(void *arg); /* the worker's should_stop */
    void *stop_arg;
    int64_t last_progress_ms;
    int64_t pending_step, pending_total;
    char pending_message[256];
    bool progress_pending;
    char *result_json;            /* from store_result, malloc'd */
    bool storage_failed;          /* a write failed: the job fails with storage_error */
    char storage_error[512];
} hs_worker_job_state;

extern const hs_job_ctx_ops hs_worker_ctx_ops;

/* Writes the last throttled progress, if any. */
void hs_worker_ctx_flush_progress(hs_job_ctx *ctx);

#endif
