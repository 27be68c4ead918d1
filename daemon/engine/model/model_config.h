/* BLOOM config.json: both key spellings (n_embed/hidden_size, num_attention_heads/n_head,
 * n_layer/num_hidden_layers), BLOOM's defaults, validation. Facts: docs/model-families.md "config.json". */
#ifndef HS_MODEL_CONFIG_H
#define HS_MODEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

typedef struct hs_model_config {
    int vocab_size;            /* V (250880 for published BLOOMs) */
    int hidden_size;           /* C = h */
    int n_head;                /* H */
    int n_layer;               /* L */
    int head_dim;              /* d = C / H */
    double layer_norm_epsilon; /* 1e-5 */
    int bos_token_id, eos_token_id, pad_token_id, unk_token_id;
    bool apply_residual_connection_post_layernorm; /* must be false (all published configs) */
    char torch_dtype[16];      /* "float32", "float16", "bfloat16", or "" when absent */
} hs_model_config;

/* Parses config.json text / a file. Validation: positive sizes, hidden_size divisible by
 * n_head, layer_norm_epsilon present and > 0, model_type "bloom" when given. */
int hs_model_config_parse(const char *json, size_t len, hs_model_config *cfg, char *err,
                          size_t errlen);
int hs_model_config_load(const char *path, hs_model_config *cfg, char *err, size_t errlen);
/* Writes a config.json transformers loads as BloomForCausalLM (atomically). */
int hs_model_config_write(const hs_model_config *cfg, const char *path, char *err, size_t errlen);

#endif
