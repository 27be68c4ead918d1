/* A model of any family (daemon/engine/families/) resident on a device: config, tokenizer, and
 * every parameter in ONE backend allocation sized from the parameter table at load time, with
 * per-layer pointers by offset (llm.c style). Loads an HF model directory (config.json,
 * model.safetensors or shards, tokenizer.json) through the formats code, with the tensor names
 * and QKV layout of its family; fp16/bf16 weights are upcast to fp32.
 * Notation: V vocab, C hidden, F MLP hidden, H heads, d head_dim, L layers. */
#ifndef HS_MODEL_H
#define HS_MODEL_H
#include "engine/families/model_config.h"
#include "ops.h"
#include "engine/formats/safetensors.h"
#include "engine/formats/tokenizer.h"
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct hs_layer_params {
    /* NULL where the family has no such tensor (docs/model-families.md: MPT has no biases). */
    float *ln1_w, *ln1_b;   /* [C]      the attention layernorm */
    float *qkv_w;           /* [3C, C]  fused QKV weight, rows [head][q|k|v][d] whatever the file's
                             *          layout (the family's qkv_layout is undone at load) */
    float *qkv_b;           /* [3C]     same rows */
    float *dense_w;         /* [C, C]   attention output projection */
    float *dense_b;         /* [C] */
    float *ln2_w, *ln2_b;   /* [C]      the MLP layernorm */
    float *fc_w;            /* [F, C]   MLP up projection */
    float *fc_b;            /* [F] */
    float *proj_w;          /* [C, F]   MLP down projection */
    float *proj_b;          /* [C] */
} hs_layer_params;

typedef struct hs_model_params {
    float *wte;                  /* [V, C] token embeddings, also the tied LM head */
    float *wte_ln_w, *wte_ln_b;  /* [C]    embedding layernorm, NULL when the family has none */
    hs_layer_params *layers;     /* [L]    host array; pointers into the one allocation */
    float *lnf_w, *lnf_b;        /* [C]    final layernorm (lnf_b NULL without bias) */
} hs_model_params;

/* One row of the parameter table: the family's tensor name (without `transformer.`), its slot
 * and layer, shape, and where the tensor lives inside the allocation. Order = the order of
 * the allocation. */
typedef struct hs_tensor_ref {
    char name[96];
    hs_tensor_slot slot;
    int layer;          /* −1 for global slots */
    int ndim;           /* 1 or 2 */
    int64_t shape[2];
    size_t offset;      /* in floats from the start of param_memory */
    size_t numel;
} hs_tensor_ref;

typedef struct hs_model {
    hs_model_config cfg;          /* cfg.family: the descriptor everything below follows */
    hs_tokenizer *tok;
    const hs_backend *be;
    hs_backend_ctx *bctx;
    float *param_memory;          /* one backend allocation of n_params floats */
    size_t n_params;
    hs_model_params p;
    hs_tensor_ref *tensors;       /* host [n_tensors] */
    size_t n_tensors;
    float *slopes;                /* [H] backend memory, the family's ALiBi slopes */
    hs_dtype source_dtype;        /* dtype the checkpoint stored (checkpoints are written back in it) */
    char path[4096];              /* the model directory (absolute) */
    long long files_mtime_ns;     /* newest mtime over its files: the cache key with path */
    /* Added by the graph (private to model_*.c): the forward pass's activation buffers,
     * reused between calls while they are large enough. NULL until the first forward. */
    struct hs_model_fwd_acts *fwd;
} hs_model;

/* Loads the HF model directory `dir` onto the backend. Every missing tensor or wrong shape is
 * an error naming the file and the tensor. */
hs_model *hs_model_load(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                              char *err, size_t errlen);
void hs_model_free(hs_model *m);
/* Newest modification time (ns) over the regular files of a model directory: what
 * files_mtime_ns holds, so a cache can tell whether a loaded model is stale. */
int hs_model_dir_mtime_ns(const char *dir, long long *mtime_ns, char *err, size_t errlen);
/* The tensor with this name (the family's, with or without `transformer.`), or NULL. */
const hs_tensor_ref *hs_model_find_tensor(const hs_model *m, const char *name);

#endif
