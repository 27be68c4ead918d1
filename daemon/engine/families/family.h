/* Model families as data: one const hs_family descriptor per ALiBi family (family_bloom.c,
 * family_mpt.c), looked up by config.json's model_type (family_table.c). A descriptor says
 * how config.json maps to the engine's dimensions, which tensors exist and what they are
 * called, how the fused QKV rows are laid out in the file, which GELU and ALiBi slope rule
 * the family uses, and how a checkpoint is written back. The engine (model loading, forward,
 * statistics, masked backward, surgical reinit, checkpoint writer) reads only this; no file
 * outside daemon/engine/families/ names a family. Facts per family: docs/model-families.md. */
#ifndef HS_FAMILY_H
#define HS_FAMILY_H
#include "ops.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct hs_model_config;

/* The engine's parameter slots. Global slots have no layer; per-layer slots repeat for every
 * block. A family names the slots it has and leaves the others NULL (absent: e.g. MPT has no
 * biases and no embedding layernorm). Shapes use C = hidden, F = MLP hidden, V = vocabulary. */
typedef enum hs_tensor_slot {
    HS_SLOT_WTE,         /* [V, C] token embeddings, also the tied LM head */
    HS_SLOT_EMB_LN_W,    /* [C]    layernorm right after the embedding */
    HS_SLOT_EMB_LN_B,    /* [C] */
    HS_SLOT_LN1_W,       /* [C]    the block's first (attention) layernorm */
    HS_SLOT_LN1_B,       /* [C] */
    HS_SLOT_QKV_W,       /* [3C, C] fused query/key/value projection */
    HS_SLOT_QKV_B,       /* [3C] */
    HS_SLOT_DENSE_W,     /* [C, C] attention output projection */
    HS_SLOT_DENSE_B,     /* [C] */
    HS_SLOT_LN2_W,       /* [C]    the block's second (MLP) layernorm */
    HS_SLOT_LN2_B,       /* [C] */
    HS_SLOT_FC_W,        /* [F, C] MLP up projection */
    HS_SLOT_FC_B,        /* [F] */
    HS_SLOT_PROJ_W,      /* [C, F] MLP down projection */
    HS_SLOT_PROJ_B,      /* [C] */
    HS_SLOT_LNF_W,       /* [C]    final layernorm */
    HS_SLOT_LNF_B,       /* [C] */
    HS_SLOT_COUNT
} hs_tensor_slot;

/* True for the slots that repeat per block. */
bool hs_slot_is_per_layer(hs_tensor_slot slot);

/* How the 3C rows of the fused QKV weight (and bias) are ordered in the family's files. The
 * engine always holds them interleaved per head, [head][q|k|v][d], so a head's q, k and v
 * rows are one contiguous block of 3d rows; loading and checkpoint writing permute. */
typedef enum hs_qkv_layout {
    HS_QKV_INTERLEAVED_PER_HEAD, /* file row = head·3d + part·d + i (BLOOM) */
    HS_QKV_BLOCKS,               /* file row = part·C + head·d + i (MPT's Wqkv) */
} hs_qkv_layout;

typedef struct hs_family {
    const char *name;          /* model_type in config.json: "bloom", "mpt" */
    const char *architecture;  /* transformers class a checkpoint is written for */
    /* Tensor names as printf patterns with one %d for the layer (per-layer slots), without
     * the optional "transformer." prefix; NULL = the family has no such tensor. */
    const char *tensor_names[HS_SLOT_COUNT];
    hs_qkv_layout qkv_layout;
    hs_gelu_kind gelu;
    /* Prefix the checkpoint writer puts before every tensor name ("" or "transformer."). */
    const char *checkpoint_prefix;
    /* Fills cfg's family fields from a parsed config.json object (cfg already zeroed, family
     * set). src names the file in errors. Validation of the generic dimensions is shared. */
    int (*parse_config)(const cJSON *root, const char *src, struct hs_model_config *cfg,
                        char *err, size_t errlen);
    /* Adds the family's keys to the config.json object written with a checkpoint. */
    int (*write_config)(const struct hs_model_config *cfg, cJSON *root);
    /* The n_head ALiBi slopes (host memory) exactly as transformers computes them in fp32.
     * The bias slope·(key position) is added to the scaled scores (q·k)/√d. */
    void (*alibi_slopes)(const struct hs_model_config *cfg, float *slopes);
} hs_family;

/* The families this build implements, in a fixed order, and their count. */
const hs_family *const *hs_families(size_t *count);
/* The family whose model_type is `name`, or NULL. */
const hs_family *hs_family_find(const char *name);
/* When `model_type` names a known transformer family that does not use ALiBi, a one-line
 * reason ("... uses rotary position embeddings, not ALiBi"); NULL otherwise. */
const char *hs_family_non_alibi_reason(const char *model_type);
/* The checks every family runs on its own keys after reading them: vocabulary, hidden size,
 * head and layer counts positive, each named by the key that holds it in that family. */
int hs_family_check_sizes(const struct hs_model_config *cfg, const char *vocab_key,
                          const char *hidden_key, const char *heads_key, const char *layers_key,
                          const char *src, char *err, size_t errlen);
/* Writes the tensor name of slot (layer ignored for global slots) into buf. -1 when the
 * family has no such tensor or buf is too small. */
int hs_family_tensor_name(const hs_family *f, hs_tensor_slot slot, int layer, char *buf,
                          size_t buflen);
/* Row of the engine's interleaved QKV layout that file row `file_row` of the family's layout
 * becomes (C hidden, d head_dim), and the inverse. */
size_t hs_qkv_row_from_file(hs_qkv_layout layout, size_t file_row, int C, int d);
size_t hs_qkv_row_to_file(hs_qkv_layout layout, size_t engine_row, int C, int d);

#endif
