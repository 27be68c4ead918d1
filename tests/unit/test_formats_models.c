/* The reference BLOOM checkpoints of tests/reference/models/ (saved by transformers: F32, F16,
 * BF16, bare and `transformer.` names, a non-power-of-two head count, one sharded):
 * - every tensor HF stored is found with its shape, dtype and shard, and its values upcast to
 *   fp32 hash (FNV-1a 64) to the value HF's safetensors gave, first 8 values equal bit for bit;
 * - config.json and tokenizer.json of each load;
 * - our writer's copy of each checkpoint reads back byte-identical;
 * - the F16/BF16 checkpoints are the F32 weights rounded by torch: our fp32->half rounding gives
 *   the same bits for every weight;
 * - the model loader rejects a checkpoint missing a tensor the config needs, or with a shape
 *   the config does not imply, naming the file and the tensor. */
#include "engine/families/model_config.h"
#include "engine/model/model.h"
#include "ops.h"
#include "engine/formats/safetensors.h"
#include "test_formats_util.h"
#include "engine/formats/tokenizer.h"
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static const char *const models[] = {"tiny-h4-f32", "tiny-h4-f16", "tiny-h4-bf16", "tiny-h6-f32",
                                     "tiny-h6-sharded"};
#define N_MODELS (sizeof models / sizeof models[0])

static char g_tmp[256];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(g_tmp, sizeof g_tmp, "hs_test_formats_models");
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(g_tmp);
}

static cJSON *load_expected(const char *model)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/reference/models/%s.expected.json", model);
    tu_repo_path(path, sizeof path, rel);
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(j);
    return j;
}

static void model_dir(char *out, size_t n, const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/reference/models/%s", model);
    tu_repo_path(out, n, rel);
}

/* Compares every tensor of set with the expected JSON's "tensors". */
static void check_against_expected(const hs_st_set *set, const cJSON *tensors, int check_file)
{
    int n_expected = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, tensors) {
        n_expected++;
        const hs_st_tensor *t = hs_st_find(set, e->string);
        assert_non_null(t);
        assert_string_equal(t->name, e->string); /* found under its stored name */
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        assert_int_equal(t->ndim, cJSON_GetArraySize(shape));
        for (int d = 0; d < t->ndim; d++)
            assert_int_equal(t->shape[d], (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
        assert_string_equal(hs_dtype_name(t->dtype), cJSON_GetObjectItem(e, "dtype")->valuestring);
        if (check_file) {
            const char *slash = strrchr(t->file, '/');
            assert_string_equal(slash ? slash + 1 : t->file, cJSON_GetObjectItem(e, "file")->valuestring);
        }
        float *v = malloc((size_t)t->numel * sizeof *v + 1);
        char err[512];
        assert_int_equal(hs_st_to_f32(t, v, err, sizeof err), 0);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)tu_fnv1a64_f32(v, (size_t)t->numel));
        if (strcmp(hex, cJSON_GetObjectItem(e, "fnv1a64")->valuestring) != 0)
            fprintf(stderr, "tensor %s: fnv %s, HF %s\n", t->name, hex,
                    cJSON_GetObjectItem(e, "fnv1a64")->valuestring);
        assert_string_equal(hex, cJSON_GetObjectItem(e, "fnv1a64")->valuestring);
        const cJSON *first = cJSON_GetObjectItem(e, "first");
        int k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, first) {
            float want = (float)x->valuedouble;
            assert_memory_equal(&v[k], &want, sizeof want);
            k++;
        }
        free(v);
    }
    assert_int_equal(hs_st_count(set), (size_t)n_expected);
}

