/* GET /api/v1/sick-bands?runs=1,2,3: several diagnoses' head bands side by side (model, shape,
 * per head index its ALiBi slope and sick layers, the slope/sickness Spearman correlation),
 * in the order given, so the band can be followed across model scales. */
#include "api.h"
#include "common/errors.h"
#include "store/run_bands.h"
#include <stdlib.h>

#define MAX_RUNS 64

/* One run's entry appended to arr; -1 after answering (400/404/500). */
static int add_run(hs_resp *resp, hs_db *db, int64_t id, cJSON *arr)
{
    cJSON *o;
    hs_bands_status status;
    char err[HS_ERR_LEN];
    if (hs_run_bands_json(db, id, &o, &status, err, sizeof err) != 0)
        return hs_resp_internal(resp, err), -1;
    if (status == HS_BANDS_NO_RUN)
        return hs_resp_error(resp, 404, "not found", "runs", "no run %lld", (long long)id), -1;
    if (status == HS_BANDS_NONE)
        return hs_resp_error(resp, 400, "no head bands", "runs",
                             "run %lld is not a succeeded diagnosis with head bands (a diagnose "
                             "or evaluate run)", (long long)id), -1;
    if (!cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return hs_resp_internal(resp, "out of memory"), -1;
    }
    return 0;
}

void hs_api_sick_bands(hs_req *req, hs_resp *resp)
{
    if (hs_req_query_allowed(req, resp, "runs") != 0)
        return;
    const char *text = hs_req_query(req, "runs");
    if (!text || !*text)
        return hs_resp_error(resp, 400, "invalid query parameter", "runs",
                             "runs is required: comma-separated run ids");
    hs_db *db = hs_req_db(req, resp);
    cJSON *arr = db ? cJSON_CreateArray() : NULL;
    if (!arr)
        return db ? hs_resp_internal(resp, "out of memory") : (void)0;
    int n = 0;
    for (const char *p = text;;) {
        char *end = NULL;
        long long id = strtoll(p, &end, 10);
        if (end == p || id <= 0 || (*end && *end != ',') || ++n > MAX_RUNS) {
            cJSON_Delete(arr);
            return hs_resp_error(resp, 400, "invalid query parameter", "runs",
                                 "runs must be 1..%d comma-separated run ids (got \"%.60s\")",
                                 MAX_RUNS, text);
        }
        if (add_run(resp, db, id, arr) != 0) {
            cJSON_Delete(arr);
            return;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    hs_resp_stored_member(req, resp, 200, "runs", arr);
}
