/* The BLOOM family (BloomForCausalLM): its descriptor, its config.json (every key spelling
 * transformers accepts: n_embed/hidden_size, num_attention_heads/n_head,
 * n_layer/num_hidden_layers; BloomConfig's defaults for absent sizes: vocabulary 250880,
 * hidden 64, 2 layers, 8 heads, token ids 1/2/3/0) and its ALiBi slopes.
 * Facts: docs/model-families.md. */
#include "alibi_slopes.h"
#include "family.h"
#include "model_config.h"
#include "common/errors.h"

static int bloom_parse_config(const cJSON *root, const char *src, hs_model_config *cfg,
                              char *err, size_t errlen)
{
    cfg->vocab_size = 250880;
    cfg->hidden_size = 64;
    cfg->n_layer = 2;
    cfg->n_head = 8;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = 3;
    cfg->unk_token_id = 0;
    if (hs_config_int(root, "vocab_size", NULL, &cfg->vocab_size, src, err, errlen) ||
        hs_config_int(root, "hidden_size", "n_embed", &cfg->hidden_size, src, err, errlen) ||
        hs_config_int(root, "n_head", "num_attention_heads", &cfg->n_head, src, err, errlen) ||
        hs_config_int(root, "n_layer", "num_hidden_layers", &cfg->n_layer, src, err, errlen) ||
        hs_config_token_ids(root, cfg, src, err, errlen) ||
        hs_family_check_sizes(cfg, "vocab_size", "hidden_size", "n_head", "n_layer", src, err,
                              errlen))
        return -1;
    cfg->mlp_hidden = cfg->hidden_size > 0 ? 4 * cfg->hidden_size : 0;
    if (!cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon"))
        return hs_errf(err, errlen, "%s: \"layer_norm_epsilon\" is missing", src);
    if (hs_config_number(root, "layer_norm_epsilon", &cfg->layer_norm_epsilon, src, err, errlen))
        return -1;
    bool post_ln = false;
    if (hs_config_bool(root, "apply_residual_connection_post_layernorm", &post_ln, src, err,
                       errlen))
        return -1;
    if (post_ln)
        return hs_errf(err, errlen, "%s: \"apply_residual_connection_post_layernorm\": true is "
                       "not supported (every published BLOOM has false)", src);
    return 0;
}

static int bloom_write_config(const hs_model_config *cfg, cJSON *root)
{
    bool ok = cJSON_AddNumberToObject(root, "vocab_size", cfg->vocab_size) &&
              cJSON_AddNumberToObject(root, "hidden_size", cfg->hidden_size) &&
              cJSON_AddNumberToObject(root, "n_head", cfg->n_head) &&
              cJSON_AddNumberToObject(root, "n_layer", cfg->n_layer) &&
              cJSON_AddNumberToObject(root, "layer_norm_epsilon", cfg->layer_norm_epsilon) &&
              cJSON_AddBoolToObject(root, "apply_residual_connection_post_layernorm", 0) &&
              cJSON_AddNumberToObject(root, "hidden_dropout", 0.0) &&
              cJSON_AddNumberToObject(root, "attention_dropout", 0.0) &&
              cJSON_AddNumberToObject(root, "initializer_range", 0.02) &&
              cJSON_AddNumberToObject(root, "pretraining_tp", 1) &&
              cJSON_AddBoolToObject(root, "slow_but_exact", 0) &&
              cJSON_AddBoolToObject(root, "use_cache", 1) &&
              cJSON_AddBoolToObject(root, "tie_word_embeddings", 1);
    return ok ? 0 : -1;
}

static void bloom_alibi_slopes(const hs_model_config *cfg, float *slopes)
{
    hs_alibi_slopes_bloom(cfg->n_head, slopes);
}

const hs_family hs_family_bloom = {
    .name = "bloom",
    .architecture = "BloomForCausalLM",
    .tensor_names =
        {
            [HS_SLOT_WTE] = "word_embeddings.weight",
            [HS_SLOT_EMB_LN_W] = "word_embeddings_layernorm.weight",
            [HS_SLOT_EMB_LN_B] = "word_embeddings_layernorm.bias",
            [HS_SLOT_LN1_W] = "h.%d.input_layernorm.weight",
            [HS_SLOT_LN1_B] = "h.%d.input_layernorm.bias",
            [HS_SLOT_QKV_W] = "h.%d.self_attention.query_key_value.weight",
            [HS_SLOT_QKV_B] = "h.%d.self_attention.query_key_value.bias",
            [HS_SLOT_DENSE_W] = "h.%d.self_attention.dense.weight",
            [HS_SLOT_DENSE_B] = "h.%d.self_attention.dense.bias",
            [HS_SLOT_LN2_W] = "h.%d.post_attention_layernorm.weight",
            [HS_SLOT_LN2_B] = "h.%d.post_attention_layernorm.bias",
            [HS_SLOT_FC_W] = "h.%d.mlp.dense_h_to_4h.weight",
            [HS_SLOT_FC_B] = "h.%d.mlp.dense_h_to_4h.bias",
            [HS_SLOT_PROJ_W] = "h.%d.mlp.dense_4h_to_h.weight",
            [HS_SLOT_PROJ_B] = "h.%d.mlp.dense_4h_to_h.bias",
            [HS_SLOT_LNF_W] = "ln_f.weight",
            [HS_SLOT_LNF_B] = "ln_f.bias",
        },
    .qkv_layout = HS_QKV_INTERLEAVED_PER_HEAD,
    .gelu = HS_GELU_TANH,
    .checkpoint_prefix = "", /* as the published BLOOM files */
    .parse_config = bloom_parse_config,
    .write_config = bloom_write_config,
    .alibi_slopes = bloom_alibi_slopes,
};