static void test_fixture_tensors(void **state)
{
    (void)state;
    for (size_t m = 0; m < N_MODELS; m++) {
        char dir[4096], err[512] = "";
        model_dir(dir, sizeof dir, models[m]);
        cJSON *exp = load_expected(models[m]);
        hs_st_set *set = hs_st_open_dir(dir, err, sizeof err);
        if (!set)
            fprintf(stderr, "%s: %s\n", models[m], err);
        assert_non_null(set);
        check_against_expected(set, cJSON_GetObjectItem(exp, "tensors"), 1);
        /* both name spellings find every tensor */
        assert_non_null(hs_st_find(set, "h.0.self_attention.query_key_value.weight"));
        assert_non_null(hs_st_find(set, "transformer.h.0.self_attention.query_key_value.weight"));
        assert_null(hs_st_find(set, "lm_head.weight")); /* tied: not stored */

        char path[4200];
        hs_model_config cfg;
        snprintf(path, sizeof path, "%s/config.json", dir);
        assert_int_equal(hs_model_config_load(path, &cfg, err, sizeof err), 0);
        const cJSON *c = cJSON_GetObjectItem(exp, "config");
        assert_int_equal(cfg.hidden_size, cJSON_GetObjectItem(c, "hidden_size")->valueint);
        assert_int_equal(cfg.n_head, cJSON_GetObjectItem(c, "n_head")->valueint);
        assert_int_equal(cfg.n_layer, cJSON_GetObjectItem(c, "n_layer")->valueint);
        assert_int_equal(cfg.vocab_size, cJSON_GetObjectItem(c, "vocab_size")->valueint);
        assert_int_equal(cfg.head_dim, cfg.hidden_size / cfg.n_head);
        assert_true(cfg.layer_norm_epsilon == 1e-5);
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        hs_tokenizer *tok = hs_tokenizer_load(path, err, sizeof err);
        assert_non_null(tok);
        assert_int_equal(hs_tokenizer_vocab_size(tok), cfg.vocab_size);
        hs_tokenizer_free(tok);

        /* our writer's copy reads back identically and still matches HF's values */
        hs_st_writer *w = hs_st_writer_new();
        for (size_t i = 0; i < hs_st_count(set); i++) {
            const hs_st_tensor *t = hs_st_at(set, i);
            assert_int_equal(hs_st_writer_add_raw(w, t->name, t->dtype, t->ndim, t->shape, t->data,
                                                  t->nbytes, err, sizeof err), 0);
        }
        snprintf(path, sizeof path, "%s/%s.safetensors", g_tmp, models[m]);
        assert_int_equal(hs_st_writer_write(w, path, err, sizeof err), 0);
        hs_st_writer_free(w);
        hs_st_set *back = hs_st_open_file(path, err, sizeof err);
        assert_non_null(back);
        assert_int_equal(hs_st_count(back), hs_st_count(set));
        for (size_t i = 0; i < hs_st_count(set); i++) {
            const hs_st_tensor *a = hs_st_at(set, i), *b = hs_st_find(back, a->name);
            assert_non_null(b);
            assert_int_equal(a->nbytes, b->nbytes);
            assert_memory_equal(a->data, b->data, a->nbytes);
        }
        check_against_expected(back, cJSON_GetObjectItem(exp, "tensors"), 0);
        hs_st_close(back);
        hs_st_close(set);
        cJSON_Delete(exp);
    }
}

