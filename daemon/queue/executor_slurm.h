/* The slurm executor (`surgeond serve --executor slurm`): instead of running jobs on worker
 * threads, one thread submits queued jobs as Slurm batch jobs (`surgeond run --report-to` on
 * the node, which reports back over HTTP, http/api_report.c), at most max_jobs at once and
 * highest priority first, and follows them with squeue/sacct: PENDING keeps the job queued
 * (with Slurm's reason), RUNNING makes it running, an end without a reported result requeues
 * it (from its last checkpoint) while attempts remain. Cancels become scancel. The first
 * attempts of a sweep's jobs that are ready together go as one job array (sbatch --array, one
 * task per attempt, followed as "<array>_<task>"); a retry goes alone. After a restart it picks
 * every recorded attempt up again, so none is lost or started twice. The HTTP threads never
 * wait on it. */
#ifndef HS_EXECUTOR_SLURM_H
#define HS_EXECUTOR_SLURM_H
#include "kinds/kinds.h"
#include "queue/slurm_cmd.h"
#include "store/store.h"

typedef struct hs_slurm_config {
    hs_slurm_resources defaults; /* --slurm-partition, -account, -gres, -cpus, -mem, -time */
    int max_jobs;                /* --max-cluster-jobs */
    char report_url[256];        /* "http://HOST:PORT" the nodes reach the daemon at */
    char surgeond[1024];         /* the binary the nodes run (absolute) */
    const char *device;          /* the runner's --device; "auto": cuda:0 with a gpu gres */
    int poll_ms;
} hs_slurm_config;

typedef struct hs_slurm_executor hs_slurm_executor;

int hs_slurm_executor_start(hs_store *store, const hs_kind_env *env, const hs_slurm_config *cfg,
                            hs_slurm_executor **out, char *err, size_t errlen);
/* Stops the thread; cluster jobs keep running and are picked up at the next start. */
void hs_slurm_executor_stop(hs_slurm_executor *ex);

#endif
