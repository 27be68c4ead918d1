/* The sweeps and sweep_jobs tables (schema/006): a sweep is a base job spec and a grid, stored
 * with one ordinary job per combination of grid values, all inserted in one transaction, and
 * read back with each job's state and values. Knows nothing of HTTP or of grids' expansion
 * (http/api_sweeps.c does that). */
#ifndef HS_SWEEP_STORE_H
#define HS_SWEEP_STORE_H
#include "job_store.h"
#include "store.h"
#include <cjson/cJSON.h>

typedef struct hs_sweep_job {
    hs_job_submit_req req;   /* the combination's spec (client_id NULL) */
    const char *params_json; /* its grid values, {"field": value, ...} */
} hs_sweep_job;

/* Inserts the sweep and its n jobs (queued, reason "submitted by sweep N"); 0 with *sweep_id,
 * or -1 with err (nothing inserted). */
int hs_sweep_create(hs_store *store, const char *name, const char *spec_json,
                    const char *grid_json, const hs_sweep_job *jobs, int n, int64_t *sweep_id,
                    char *err, size_t errlen);
/* {id, name, job, grid, created_at, counts: {state: n}, jobs: [{id, state, params, attempt,
 * error}]}; *out NULL (and 0) when there is no such sweep. */
int hs_sweep_get_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen);
/* [{id, name, created_at, jobs}] newest first, at most limit. */
int hs_sweep_list_json(hs_db *db, int limit, cJSON **out, char *err, size_t errlen);
/* {"id", "params"} of the sweep a job belongs to, or NULL (and 0). */
int hs_sweep_of_job_json(hs_db *db, int64_t job_id, cJSON **out, char *err, size_t errlen);

#endif
