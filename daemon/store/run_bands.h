/* The head bands a diagnosis stored in its result (per head index: ALiBi slope and sick
 * layers, with the slope/sickness Spearman correlation), read for GET /sick-bands. */
#ifndef HS_RUN_BANDS_H
#define HS_RUN_BANDS_H
#include "store.h"
#include <cjson/cJSON.h>
#include <stdint.h>

typedef enum hs_bands_status {
    HS_BANDS_OK,
    HS_BANDS_NO_RUN,  /* 404 */
    HS_BANDS_NONE     /* 400: not a succeeded diagnose/evaluate run with head bands */
} hs_bands_status;

/* {run, kind, model, layers, heads, slope_sickness_spearman, head_bands} of run_id into *out
 * when OK. 0 with *status, or -1 with err. */
int hs_run_bands_json(hs_db *db, int64_t run_id, cJSON **out, hs_bands_status *status,
                      char *err, size_t errlen);

#endif
