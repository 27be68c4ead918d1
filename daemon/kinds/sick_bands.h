/* A diagnosis's sickness by head index set against the ALiBi slopes: per head index its slope
 * and the number of layers where it is not healthy, and the Spearman rank correlation of
 * slope against sick layers (docs/api.md "Diagnose result"). */
#ifndef HS_SICK_BANDS_H
#define HS_SICK_BANDS_H
#include "engine/diagnosis/diagnosis.h"
#include "engine/families/model_config.h"
#include <cjson/cJSON.h>

/* Spearman's rho of x and y (average ranks for ties); NAN when n < 2 or either is constant. */
double hs_spearman(const double *x, const double *y, int n);
/* Adds "head_bands": [{head, slope, sick_layers}] and "slope_sickness_spearman" (null when
 * undefined) to result. 0, or -1 when out of memory. */
int hs_sick_bands_add_json(cJSON *result, const hs_diagnosis *d, const hs_model_config *cfg);

#endif
