/* config.json of a model directory: the family it names (model_type; absent = "bloom", as
 * BLOOM's original uploads have none), the engine's dimensions the family maps it to, and
 * writing a config.json back for a checkpoint. Every family's keys, defaults and refusals are
 * in its family file; docs/model-families.md "config.json" lists them. */
#ifndef HS_MODEL_CONFIG_H
#define HS_MODEL_CONFIG_H
#include "family.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct hs_model_config {
    const hs_family *family;   /* never NULL after a successful parse */
    int vocab_size;            /* V */
    int hidden_size;           /* C */
    int n_head;                /* H */
    int n_layer;               /* L */
    int head_dim;              /* d = C / H */
    int mlp_hidden;            /* F = 4·C for every supported family */
    double layer_norm_epsilon; /* 1e-5 in every published checkpoint */
    /* Special token ids; −1 where the config names none. */
    int bos_token_id, eos_token_id, pad_token_id, unk_token_id;
    double alibi_bias_max;     /* MPT's attn_config.alibi_bias_max (8); 0 for BLOOM */
    int max_seq_len;           /* MPT's max_seq_len; 0 when the family has no limit */
    char torch_dtype[16];      /* "float32", "float16", "bfloat16", or "" when absent */
} hs_model_config;

/* Parses config.json text / a file: family detection (a non-ALiBi or unknown model_type is
 * refused naming it), the family's keys, then the shared checks (positive sizes, hidden size
 * divisible by the head count, a positive layer_norm_epsilon). */
int hs_model_config_parse(const char *json, size_t len, hs_model_config *cfg, char *err,
                          size_t errlen);
int hs_model_config_load(const char *path, hs_model_config *cfg, char *err, size_t errlen);
/* Writes a config.json that transformers loads as the family's architecture (atomically). */
int hs_model_config_write(const hs_model_config *cfg, const char *path, char *err, size_t errlen);
/* The same config.json as a cJSON object (caller deletes), or NULL when out of memory. */
cJSON *hs_model_config_to_json(const hs_model_config *cfg);

/* ---- key readers shared by the family files --------------------------------------------- */
/* Integer `key` (or its `alias`; both given and different is an error) into *out; absent or
 * null leaves *out. */
int hs_config_int(const cJSON *obj, const char *key, const char *alias, int *out,
                  const char *src, char *err, size_t errlen);
/* Number `key` into *out; absent or null leaves *out. */
int hs_config_number(const cJSON *obj, const char *key, double *out, const char *src,
                     char *err, size_t errlen);
/* Boolean `key` into *out; absent or null leaves *out. */
int hs_config_bool(const cJSON *obj, const char *key, bool *out, const char *src, char *err,
                   size_t errlen);
/* torch_dtype / dtype ("float32", "float16", "bfloat16") into cfg->torch_dtype. */
int hs_config_dtype(const cJSON *obj, hs_model_config *cfg, const char *src, char *err,
                    size_t errlen);
/* The four special token ids (−1 where absent). */
int hs_config_token_ids(const cJSON *obj, hs_model_config *cfg, const char *src, char *err,
                        size_t errlen);
/* Adds the special token ids that are >= 0 and torch_dtype when set. */
void hs_config_write_common(const hs_model_config *cfg, cJSON *root);

#endif
