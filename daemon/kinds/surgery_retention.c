/* Which checkpoints of a surgery are kept (surgery_retention.h). */
#include "surgery_retention.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int hs_retention_parse(const cJSON *value, hs_retention *out, char *why, size_t whylen)
{
    *out = (hs_retention){.mode = HS_KEEP_ALL};
    if (!value || cJSON_IsNull(value))
        return 0;
    if (cJSON_IsString(value) && strcmp(value->valuestring, "all") == 0)
        return 0;
    if (cJSON_IsString(value) && strcmp(value->valuestring, "best_and_final") == 0) {
        out->mode = HS_KEEP_BEST_AND_FINAL;
        return 0;
    }
    double v = cJSON_IsNumber(value) ? value->valuedouble : NAN;
    if (isfinite(v) && v >= 1 && v <= 100000 && floor(v) == v) {
        out->mode = HS_KEEP_LAST_N;
        out->last_n = (int)v;
        return 0;
    }
    snprintf(why, whylen, "keep_checkpoints must be \"all\", \"best_and_final\" or an integer "
                          "from 1 to 100000 (the newest N and the best)");
    return -1;
}

bool hs_retention_keeps(const hs_retention *r, int index, int n, bool best)
{
    if (r->mode == HS_KEEP_ALL || best || index == n - 1)
        return true;
    return r->mode == HS_KEEP_LAST_N && index >= n - r->last_n;
}
