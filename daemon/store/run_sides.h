/* One side of a comparison: the head statistics a run stored under one checkpoint ("" for a
 * diagnose or evaluate run's own diagnosis; "start", "epoch-N", ... of a surgery) as an
 * L x H grid, with what identifies it (kind, model), its perplexity when it has one and a
 * surgery's target heads. Read only; the comparison itself is the caller's. */
#ifndef HS_RUN_SIDES_H
#define HS_RUN_SIDES_H
#include "store.h"
#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct hs_side_head {
    double bos_mass, entropy, local_mass;
    char cls[16]; /* "healthy", "bos-sink", "dead", "low-entropy" */
} hs_side_head;

typedef struct hs_run_side {
    int64_t run_id;
    char checkpoint[128]; /* "" for the run's own diagnosis */
    char kind[64];
    char model[512];      /* the spec's model ("" when none) */
    int n_layer, n_head;
    hs_side_head *heads;  /* [n_layer * n_head], layer-major; malloc'd */
    double ppl;           /* NAN when the side has none */
    cJSON *targets;       /* a surgery's {"layer": [heads]}, or NULL */
} hs_run_side;

typedef enum hs_side_status {
    HS_SIDE_OK,
    HS_SIDE_NO_RUN,        /* 404 */
    HS_SIDE_NO_CHECKPOINT, /* 404: the run has no such checkpoint */
    HS_SIDE_NO_HEADS       /* 400: it exists but stored no (complete) head statistics */
} hs_side_status;

/* Loads run_id's side at checkpoint ("" or NULL: the run's own). 0 with *status (side filled
 * only when OK), or -1 with err. */
int hs_run_side_load(hs_db *db, int64_t run_id, const char *checkpoint, hs_run_side *side,
                     hs_side_status *status, char *err, size_t errlen);
void hs_run_side_free(hs_run_side *side);

#endif
