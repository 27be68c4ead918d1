/* Reading a diagnosis's head bands from its stored result (run_bands.h). */
#include "run_bands.h"
#include "common/errors.h"
#include <string.h>

/* The row's answer object; NULL when out of memory or the stored bands are not JSON. */
static cJSON *bands_json(sqlite3_stmt *st, int64_t run_id)
{
    cJSON *bands = cJSON_Parse(hs_col_text(st, 5));
    cJSON *o = cJSON_IsArray(bands) ? cJSON_CreateObject() : NULL;
    if (!o) {
        cJSON_Delete(bands);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "run", (double)run_id);
    cJSON_AddStringToObject(o, "kind", hs_col_text(st, 0));
    cJSON_AddStringToObject(o, "model", hs_col_text(st, 2));
    cJSON_AddNumberToObject(o, "layers", sqlite3_column_int(st, 3));
    cJSON_AddNumberToObject(o, "heads", sqlite3_column_int(st, 4));
    if (sqlite3_column_type(st, 6) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "slope_sickness_spearman");
    else
        cJSON_AddNumberToObject(o, "slope_sickness_spearman", sqlite3_column_double(st, 6));
    cJSON_AddItemToObject(o, "head_bands", bands);
    return o;
}

int hs_run_bands_json(hs_db *db, int64_t run_id, cJSON **out, hs_bands_status *status,
                      char *err, size_t errlen)
{
    /* An evaluate run keeps its diagnosis under "diagnosis". */
    static const char sql[] =
        "SELECT j.kind, j.state, COALESCE(s.model, ''),"
        " COALESCE(json_extract(d, '$.model.n_layer'), 0),"
        " COALESCE(json_extract(d, '$.model.n_head'), 0),"
        " json_extract(d, '$.head_bands'), json_extract(d, '$.slope_sickness_spearman')"
        " FROM (SELECT id, kind, state, CASE WHEN NOT json_valid(result) THEN NULL"
        "        WHEN kind = 'evaluate' THEN json_extract(result, '$.diagnosis')"
        "        ELSE result END AS d FROM jobs WHERE id = ?1) j"
        " LEFT JOIN run_summaries s ON s.run_id = j.id";
    *out = NULL;
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st), ret = 0;
    *status = HS_BANDS_NO_RUN;
    if (rc == SQLITE_ROW) {
        bool usable = strcmp(hs_col_text(st, 1), "succeeded") == 0 &&
                      sqlite3_column_type(st, 5) != SQLITE_NULL;
        *status = usable ? HS_BANDS_OK : HS_BANDS_NONE;
        if (usable && !(*out = bands_json(st, run_id)))
            ret = hs_errf(err, errlen, "out of memory reading run %lld", (long long)run_id);
    } else if (rc != SQLITE_DONE)
        ret = hs_db_errf(db, "reading a diagnosis", err, errlen);
    sqlite3_reset(st);
    return ret;
}
