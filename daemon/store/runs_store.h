/* The stored outcomes of runs beside the jobs table: per-head statistics, curves and
 * checkpoints (tables head_stats, curves, checkpoints), written through the runner API and read
 * as API JSON. Knows nothing of HTTP or of job states beyond "succeeded diagnose". */
#ifndef HS_RUNS_STORE_H
#define HS_RUNS_STORE_H
#include "run_rows.h"
#include "store.h"
#include <cjson/cJSON.h>

int hs_runs_add_curve_point(hs_store *store, int64_t run_id, int64_t step, double epoch,
                            const char *name, double value, char *err, size_t errlen);
int hs_runs_store_head_stats(hs_store *store, int64_t run_id, const char *checkpoint,
                             const hs_head_stat_row *rows, int n_rows, char *err, size_t errlen);
int hs_runs_store_checkpoint(hs_store *store, int64_t run_id, const hs_checkpoint_row *row,
                             char *err, size_t errlen);

/* The same three writes inside the caller's write transaction (db from hs_store_write_begin),
 * for a batch of reports applied atomically. */
int hs_runs_add_curve_point_db(hs_db *db, int64_t run_id, int64_t step, double epoch,
                               const char *name, double value, char *err, size_t errlen);
int hs_runs_store_head_stats_db(hs_db *db, int64_t run_id, const char *checkpoint,
                                const hs_head_stat_row *rows, int n_rows, char *err,
                                size_t errlen);
int hs_runs_store_checkpoint_db(hs_db *db, int64_t run_id, const hs_checkpoint_row *row,
                                char *err, size_t errlen);

/* {layer, head, bos_mass, entropy, local_mass, class} rows of a succeeded diagnose run, or
 * NULL with err (not found, not a diagnose job, not succeeded). */
cJSON *hs_runs_load_diagnosis(hs_db *db, int64_t run_id, char *err, size_t errlen);

/* API arrays: checkpoint NULL = all checkpoints; name NULL = all curves. */
int hs_runs_heads_json(hs_db *db, int64_t run_id, const char *checkpoint, cJSON **out,
                       char *err, size_t errlen);
int hs_runs_curves_json(hs_db *db, int64_t run_id, const char *name, cJSON **out, char *err,
                        size_t errlen);
int hs_runs_checkpoints_json(hs_db *db, int64_t run_id, cJSON **out, char *err, size_t errlen);

#endif