/* tiny-h4-f16 / -bf16 hold tiny-h4-f32's weights rounded by torch. */
static void test_half_models_are_rounded_f32(void **state)
{
    (void)state;
    char dir[4096], err[512] = "";
    model_dir(dir, sizeof dir, "tiny-h4-f32");
    hs_st_set *f32 = hs_st_open_dir(dir, err, sizeof err);
    assert_non_null(f32);
    const char *half_models[2] = {"tiny-h4-f16", "tiny-h4-bf16"};
    for (int k = 0; k < 2; k++) {
        model_dir(dir, sizeof dir, half_models[k]);
        hs_st_set *h = hs_st_open_dir(dir, err, sizeof err);
        assert_non_null(h);
        size_t n_values = 0;
        for (size_t i = 0; i < hs_st_count(h); i++) {
            const hs_st_tensor *t = hs_st_at(h, i);
            const hs_st_tensor *ref = hs_st_find(f32, t->name); /* prefix differs for f16 */
            assert_non_null(ref);
            assert_int_equal(ref->numel, t->numel);
            const float *rv = ref->data;
            const unsigned char *hb = t->data;
            for (int64_t j = 0; j < t->numel; j++) {
                float x;
                memcpy(&x, &rv[j], sizeof x);
                uint16_t want = (uint16_t)(hb[2 * j] | (hb[2 * j + 1] << 8));
                uint16_t got = k == 0 ? hs_f32_to_f16(x) : hs_f32_to_bf16(x);
                if (got != want)
                    fprintf(stderr, "%s %s[%lld]: %a -> %04x, torch %04x\n", half_models[k], t->name,
                            (long long)j, (double)x, got, want);
                assert_int_equal(got, want);
                n_values++;
            }
        }
        printf("%s: %zu weights rounded exactly as torch\n", half_models[k], n_values);
        hs_st_close(h);
    }
    hs_st_close(f32);
}

/* Copies a fixture's small files and a rewritten model.safetensors (one tensor dropped or
 * reshaped) to dir. */
static void make_broken_model(const char *dir, const char *drop, const char *reshape)
{
    char src[4096], path[4200], err[512] = "";
    assert_int_equal(mkdir(dir, 0755), 0);
    model_dir(src, sizeof src, "tiny-h4-f32");
    const char *copy[2] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char from[4200];
        snprintf(from, sizeof from, "%s/%s", src, copy[i]);
        snprintf(path, sizeof path, "%s/%s", dir, copy[i]);
        tu_copy_file(from, path);
    }
    hs_st_set *set = hs_st_open_dir(src, err, sizeof err);
    assert_non_null(set);
    hs_st_writer *w = hs_st_writer_new();
    for (size_t i = 0; i < hs_st_count(set); i++) {
        const hs_st_tensor *t = hs_st_at(set, i);
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        int64_t shape[HS_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        int ndim = t->ndim;
        if (reshape && strcmp(t->name, reshape) == 0) { /* [a, b] -> [b, a] */
            shape[0] = t->shape[1];
            shape[1] = t->shape[0];
        }
        assert_int_equal(hs_st_writer_add_raw(w, t->name, t->dtype, ndim, shape, t->data, t->nbytes,
                                              err, sizeof err), 0);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(hs_st_writer_write(w, path, err, sizeof err), 0);
    hs_st_writer_free(w);
    hs_st_close(set);
}

static void test_loader_rejects_missing_and_misshapen(void **state)
{
    (void)state;
    const hs_backend *be = hs_backend_find("cpu");
    assert_non_null(be);
    char err[512] = "";
    hs_backend_ctx *ctx = be->init(0, err, sizeof err);
    assert_non_null(ctx);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/missing", g_tmp);
    make_broken_model(dir, "transformer.h.1.mlp.dense_4h_to_h.weight", NULL);
    hs_model *m = hs_model_load(dir, be, ctx, err, sizeof err);
    assert_null(m);
    printf("missing tensor: %s\n", err);
    assert_non_null(strstr(err, "h.1.mlp.dense_4h_to_h.weight"));
    assert_non_null(strstr(err, "model.safetensors"));
    snprintf(dir, sizeof dir, "%s/misshapen", g_tmp); /* [4C, C] stored as [C, 4C] */
    make_broken_model(dir, NULL, "transformer.h.0.mlp.dense_h_to_4h.weight");
    m = hs_model_load(dir, be, ctx, err, sizeof err);
    assert_null(m);
    printf("wrong shape: %s\n", err);
    assert_non_null(strstr(err, "h.0.mlp.dense_h_to_4h.weight"));
    assert_non_null(strstr(err, "model.safetensors"));
    be->shutdown(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_tensors),
        cmocka_unit_test(test_half_models_are_rounded_f32),
        cmocka_unit_test(test_loader_rejects_missing_and_misshapen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
