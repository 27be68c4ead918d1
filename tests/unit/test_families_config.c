/* Model families end to end on their config.json: every family in the table has a fixture
 * model written by transformers (tests/reference/models/), which the engine loads as that
 * family; the config.json the checkpoint writer produces from the loaded model reads back to
 * the same configuration and agrees, key by key, with what transformers wrote (values it
 * writes that transformers' file also has: architecture, sizes, ALiBi settings, token ids).
 * Also: MPT's keys, MPT settings the engine refuses with the key named, and families that do
 * not use ALiBi refused with the family named. */
#include "test_util.h"

#include "engine/families/model_config.h"
#include "engine/model/model.h"
#include "ops.h"
#include "common/errors.h"

#include <math.h>

/* The fixture model each family is checked on; a family missing here fails the test. */
static const struct {
    const char *family, *model;
} family_fixtures[] = {
    {"bloom", "tiny-h6-f32"},
    {"mpt", "tiny-mpt-h6-f32"},
};

/* Keys of our file that may legitimately differ from transformers' file. */
static bool ignored_key(const char *key)
{
    return strcmp(key, "use_cache") == 0 || strcmp(key, "torch_dtype") == 0;
}

/* Every key of `ours` that `theirs` also has carries the same value (objects recursively);
 * returns the number of keys compared. */
static int compare_json(const cJSON *ours, const cJSON *theirs, const char *where)
{
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, ours)
    {
        if (ignored_key(item->string))
            continue;
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(theirs, item->string);
        if (!other)
            continue;
        if (cJSON_IsObject(item)) {
            n += compare_json(item, other, item->string);
            continue;
        }
        bool same = cJSON_Compare(item, other, true) ||
                    (cJSON_IsNumber(item) && cJSON_IsNumber(other) &&
                     fabs(item->valuedouble - other->valuedouble) <=
                         1e-12 * fabs(other->valuedouble));
        if (!same) {
            char *a = cJSON_PrintUnformatted(item), *b = cJSON_PrintUnformatted(other);
            fail_msg("%s.%s: we write %s, transformers wrote %s", where, item->string, a, b);
        }
        n++;
    }
    return n;
}

static void test_every_family_round_trips(void **state)
{
    (void)state;
    size_t n_families = 0;
    const hs_family *const *families = hs_families(&n_families);
    assert_true(n_families >= 2);
    char err[HS_ERR_LEN];
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    assert_non_null(ctx);
    char tmp[512];
    assert_int_equal(tu_mkdtemp(tmp, sizeof tmp, "hs_families_config"), 0);
    for (size_t i = 0; i < n_families; i++) {
        const hs_family *f = families[i];
        const char *model = NULL;
        for (size_t k = 0; k < sizeof family_fixtures / sizeof family_fixtures[0]; k++)
            if (strcmp(family_fixtures[k].family, f->name) == 0)
                model = family_fixtures[k].model;
        if (!model)
            fail_msg("family %s has no fixture model to round-trip", f->name);
        char dir[4096], rel[256], path[4700];
        snprintf(rel, sizeof rel, "tests/reference/models/%s", model);
        tu_repo_path(dir, sizeof dir, rel);
        hs_model *m = hs_model_load(dir, &hs_cpu_backend, ctx, err, sizeof err);
        if (!m)
            fail_msg("%s: %s", model, err);
        assert_ptr_equal(m->cfg.family, f);

        snprintf(path, sizeof path, "%s/%s-config.json", tmp, f->name);
        assert_int_equal(hs_model_config_write(&m->cfg, path, err, sizeof err), 0);
        hs_model_config back;
        if (hs_model_config_load(path, &back, err, sizeof err) != 0)
            fail_msg("%s: our config.json does not read back: %s", f->name, err);
        assert_memory_equal(&back, &m->cfg, sizeof back);

        char *ours_text = tu_read_file(path, NULL);
        snprintf(rel, sizeof rel, "tests/reference/models/%s/config.json", model);
        cJSON *theirs = tu_read_json(rel);
        cJSON *ours = cJSON_Parse(ours_text);
        assert_non_null(ours);
        assert_non_null(theirs);
        int compared = compare_json(ours, theirs, f->name);
        const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(theirs, "architectures"), 0);
        assert_string_equal(arch->valuestring, f->architecture);
        print_message("%s (%s): %d keys equal to transformers' config.json\n", f->name, model,
                      compared);
        assert_true(compared >= 10);
        cJSON_Delete(ours);
        cJSON_Delete(theirs);
        free(ours_text);
        hs_model_free(m);
    }
    tu_rm_tree(tmp);
    hs_cpu_backend.shutdown(ctx);
}

