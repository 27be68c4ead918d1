/* `surgeond run --report-to URL --job-token-file F`: the runner API over HTTP, for a job the
 * daemon's slurm executor started on a cluster node. Progress, log lines, curve points, head
 * statistics, checkpoints and the outcome go to the daemon's /api/v1/jobs/{id}/report/ routes
 * in numbered batches, retried with backoff until the daemon answers (it may be restarting);
 * checkpoints are written under the shared data dir's runs/<id>/. */
#ifndef HS_RUN_REPORT_H
#define HS_RUN_REPORT_H
#include "engine/device.h"
#include "kinds/spec.h"
#include <cjson/cJSON.h>

typedef struct hs_report_options {
    const char *report_to;   /* http://HOST:PORT/api/v1/jobs/<id>/report */
    const char *token_file;
    int attempt;             /* --attempt, 1.. */
    int retry_s;             /* how long one batch is retried before the runner gives up */
} hs_report_options;

/* Runs the validated spec and reports it; the exit status of `surgeond run` (0 succeeded,
 * 1 failed or could not report, 2 bad options, 3 interrupted). */
int hs_run_reported(const hs_job_spec *parsed, const cJSON *spec, const hs_kind_env *env,
                    hs_device *device, const hs_report_options *o);

#endif
