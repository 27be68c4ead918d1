/* config.json parsing: both spellings of every key (as raw bigscience configs and transformers
 * re-saves write them), BloomConfig's defaults, validation errors naming the key, and the
 * writer's output read back. Expected values are the ones written in each JSON literal. */
#include "engine/families/model_config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void parse_ok(const char *json, hs_model_config *cfg)
{
    char err[512] = "";
    int rc = hs_model_config_parse(json, strlen(json), cfg, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
}

static void parse_fails(const char *json, const char *needle)
{
    hs_model_config cfg;
    char err[512] = "";
    assert_int_equal(hs_model_config_parse(json, strlen(json), &cfg, err, sizeof err), -1);
    if (!strstr(err, needle))
        fprintf(stderr, "error '%s' lacks '%s'\n", err, needle);
    assert_non_null(strstr(err, needle));
}

static void test_legacy_bigscience_keys(void **state)
{
    (void)state;
    hs_model_config c;
    /* bloom-560m as bigscience uploaded it: n_embed, num_attention_heads, n_layer */
    parse_ok("{\"apply_residual_connection_post_layernorm\": false, \"attention_dropout\": 0.0,"
             "\"architectures\": [\"BloomForCausalLM\"], \"attention_softmax_in_fp32\": true,"
             "\"bias_dropout_fusion\": true, \"bos_token_id\": 1, \"eos_token_id\": 2,"
             "\"hidden_dropout\": 0.0, \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05,"
             "\"masked_softmax_fusion\": true, \"model_type\": \"bloom\", \"n_embed\": 1024,"
             "\"n_inner\": null, \"num_attention_heads\": 16, \"n_layer\": 24, \"offset_alibi\": 100,"
             "\"pad_token_id\": 3, \"pretraining_tp\": 1, \"skip_bias_add\": true,"
             "\"skip_bias_add_qkv\": false, \"slow_but_exact\": false, \"unk_token_id\": 0,"
             "\"use_cache\": true, \"vocab_size\": 250880}", &c);
    assert_int_equal(c.hidden_size, 1024);
    assert_int_equal(c.n_head, 16);
    assert_int_equal(c.n_layer, 24);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.vocab_size, 250880);
    assert_true(c.layer_norm_epsilon == 1e-5);
    assert_int_equal(c.bos_token_id, 1);
    assert_int_equal(c.eos_token_id, 2);
    assert_int_equal(c.pad_token_id, 3);
    assert_int_equal(c.unk_token_id, 0);
    assert_ptr_equal(c.family, hs_family_find("bloom"));
    assert_int_equal(c.mlp_hidden, 4096);
    assert_string_equal(c.torch_dtype, "");
}

static void test_resaved_keys_and_aliases(void **state)
{
    (void)state;
    hs_model_config c;
    parse_ok("{\"hidden_size\": 2560, \"n_head\": 32, \"num_hidden_layers\": 30,"
             "\"layer_norm_epsilon\": 1e-5, \"torch_dtype\": \"float16\"}", &c);
    assert_int_equal(c.hidden_size, 2560);
    assert_int_equal(c.n_head, 32);
    assert_int_equal(c.n_layer, 30);
    assert_int_equal(c.head_dim, 80);
    assert_string_equal(c.torch_dtype, "float16");
    parse_ok("{\"n_embed\": 48, \"hidden_size\": 48, \"num_attention_heads\": 6, \"n_head\": 6,"
             "\"layer_norm_epsilon\": 1e-5, \"dtype\": \"bfloat16\", \"pad_token_id\": null}", &c);
    assert_int_equal(c.head_dim, 8);
    assert_string_equal(c.torch_dtype, "bfloat16");
    assert_int_equal(c.pad_token_id, 3); /* null keeps BLOOM's id */
    /* BloomConfig's defaults for absent sizes */
    parse_ok("{\"layer_norm_epsilon\": 1e-5}", &c);
    assert_int_equal(c.vocab_size, 250880);
    assert_int_equal(c.hidden_size, 64);
    assert_int_equal(c.n_layer, 2);
    assert_int_equal(c.n_head, 8);
    assert_int_equal(c.head_dim, 8);
}

static void test_validation(void **state)
{
    (void)state;
    parse_fails("{\"hidden_size\": 30, \"n_head\": 4, \"layer_norm_epsilon\": 1e-5}", "not divisible");
    parse_fails("{\"hidden_size\": 32, \"n_head\": 4}", "\"layer_norm_epsilon\" is missing");
    parse_fails("{\"layer_norm_epsilon\": 0}", "layer_norm_epsilon");
    parse_fails("{\"layer_norm_epsilon\": \"1e-5\"}", "layer_norm_epsilon");
    parse_fails("{\"n_head\": 0, \"layer_norm_epsilon\": 1e-5}", "\"n_head\" must be positive");
    parse_fails("{\"n_layer\": -1, \"layer_norm_epsilon\": 1e-5}", "\"n_layer\" must be positive");
    parse_fails("{\"vocab_size\": 0, \"layer_norm_epsilon\": 1e-5}", "\"vocab_size\"");
    parse_fails("{\"hidden_size\": 32.5, \"layer_norm_epsilon\": 1e-5}", "\"hidden_size\" must be an integer");
    parse_fails("{\"n_embed\": 64, \"hidden_size\": 32, \"layer_norm_epsilon\": 1e-5}", "disagree");
    parse_fails("{\"model_type\": \"gpt2\", \"layer_norm_epsilon\": 1e-5}", "model_type");
    parse_fails("{\"apply_residual_connection_post_layernorm\": true, \"layer_norm_epsilon\": 1e-5}",
                "apply_residual_connection_post_layernorm");
    parse_fails("{\"torch_dtype\": \"int8\", \"layer_norm_epsilon\": 1e-5}", "torch_dtype");
    parse_fails("{\"layer_norm_epsilon\": 1e-5", "not valid JSON");
    parse_fails("[1]", "not a JSON object");
    hs_model_config c;
    char err[512] = "";
    assert_int_equal(hs_model_config_load("no/such/config.json", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "no/such/config.json"));
}

static void test_write_and_read_back(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_test_formats_cfg.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/config.json", dir);
    hs_model_config c = {.family = hs_family_find("bloom"), .vocab_size = 4096,
                         .hidden_size = 48, .n_head = 6, .n_layer = 3, .head_dim = 8,
                         .mlp_hidden = 192, .layer_norm_epsilon = 1e-5, .bos_token_id = 1,
                         .eos_token_id = 2, .pad_token_id = 3, .unk_token_id = 0};
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "float32");
    assert_int_equal(hs_model_config_write(&c, path, err, sizeof err), 0);
    hs_model_config back;
    assert_int_equal(hs_model_config_load(path, &back, err, sizeof err), 0);
    assert_memory_equal(&c, &back, sizeof c);
    /* the file says what transformers needs to pick the class */
    FILE *fp = fopen(path, "r");
    char text[4096] = "";
    assert_true(fread(text, 1, sizeof text - 1, fp) > 0);
    fclose(fp);
    assert_non_null(strstr(text, "\"BloomForCausalLM\""));
    assert_non_null(strstr(text, "\"model_type\":\t\"bloom\""));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_bigscience_keys),
        cmocka_unit_test(test_resaved_keys_and_aliases),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_write_and_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
