/* The rows a running job hands the store for its run: one per-head statistics row and one
 * checkpoint (docs/architecture.md "Storage"). Shared by the runner API (kinds/runner.h), the
 * worker's and the inline runner contexts, and runs_store.c, which writes them. */
#ifndef HS_RUN_ROWS_H
#define HS_RUN_ROWS_H
#include <stdbool.h>
#include <stdint.h>

/* One per-head statistics row. */
typedef struct hs_head_stat_row {
    int layer, head;
    double bos_mass, entropy, local_mass;
    const char *cls; /* "healthy", "bos-sink", "dead", "low-entropy" */
} hs_head_stat_row;

/* One checkpoint of a run. */
typedef struct hs_checkpoint_row {
    const char *name; /* "epoch-3", "final" */
    const char *path; /* absolute directory */
    int epoch;
    int64_t step;
    double ppl;   /* NAN when not evaluated */
    int woken;    /* -1 when not applicable */
    bool best;
} hs_checkpoint_row;

#endif
