/* Helpers of the BLOOM graph's unit tests (test_graph_*.c) on top of test_util.h: reading the
 * HF reference fixtures of tests/reference/ (JSON fields, tensors through the safetensors
 * reader, the reference models), error measures, and a CPU device. Static functions only:
 * each test binary includes this header once. */
#ifndef TEST_GRAPH_UTIL_H
#define TEST_GRAPH_UTIL_H
#include "test_util.h"

#include "engine/model/model_forward.h"
#include "engine/model/model.h"
#include "common/errors.h"
#include "ops.h"
#include "engine/formats/safetensors.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a JSON fixture under the repository root; fails the test if it is missing. */
static inline cJSON *tg_load_json(const char *rel)
{
    cJSON *j = tu_read_json(rel);
    if (!j)
        fail_msg("fixture %s is missing (see tests/reference/README.md)", rel);
    return j;
}

static inline double tg_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        fail_msg("fixture field '%s' is missing or not a number", key);
    return v->valuedouble;
}

static inline const cJSON *tg_item(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        fail_msg("fixture field '%s' is missing", key);
    return v;
}

/* A JSON array of integers as a malloc'd int32 array. */
static inline int32_t *tg_ids(const cJSON *arr, int *n)
{
    int count = cJSON_GetArraySize(arr);
    int32_t *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    assert_non_null(ids);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) ids[i++] = (int32_t)v->valueint;
    *n = count;
    return ids;
}

/* Element [l][h] of a nested [n_layer][n_head] JSON array. */
static inline double tg_lh(const cJSON *arr, int l, int h)
{
    const cJSON *row = cJSON_GetArrayItem(arr, l);
    const cJSON *v = row ? cJSON_GetArrayItem(row, h) : NULL;
    if (!cJSON_IsNumber(v))
        fail_msg("fixture statistic [%d][%d] is missing", l, h);
    return v->valuedouble;
}

/* The tensor `name` of the safetensors file `set` as malloc'd fp32 (numel in *n). */
static inline float *tg_tensor(const hs_st_set *set, const char *name, size_t *n)
{
    const hs_st_tensor *t = hs_st_find(set, name);
    if (!t)
        fail_msg("fixture tensor %s is missing", name);
    float *v = malloc((size_t)t->numel * sizeof(float));
    assert_non_null(v);
    char err[HS_ERR_LEN];
    if (hs_st_to_f32(t, v, err, sizeof err) != 0)
        fail_msg("%s", err);
    *n = (size_t)t->numel;
    return v;
}

/* max|a − ref| / max|ref| over n values. */
static inline double tg_rel_err(const float *a, const float *ref, size_t n)
{
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (d > max_diff || isnan(d))
            max_diff = isnan(d) ? INFINITY : d;
        if (fabs((double)ref[i]) > max_ref)
            max_ref = fabs((double)ref[i]);
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

static inline const hs_backend *tg_cpu(hs_backend_ctx **ctx)
{
    const hs_backend *be = hs_backend_find("cpu");
    assert_non_null(be);
    char err[HS_ERR_LEN];
    *ctx = be->init(0, err, sizeof err);
    if (!*ctx)
        fail_msg("cpu backend: %s", err);
    return be;
}

static inline hs_model *tg_load_model(const char *name, const hs_backend *be, hs_backend_ctx *ctx)
{
    char rel[512], p[4096], err[HS_ERR_LEN];
    snprintf(rel, sizeof rel, "tests/reference/models/%s", name);
    tu_repo_path(p, sizeof p, rel);
    hs_model *m = hs_model_load(p, be, ctx, err, sizeof err);
    if (!m)
        fail_msg("loading %s: %s", name, err);
    return m;
}

#endif
