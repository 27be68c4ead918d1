/* `surgeond serve`'s executor flags: --executor local|slurm, --max-cluster-jobs and the
 * --slurm-* defaults of every submission, parsed into the slurm executor's configuration. */
#ifndef HS_SERVE_SLURM_H
#define HS_SERVE_SLURM_H
#include "queue/executor_slurm.h"
#include <stdbool.h>
#include <stdio.h>

typedef struct hs_serve_executor {
    bool slurm;            /* --executor slurm */
    hs_slurm_config cfg;
    const char *report_url; /* --report-url, else http://<listen> */
} hs_serve_executor;

void hs_serve_executor_init(hs_serve_executor *x);
/* 1 when flag is one of these (value consumed), 0 when not, -1 after printing why value is
 * bad. */
int hs_serve_executor_flag(hs_serve_executor *x, const char *flag, const char *value);
/* Completes cfg once every flag is read (report URL from listen, this binary's path); 0 or -1
 * after printing why not. */
int hs_serve_executor_finish(hs_serve_executor *x, const char *listen);
void hs_serve_executor_usage(FILE *out);

#endif
