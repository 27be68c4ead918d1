/* A model of any family (daemon/engine/families/) on a device: config, tokenizer, and its
 * parameters. Loads an HF model directory (config.json, model.safetensors or shards,
 * tokenizer.json) through the formats code, with the tensor names and QKV layout of its family.
 *
 * Where the weights live (docs/architecture.md "Weights in their file dtype"):
 * - resident: every parameter as fp32 in ONE backend allocation sized from the parameter table
 *   at load time, with per-layer pointers by offset (llm.c style). fp32 checkpoints, and every
 *   checkpoint on a backend whose memory is not host memory (cuda), load this way.
 * - mapped: on a host-memory backend an fp16/bf16 checkpoint's matrices (token embeddings and
 *   each layer's four weight matrices) stay in the memory-mapped file, in their dtype. A layer's
 *   matrices are widened to fp32 into one layer scratch when the layer runs
 *   (hs_model_layer()); the embeddings are read chunk by chunk by the table ops. The vectors
 *   (layernorms, biases) are resident fp32. Widening is exact, so the numbers are the resident
 *   path's, bit for bit. A surgery makes its target layers' QKV and dense weights resident
 *   (hs_model_make_trainable()) so they can change.
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
    /* NULL where the family has no such tensor (docs/model-families.md: MPT has no biases).
     * In m->p.layers, also NULL for a matrix that is still mapped: read a layer's weights
     * through hs_model_layer(), which widens those. */
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
    float *wte;                  /* [V, C] token embeddings, also the tied LM head; NULL when
                                  * mapped (use hs_model_wte()) */
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
    size_t offset;      /* resident: in floats from the start of param_memory */
    size_t numel;
    /* mapped tensors only: the raw values in the checkpoint mapping, in the file's row order,
     * and where the layer scratch holds them widened; promoted: the own fp32 allocation that
     * hs_model_make_trainable() gave it (rows in the engine's order). */
    const void *file_data;
    hs_table_dtype file_dtype;
    bool mapped;
    size_t scratch_offset;
    float *promoted;
} hs_tensor_ref;

/* How hs_model_load_with() places the weights. */
typedef enum hs_weights_placement {
    HS_WEIGHTS_AUTO = 0,   /* mapped when the backend can read the file's dtype in place; each
                            * matrix kept widened after its first use when the whole model
                            * as fp32 fits HS_KEEP_WIDENED_SHARE of the available memory */
    HS_WEIGHTS_STREAM = 1, /* mapped, matrices widened on every use (a model too big for fp32) */
    HS_WEIGHTS_FP32 = 2,   /* resident fp32 always (the reference the mapped path must equal) */
} hs_weights_placement;

/* The share of the available memory (at load) under which a mapped model keeps the fp32
 * widening of each matrix after its first use, so repeated forwards (generation, many texts)
 * do not widen again: a fast start and, after the first forward, the resident speed. */
#define HS_KEEP_WIDENED_SHARE 0.4

typedef struct hs_model {
    hs_model_config cfg;          /* cfg.family: the descriptor everything below follows */
    hs_tokenizer *tok;
    const hs_backend *be;
    hs_backend_ctx *bctx;
    float *param_memory;          /* one backend allocation: the resident parameters */
    size_t n_params;              /* floats in param_memory */
    bool weights_mapped;          /* some matrices stay in the checkpoint mapping */
    bool keep_widened;            /* mapped matrices become resident fp32 at their first use */
    struct hs_st_set *mapping;    /* the open checkpoint while weights_mapped, else NULL */
    hs_table wte_table;           /* the token embeddings as the table ops read them */
    float *layer_scratch;         /* backend memory: one layer's mapped matrices widened */
    size_t layer_scratch_floats;
    int scratch_layer;            /* the layer whose matrices layer_scratch holds, or −1 */
    hs_layer_params scratch_params; /* that layer's weights with the widened pointers */
    size_t *layer_refs;           /* [L + 1]: tensors of layer l are tensors[layer_refs[l] ..
                                   * layer_refs[l+1]−1] */
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

/* Loads the HF model directory `dir` onto the backend (HS_WEIGHTS_AUTO). Every missing tensor
 * or wrong shape is an error naming the file and the tensor. */
hs_model *hs_model_load(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                              char *err, size_t errlen);
hs_model *hs_model_load_with(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                             hs_weights_placement placement, char *err, size_t errlen);
/* Layer `layer`'s weights as fp32 backend memory: m->p.layers[layer] when the layer is
 * resident, else the layer scratch with its mapped matrices widened (and QKV rows put in the
 * engine's order). Valid until the next call for another layer, hs_model_make_trainable() or
 * free. NULL with err set when widening fails. */
const hs_layer_params *hs_model_layer(hs_model *m, int layer, char *err, size_t errlen);
/* Makes layer `layer`'s QKV and dense weights resident fp32 (no-op when they are), so a surgery
 * can re-initialise and train slices of them in place. */
int hs_model_make_trainable(hs_model *m, int layer, char *err, size_t errlen);
/* The token embeddings as the table ops (embedding, LM head) read them. */
static inline hs_table hs_model_wte(const hs_model *m)
{
    return m->wte_table;
}
/* Tensor t as fp32 into host memory (t->numel floats), rows in the engine's order, wherever it
 * lives (resident, promoted or mapped). */
int hs_model_tensor_to_host(const hs_model *m, const hs_tensor_ref *t, float *host, char *err,
                            size_t errlen);
/* Bytes the model holds in memory: resident parameters, the layer scratch, promoted matrices
 * and the mapped tensors' file bytes (page cache the process maps and touches). */
size_t hs_model_resident_bytes(const hs_model *m);
void hs_model_free(hs_model *m);
/* Newest modification time (ns) over the regular files of a model directory: what
 * files_mtime_ns holds, so a cache can tell whether a loaded model is stale. */
int hs_model_dir_mtime_ns(const char *dir, long long *mtime_ns, char *err, size_t errlen);
/* The tensor with this name (the family's, with or without `transformer.`), or NULL. */
const hs_tensor_ref *hs_model_find_tensor(const hs_model *m, const char *name);

#endif
