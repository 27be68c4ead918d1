/* Per-token statistics of attention matrices and their fp16 safetensors file (inspect.h).
 * fp16 keeps about three significant digits of each probability (relative error <= 2^-11 for
 * values above 6.1e-5, absolute <= 3e-8 below) at half of fp32's size; a file rather than a
 * database BLOB because a 512-token head is 512 KiB and the store's rows stay small, the
 * writer is already atomic, and any safetensors reader can open it. */
#include "inspect.h"
#include "engine/formats/safetensors.h"
#include "common/errors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void hs_attention_token_stats(const float *map, int T, double *bos, double *entropy,
                              double *local)
{
    for (int t = 0; t < T; t++) {
        const float *row = map + (size_t)t * T;
        double ent = 0.0, loc = 0.0;
        for (int j = 0; j <= t; j++)
            if (row[j] > 0.0f)
                ent -= (double)row[j] * log((double)row[j]);
        for (int j = t >= 2 ? t - 2 : 0; j <= t; j++)
            loc += row[j];
        bos[t] = row[0];
        entropy[t] = ent;
        local[t] = loc;
    }
}

static void tensor_name(char *out, size_t len, int layer, int head)
{
    snprintf(out, len, "l%d.h%d", layer, head);
}

int hs_inspect_write(const char *path, const hs_head_target *heads, int n, const float *maps,
                     int T, char *err, size_t errlen)
{
    hs_st_writer *w = hs_st_writer_new();
    if (!w)
        return hs_errf(err, errlen, "out of memory for the attention file writer");
    const int64_t shape[2] = {T, T};
    int rc = 0;
    for (int k = 0; rc == 0 && k < n; k++) {
        char name[48];
        tensor_name(name, sizeof name, heads[k].layer, heads[k].head);
        rc = hs_st_writer_add_f32(w, name, HS_DTYPE_F16, 2, shape,
                                  maps + (size_t)k * T * (size_t)T, err, errlen);
    }
    if (rc == 0)
        rc = hs_st_writer_write(w, path, err, errlen);
    hs_st_writer_free(w);
    return rc;
}

int hs_inspect_read(const char *path, int layer, int head, float **map, int *T, char *err,
                    size_t errlen)
{
    *map = NULL;
    *T = 0;
    hs_st_set *set = hs_st_open_file(path, err, errlen);
    if (!set)
        return -1;
    char name[48];
    tensor_name(name, sizeof name, layer, head);
    const hs_st_tensor *t = hs_st_find(set, name);
    int rc = 1;
    if (t && (t->ndim != 2 || t->shape[0] != t->shape[1] || t->shape[0] < 1)) {
        rc = hs_errf(err, errlen, "%s: tensor %s is not a square matrix", path, name);
    } else if (t) {
        *map = malloc((size_t)t->numel * sizeof(float));
        if (!*map)
            rc = hs_errf(err, errlen, "out of memory for a %lld-value matrix",
                         (long long)t->numel);
        else if (hs_st_to_f32(t, *map, err, errlen) != 0)
            rc = -1;
        else
            rc = 0, *T = (int)t->shape[0];
        if (rc != 0) {
            free(*map);
            *map = NULL;
        }
    }
    hs_st_close(set);
    return rc;
}

int hs_inspect_list(const char *path, hs_head_target **heads, int *n, int *T, char *err,
                    size_t errlen)
{
    *heads = NULL;
    *n = 0;
    *T = 0;
    hs_st_set *set = hs_st_open_file(path, err, errlen);
    if (!set)
        return -1;
    size_t count = hs_st_count(set);
    *heads = count ? calloc(count, sizeof **heads) : NULL;
    if (count && !*heads) {
        hs_st_close(set);
        return hs_errf(err, errlen, "out of memory listing %zu heads", count);
    }
    for (size_t i = 0; i < count; i++) {
        const hs_st_tensor *t = hs_st_at(set, i);
        hs_head_target h;
        if (sscanf(t->name, "l%d.h%d", &h.layer, &h.head) != 2 || t->ndim != 2)
            continue;
        (*heads)[(*n)++] = h;
        *T = (int)t->shape[0];
    }
    hs_st_close(set);
    return 0;
}