static void parse_ok(const char *json, hs_model_config *cfg)
{
    char err[HS_ERR_LEN] = "";
    if (hs_model_config_parse(json, strlen(json), cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void parse_fails(const char *json, const char *needle)
{
    hs_model_config cfg;
    char err[HS_ERR_LEN] = "";
    assert_int_equal(hs_model_config_parse(json, strlen(json), &cfg, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

#define MPT_OK_ATTN "\"attn_config\": {\"alibi\": true, \"alibi_bias_max\": 8, \"clip_qkv\": null}"

static void test_mpt_keys(void **state)
{
    (void)state;
    hs_model_config c;
    parse_ok("{\"model_type\": \"mpt\", \"d_model\": 4096, \"n_heads\": 32, \"n_layers\": 32,"
             "\"expansion_ratio\": 4, \"max_seq_len\": 2048, \"vocab_size\": 50432,"
             "\"no_bias\": true, \"norm_type\": \"low_precision_layernorm\", " MPT_OK_ATTN "}",
             &c);
    assert_string_equal(c.family->name, "mpt");
    assert_int_equal(c.hidden_size, 4096);
    assert_int_equal(c.n_head, 32);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.n_layer, 32);
    assert_int_equal(c.mlp_hidden, 16384);
    assert_int_equal(c.vocab_size, 50432);
    assert_int_equal(c.max_seq_len, 2048);
    assert_true(c.alibi_bias_max == 8);
    assert_true(c.layer_norm_epsilon == 1e-5); /* MptConfig's default */
    assert_int_equal(c.bos_token_id, -1);     /* none given */
    assert_int_equal(c.family->qkv_layout, HS_QKV_BLOCKS);
    assert_int_equal(c.family->gelu, HS_GELU_ERF);
    /* softmax_scale equal to 1/sqrt(head_dim) is the default spelled out */
    parse_ok("{\"model_type\": \"mpt\", \"d_model\": 64, \"n_heads\": 4, \"attn_config\": "
             "{\"alibi\": true, \"softmax_scale\": 0.25}}", &c);
}

static void test_mpt_refusals_name_the_key(void **state)
{
    (void)state;
    parse_fails("{\"model_type\": \"mpt\", \"attn_config\": {\"alibi\": false}}",
                "attn_config.alibi");
    parse_fails("{\"model_type\": \"mpt\"}", "attn_config");
    parse_fails("{\"model_type\": \"mpt\", \"no_bias\": false, " MPT_OK_ATTN "}", "no_bias");
    parse_fails("{\"model_type\": \"mpt\", \"expansion_ratio\": 2, " MPT_OK_ATTN "}",
                "expansion_ratio");
    parse_fails("{\"model_type\": \"mpt\", \"attn_config\": {\"alibi\": true, \"clip_qkv\": 6}}",
                "clip_qkv");
    parse_fails("{\"model_type\": \"mpt\", \"attn_config\": {\"alibi\": true, \"qk_ln\": true}}",
                "qk_ln");
    parse_fails("{\"model_type\": \"mpt\", \"attn_config\": {\"alibi\": true, "
                "\"alibi_bias_max\": 16}}", "alibi_bias_max");
    parse_fails("{\"model_type\": \"mpt\", \"d_model\": 64, \"n_heads\": 4, \"attn_config\": "
                "{\"alibi\": true, \"softmax_scale\": 0.5}}", "softmax_scale");
    parse_fails("{\"model_type\": \"mpt\", \"logit_scale\": 2.0, " MPT_OK_ATTN "}",
                "logit_scale");
    parse_fails("{\"model_type\": \"mpt\", \"n_heads\": 0, " MPT_OK_ATTN "}",
                "\"n_heads\" must be positive");
    parse_fails("{\"model_type\": \"mpt\", \"d_model\": 30, \"n_heads\": 4, " MPT_OK_ATTN "}",
                "not divisible");
}

static void test_non_alibi_families_refused_by_name(void **state)
{
    (void)state;
    parse_fails("{\"model_type\": \"llama\", \"hidden_size\": 64}", "\"llama\"");
    parse_fails("{\"model_type\": \"llama\"}", "rotary position embeddings, not ALiBi");
    parse_fails("{\"model_type\": \"gpt2\"}", "learned absolute position embeddings");
    parse_fails("{\"model_type\": \"mpt_like_thing\"}", "not a supported model family");
    parse_fails("{\"model_type\": \"mpt_like_thing\"}", "supported: bloom, mpt");
    parse_fails("{\"model_type\": 7}", "\"model_type\" must be a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_round_trips),
        cmocka_unit_test(test_mpt_keys),
        cmocka_unit_test(test_mpt_refusals_name_the_key),
        cmocka_unit_test(test_non_alibi_families_refused_by_name),
    };
    return cmocka_run_group_tests_name("families_config", tests, NULL, NULL);
}
