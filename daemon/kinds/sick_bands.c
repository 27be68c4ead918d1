/* Slope against sickness per head index of a diagnosis (sick_bands.h). */
#include "sick_bands.h"
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* Average ranks (1-based) of v into r. */
static void ranks(const double *v, double *r, int n)
{
    for (int i = 0; i < n; i++) {
        int below = 0, equal = 0;
        for (int j = 0; j < n; j++) {
            below += v[j] < v[i];
            equal += v[j] == v[i];
        }
        r[i] = below + (equal + 1) / 2.0;
    }
}

static bool constant(const double *v, int n)
{
    for (int i = 1; i < n; i++)
        if (v[i] != v[0])
            return false;
    return true;
}

double hs_spearman(const double *x, const double *y, int n)
{
    if (n < 2 || constant(x, n) || constant(y, n))
        return NAN;
    double *rx = malloc(2 * (size_t)n * sizeof *rx);
    if (!rx)
        return NAN;
    double *ry = rx + n;
    ranks(x, rx, n);
    ranks(y, ry, n);
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += rx[i];
        my += ry[i];
    }
    mx /= n;
    my /= n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    free(rx);
    if (sxx <= 0 || syy <= 0)
        return NAN;
    return sxy / sqrt(sxx * syy);
}

int hs_sick_bands_add_json(cJSON *result, const hs_diagnosis *d, const hs_model_config *cfg)
{
    int H = d->n_head;
    float *slopes = calloc(H > 0 ? (size_t)H : 1, sizeof *slopes);
    double *xs = calloc(H > 0 ? 2 * (size_t)H : 1, sizeof *xs);
    cJSON *bands = cJSON_CreateArray();
    int rc = slopes && xs && bands ? 0 : -1;
    if (rc == 0 && cfg->family && cfg->family->alibi_slopes)
        cfg->family->alibi_slopes(cfg, slopes);
    for (int h = 0; rc == 0 && h < H; h++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(bands, o)) {
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        xs[h] = slopes[h];
        xs[H + h] = d->sick_band[h];
        if (!cJSON_AddNumberToObject(o, "head", h) ||
            !cJSON_AddNumberToObject(o, "slope", slopes[h]) ||
            !cJSON_AddNumberToObject(o, "sick_layers", d->sick_band[h]))
            rc = -1;
    }
    if (rc == 0 && cJSON_AddItemToObject(result, "head_bands", bands)) {
        bands = NULL;
        double rho = hs_spearman(xs, xs + H, H);
        cJSON *v = isfinite(rho) ? cJSON_CreateNumber(rho) : cJSON_CreateNull();
        if (!v || !cJSON_AddItemToObject(result, "slope_sickness_spearman", v)) {
            cJSON_Delete(v);
            rc = -1;
        }
    } else
        rc = -1;
    cJSON_Delete(bands);
    free(slopes);
    free(xs);
    return rc;
}
