/* The runner API: what a job kind's runner (diagnose, evaluate, surgery, ...) may do while it
 * runs, independent of where it runs. Two implementations exist: the worker's (SQLite-backed,
 * queue/worker_context.c) and the inline one of `surgeond run job.json` (stderr progress,
 * result on stdout). A runner never touches SQLite or HTTP itself.
 * None of these calls blocks the runner on a slow HTTP client: they write to SQLite (WAL)
 * or the job's log file directly. */
#ifndef HS_JOB_RUNNER_H
#define HS_JOB_RUNNER_H
#include "store/run_rows.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

struct hs_device;
typedef struct hs_job_ctx hs_job_ctx;

typedef struct hs_job_ctx_ops {
    bool (*should_stop)(hs_job_ctx *ctx);
    void (*progress)(hs_job_ctx *ctx, int64_t step, int64_t total, const char *message);
    void (*log_line)(hs_job_ctx *ctx, const char *line);
    int (*add_curve_point)(hs_job_ctx *ctx, int64_t step, double epoch, const char *name,
                           double value);
    /* Replaces the rows stored for (this run, checkpoint) — checkpoint "" for a diagnosis. */
    int (*store_head_stats)(hs_job_ctx *ctx, const char *checkpoint, const hs_head_stat_row *rows,
                            int n_rows);
    /* Inserts or replaces the checkpoint with this name. */
    int (*store_checkpoint)(hs_job_ctx *ctx, const hs_checkpoint_row *row);
    /* Removes the checkpoint with this name: its row (and head rows), then its directory
     * (checkpoint retention). */
    int (*drop_checkpoint)(hs_job_ctx *ctx, const char *name);
    /* Stores the result; called once at the end of a successful run (ownership stays with
     * the caller). */
    int (*store_result)(hs_job_ctx *ctx, const cJSON *result);
    /* A finished diagnosis's stored head rows for resolving surgery targets `from_run`:
     * returns a cJSON array of {layer, head, bos_mass, entropy, local_mass, class} the caller
     * frees, or NULL with err set if run_id is not a succeeded diagnose job. */
    cJSON *(*load_diagnosis)(hs_job_ctx *ctx, int64_t run_id, char *err, size_t errlen);
} hs_job_ctx_ops;

struct hs_job_ctx {
    const hs_job_ctx_ops *ops;
    void *impl;               /* the implementation's state */
    int64_t job_id;           /* 0 when inline */
    int attempt;              /* 1 on the first run, 2.. after a restart requeued the job */
    const char *model_root;   /* --model-root (absolute) */
    const char *corpus_root;  /* --corpus-root (absolute) */
    const char *data_dir;     /* --data-dir (absolute) */
    const char *run_dir;      /* <data_dir>/runs/<id>-<instance> (inline: a fresh directory) */
    const char *instance;     /* the database's instance id ("run:<id>/..." names); NULL: none */
    struct hs_device *device; /* the worker's device and model cache */
};

/* Convenience wrappers, so runners read naturally. */
static inline bool hs_job_should_stop(hs_job_ctx *c) { return c->ops->should_stop(c); }
static inline void hs_job_progress(hs_job_ctx *c, int64_t step, int64_t total, const char *msg)
{
    c->ops->progress(c, step, total, msg);
}
/* For runner API implementations that hold the result until the job ends (inline, reported):
 * replaces *slot with a deep copy of result. 0, or -1 when out of memory (*slot unchanged). */
int hs_runner_keep_result(cJSON **slot, const cJSON *result);
void hs_job_logf(hs_job_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
