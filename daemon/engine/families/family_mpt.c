/* The MPT family (MptForCausalLM with attn_config.alibi true): its descriptor, its config.json
 * (d_model, n_heads, n_layers, expansion_ratio, max_seq_len, vocab_size, layer_norm_epsilon,
 * no_bias, attn_config) and its ALiBi slopes. What transformers' MPT does not compute, or
 * this engine does not implement, is refused naming the key: no_bias false (transformers'
 * MptForCausalLM has no bias parameters), an expansion_ratio other than 4 (its MLP is always
 * 4·d_model), attn_config.alibi false (learned positions), clip_qkv, qk_ln, a softmax_scale
 * other than 1/sqrt(head_dim), an alibi_bias_max other than 8 (transformers ignores the key
 * and uses 8), prefix-LM and sequence-id attention, logit_scale.
 * Facts: docs/model-families.md "MPT". */
#include "alibi_slopes.h"
#include "family.h"
#include "model_config.h"
#include "common/errors.h"
#include <math.h>
#include <string.h>

/* attn_config: ALiBi on, and nothing the engine does not implement. */
static int parse_attn_config(const cJSON *root, const char *src, hs_model_config *cfg,
                             char *err, size_t errlen)
{
    const cJSON *ac = cJSON_GetObjectItemCaseSensitive(root, "attn_config");
    if (!cJSON_IsObject(ac))
        return hs_errf(err, errlen, "%s: \"attn_config\" must be an object (MPT's attention "
                       "settings)", src);
    bool alibi = false, qk_ln = false, prefix_lm = false, seq_id = false;
    cfg->alibi_bias_max = 8;
    if (hs_config_bool(ac, "alibi", &alibi, src, err, errlen) ||
        hs_config_bool(ac, "qk_ln", &qk_ln, src, err, errlen) ||
        hs_config_bool(ac, "prefix_lm", &prefix_lm, src, err, errlen) ||
        hs_config_bool(ac, "attn_uses_sequence_id", &seq_id, src, err, errlen) ||
        hs_config_number(ac, "alibi_bias_max", &cfg->alibi_bias_max, src, err, errlen))
        return -1;
    if (!alibi)
        return hs_errf(err, errlen, "%s: \"attn_config.alibi\" is false: this MPT uses learned "
                       "position embeddings, not ALiBi, and is not supported", src);
    /* transformers' MptModel builds its ALiBi bias with the default 8 whatever the config says,
     * while MosaicML's own code honours the setting: with another value the two disagree, so
     * there is no reference to match. */
    if (cfg->alibi_bias_max != 8)
        return hs_errf(err, errlen, "%s: \"attn_config.alibi_bias_max\" %g is not supported: "
                       "transformers' MPT always uses 8 (its own code ignores the setting)", src,
                       cfg->alibi_bias_max);
    const cJSON *clip = cJSON_GetObjectItemCaseSensitive(ac, "clip_qkv");
    if (clip && !cJSON_IsNull(clip))
        return hs_errf(err, errlen, "%s: \"attn_config.clip_qkv\" is set: clipping the QKV "
                       "activations is not implemented", src);
    if (qk_ln)
        return hs_errf(err, errlen, "%s: \"attn_config.qk_ln\" is true: query/key layernorm "
                       "is not implemented", src);
    if (prefix_lm || seq_id)
        return hs_errf(err, errlen, "%s: \"attn_config.%s\" is true: not implemented", src,
                       prefix_lm ? "prefix_lm" : "attn_uses_sequence_id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ac, "attn_type");
    if (type && !cJSON_IsNull(type) &&
        (!cJSON_IsString(type) || strcmp(type->valuestring, "multihead_attention") != 0))
        return hs_errf(err, errlen, "%s: \"attn_config.attn_type\" must be "
                       "\"multihead_attention\"", src);
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(ac, "softmax_scale");
    if (scale && !cJSON_IsNull(scale)) {
        if (!cJSON_IsNumber(scale))
            return hs_errf(err, errlen, "%s: \"attn_config.softmax_scale\" must be a number or "
                           "null", src);
        if (cfg->hidden_size > 0 && cfg->n_head > 0 && cfg->hidden_size % cfg->n_head == 0) {
            double want = 1.0 / sqrt((double)(cfg->hidden_size / cfg->n_head));
            if (fabs(scale->valuedouble - want) > 1e-7 * want)
                return hs_errf(err, errlen, "%s: \"attn_config.softmax_scale\" %g is not "
                               "1/sqrt(head_dim) = %g: not supported", src, scale->valuedouble,
                               want);
        }
    }
    return 0;
}

static int mpt_parse_config(const cJSON *root, const char *src, hs_model_config *cfg,
                            char *err, size_t errlen)
{
    /* MptConfig's defaults */
    cfg->hidden_size = 2048;
    cfg->n_head = 16;
    cfg->n_layer = 24;
    cfg->vocab_size = 50368;
    cfg->max_seq_len = 2048;
    cfg->layer_norm_epsilon = 1e-5;
    int expansion_ratio = 4;
    bool no_bias = true;
    if (hs_config_int(root, "d_model", "hidden_size", &cfg->hidden_size, src, err, errlen) ||
        hs_config_int(root, "n_heads", "num_attention_heads", &cfg->n_head, src, err, errlen) ||
        hs_config_int(root, "n_layers", "num_hidden_layers", &cfg->n_layer, src, err, errlen) ||
        hs_config_int(root, "vocab_size", NULL, &cfg->vocab_size, src, err, errlen) ||
        hs_config_int(root, "max_seq_len", NULL, &cfg->max_seq_len, src, err, errlen) ||
        hs_config_int(root, "expansion_ratio", NULL, &expansion_ratio, src, err, errlen) ||
        hs_config_number(root, "layer_norm_epsilon", &cfg->layer_norm_epsilon, src, err,
                         errlen) ||
        hs_config_bool(root, "no_bias", &no_bias, src, err, errlen) ||
        hs_config_token_ids(root, cfg, src, err, errlen) ||
        hs_family_check_sizes(cfg, "vocab_size", "d_model", "n_heads", "n_layers", src, err,
                              errlen))
        return -1;
    if (!no_bias)
        return hs_errf(err, errlen, "%s: \"no_bias\" is false: transformers' MptForCausalLM "
                       "has no bias parameters, so such a checkpoint is not supported", src);
    if (expansion_ratio != 4)
        return hs_errf(err, errlen, "%s: \"expansion_ratio\" %d is not supported (the MPT MLP "
                       "is 4·d_model wide)", src, expansion_ratio);
    if (cfg->max_seq_len < 1)
        return hs_errf(err, errlen, "%s: \"max_seq_len\" must be positive", src);
    const cJSON *logit_scale = cJSON_GetObjectItemCaseSensitive(root, "logit_scale");
    if (logit_scale && !cJSON_IsNull(logit_scale))
        return hs_errf(err, errlen, "%s: \"logit_scale\" is set: not supported", src);
    cfg->mlp_hidden = cfg->hidden_size > 0 ? 4 * cfg->hidden_size : 0;
    return parse_attn_config(root, src, cfg, err, errlen);
}

static int mpt_write_config(const hs_model_config *cfg, cJSON *root)
{
    cJSON *ac = cJSON_CreateObject();
    if (!ac)
        return -1;
    bool ok = cJSON_AddBoolToObject(ac, "alibi", 1) &&
              cJSON_AddNumberToObject(ac, "alibi_bias_max", cfg->alibi_bias_max) &&
              cJSON_AddStringToObject(ac, "attn_impl", "torch") &&
              cJSON_AddNumberToObject(ac, "attn_pdrop", 0.0) &&
              cJSON_AddStringToObject(ac, "attn_type", "multihead_attention") &&
              cJSON_AddBoolToObject(ac, "attn_uses_sequence_id", 0) &&
              cJSON_AddNullToObject(ac, "clip_qkv") && cJSON_AddBoolToObject(ac, "prefix_lm", 0) &&
              cJSON_AddBoolToObject(ac, "qk_ln", 0) && cJSON_AddNullToObject(ac, "softmax_scale");
    if (!ok || !cJSON_AddItemToObject(root, "attn_config", ac)) {
        cJSON_Delete(ac);
        return -1;
    }
    ok = cJSON_AddNumberToObject(root, "d_model", cfg->hidden_size) &&
         cJSON_AddNumberToObject(root, "n_heads", cfg->n_head) &&
         cJSON_AddNumberToObject(root, "n_layers", cfg->n_layer) &&
         cJSON_AddNumberToObject(root, "expansion_ratio", 4) &&
         cJSON_AddNumberToObject(root, "max_seq_len", cfg->max_seq_len) &&
         cJSON_AddNumberToObject(root, "vocab_size", cfg->vocab_size) &&
         cJSON_AddNumberToObject(root, "layer_norm_epsilon", cfg->layer_norm_epsilon) &&
         cJSON_AddBoolToObject(root, "no_bias", 1) &&
         cJSON_AddNumberToObject(root, "emb_pdrop", 0.0) &&
         cJSON_AddNumberToObject(root, "resid_pdrop", 0.0) &&
         cJSON_AddBoolToObject(root, "learned_pos_emb", 1) &&
         cJSON_AddStringToObject(root, "norm_type", "low_precision_layernorm") &&
         cJSON_AddNullToObject(root, "logit_scale") && cJSON_AddBoolToObject(root, "use_cache", 1) &&
              cJSON_AddBoolToObject(root, "tie_word_embeddings", 1);
    return ok ? 0 : -1;
}

static void mpt_alibi_slopes(const hs_model_config *cfg, float *slopes)
{
    hs_alibi_slopes_mpt(cfg->n_head, cfg->alibi_bias_max, slopes);
}

const hs_family hs_family_mpt = {
    .name = "mpt",
    .architecture = "MptForCausalLM",
    .tensor_names =
        {
            [HS_SLOT_WTE] = "wte.weight",
            [HS_SLOT_LN1_W] = "blocks.%d.norm_1.weight",
            [HS_SLOT_QKV_W] = "blocks.%d.attn.Wqkv.weight",
            [HS_SLOT_DENSE_W] = "blocks.%d.attn.out_proj.weight",
            [HS_SLOT_LN2_W] = "blocks.%d.norm_2.weight",
            [HS_SLOT_FC_W] = "blocks.%d.ffn.up_proj.weight",
            [HS_SLOT_PROJ_W] = "blocks.%d.ffn.down_proj.weight",
            [HS_SLOT_LNF_W] = "norm_f.weight",
        },
    .qkv_layout = HS_QKV_BLOCKS,
    .gelu = HS_GELU_ERF,
    .checkpoint_prefix = "transformer.", /* as transformers saves MptForCausalLM */
    .parse_config = mpt_parse_config,
    .write_config = mpt_write_config,
    .alibi_slopes = mpt_alibi_slopes,
};
