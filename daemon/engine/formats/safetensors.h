/* safetensors reading (mmap, validated headers, sharded index, optional `transformer.` prefix)
 * and atomic writing. Format facts: docs/model-families.md "safetensors". Owns no model semantics: which
 * tensors a BLOOM needs and their shapes are checked by the model loader.
 * All functions follow errors.h; every error names the file and, where there is one, the tensor. */
#ifndef HS_SAFETENSORS_H
#define HS_SAFETENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "half_float.h"

typedef enum hs_dtype {
    HS_DTYPE_BOOL, HS_DTYPE_U8, HS_DTYPE_I8, HS_DTYPE_I16, HS_DTYPE_U16, HS_DTYPE_F16,
    HS_DTYPE_BF16, HS_DTYPE_I32, HS_DTYPE_U32, HS_DTYPE_F32, HS_DTYPE_F64, HS_DTYPE_I64,
    HS_DTYPE_U64, HS_DTYPE_C64, HS_DTYPE_F8_E5M2, HS_DTYPE_F8_E4M3, HS_DTYPE_F8_E8M0,
    HS_DTYPE_F8_E4M3FNUZ, HS_DTYPE_F8_E5M2FNUZ, HS_DTYPE_F4, HS_DTYPE_F6_E2M3, HS_DTYPE_F6_E3M2,
    HS_DTYPE_COUNT
} hs_dtype;

const char *hs_dtype_name(hs_dtype dt);            /* "F16" */
int hs_dtype_from_name(const char *name, hs_dtype *out); /* 0, or -1 if unknown */

#define HS_ST_MAX_DIMS 8
typedef struct hs_st_tensor {
    const char *name;   /* as stored in the file */
    hs_dtype dtype;
    int ndim;
    int64_t shape[HS_ST_MAX_DIMS];
    int64_t numel;
    const void *data;   /* raw little-endian bytes inside the mapping */
    size_t nbytes;
    const char *file;   /* path of the file holding it */
} hs_st_tensor;

/* One checkpoint: a single model.safetensors or every shard named by
 * model.safetensors.index.json, mapped read-only. */
typedef struct hs_st_set hs_st_set;

/* Opens a single .safetensors file. */
hs_st_set *hs_st_open_file(const char *path, char *err, size_t errlen);
/* Opens a model directory: model.safetensors, or model.safetensors.index.json and its shards. */
hs_st_set *hs_st_open_dir(const char *dir, char *err, size_t errlen);
void hs_st_close(hs_st_set *set);
/* Tells the kernel the whole pages inside [data, data + nbytes) of a mapping are not needed
 * for now (their data is kept elsewhere): they leave the process's resident set, and a later
 * read brings them back from the file. Best effort: nothing to check. */
void hs_st_release_pages(const void *data, size_t nbytes);

size_t hs_st_count(const hs_st_set *set);
const hs_st_tensor *hs_st_at(const hs_st_set *set, size_t i);
/* Looks a tensor up by name, accepting it with or without a `transformer.` prefix on either
 * side ("h.0.input_layernorm.weight" finds "transformer.h.0.input_layernorm.weight"). */
const hs_st_tensor *hs_st_find(const hs_st_set *set, const char *name);

/* Converts F32, F16 or BF16 data to fp32 (dst has numel floats). Other dtypes are an error. */
int hs_st_to_f32(const hs_st_tensor *t, float *dst, char *err, size_t errlen);

/* ---- writing ------------------------------------------------------------------------ */
typedef struct hs_st_writer hs_st_writer;
hs_st_writer *hs_st_writer_new(void);
/* Adds a tensor given as fp32 values, stored as dtype (F32, F16 or BF16; round to nearest
 * even like torch). The data is copied. */
int hs_st_writer_add_f32(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                         const int64_t *shape, const float *data, char *err, size_t errlen);
/* Adds raw bytes already in dtype. */
int hs_st_writer_add_raw(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                         const int64_t *shape, const void *data, size_t nbytes, char *err,
                         size_t errlen);
/* Adds raw bytes already in dtype WITHOUT copying them: data must stay valid and unchanged
 * until hs_st_writer_write() returns (a tensor of a memory-mapped checkpoint written back
 * unchanged, so a checkpoint of a big model does not hold a second copy in memory). */
int hs_st_writer_add_borrowed(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                              const int64_t *shape, const void *data, size_t nbytes,
                              char *err, size_t errlen);
/* Optional "__metadata__" entry (string → string); "format": "pt" is added by default. */
int hs_st_writer_set_metadata(hs_st_writer *w, const char *key, const char *value);
/* Writes path atomically: header padded with spaces to a multiple of 8 bytes, tensors in a
 * deterministic order, to path.tmp.<pid>, fsync, rename, fsync of the directory. */
int hs_st_writer_write(hs_st_writer *w, const char *path, char *err, size_t errlen);
void hs_st_writer_free(hs_st_writer *w);

/* fp32 -> fp16/bf16 scalar conversions (round to nearest even), shared with other code; the
 * exact widening hs_f16_to_f32 / hs_bf16_to_f32 comes from half_float.h. */
uint16_t hs_f32_to_f16(float f);
uint16_t hs_f32_to_bf16(float f);

#endif
