/* The memory estimate of a job (model_memory.h) against numbers worked out by hand for the
 * demo model (fp32) and the tiny fp16 BLOOM fixture (mapped), and the device's model cache
 * (device.h): least-recently-used eviction under a byte limit, byte accounting, dropping one
 * model, and the refusal before loading when the estimate does not fit. */
#include "test_util.h"
#include "common/errors.h"
#include "engine/demo/demo_model.h"
#include "engine/device.h"
#include "engine/model/model.h"
#include "engine/model/model_memory.h"
#include <stdlib.h>

static const hs_backend_caps cpu_caps = {
    .host_memory = true, .training = true,
    .storage_dtypes = HS_STORAGE_F32 | HS_STORAGE_F16 | HS_STORAGE_BF16};
static const hs_backend_caps gpu_caps = {.host_memory = false, .training = true,
                                         .storage_dtypes = HS_STORAGE_F32};

static hs_model_config load_config(const char *dir)
{
    char path[4200], err[HS_ERR_LEN];
    snprintf(path, sizeof path, "%s/config.json", dir);
    hs_model_config cfg;
    if (hs_model_config_load(path, &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    return cfg;
}

/* The demo model (4 layers × 8 heads, C 64, F 256, V 512, fp32) diagnosing 16 tokens on one
 * CPU thread. Parameters: wte 512·64 = 32768, embedding layernorm 128, per layer
 * ln1 128 + qkv 12288 + 192 + dense 4096 + 64 + ln2 128 + fc 16384 + 256 + proj 16384 + 64
 * = 49984 (× 4 = 199936), ln_f 128: 232960 floats = 931840 bytes, + 8 slopes = 931872.
 * Forward (N 16): x, ln, attn, proj 4·4096 + qkv 12288 + fc 16384 + stats 4·8·3·4 = 384 +
 * nll 64 + ids and targets 2·64 = 45632; LM head: one chunk of 512 rows, 16·512·4 = 32768
 * logits + 16·12 maxima and sums + 64 target logits = 33024; attention scores 16·16·4 =
 * 1024: activations 79680. */
static void test_demo_model_fp32(void **state)
{
    (void)state;
    char dir[4096], err[HS_ERR_LEN];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_memory_demo"), 0);
    char model[4200];
    snprintf(model, sizeof model, "%s/demo", dir);
    assert_int_equal(hs_demo_model_write(model, false, err, sizeof err), 0);
    const hs_memory_job job = {.seq_len = 16, .threads = 1};
    hs_memory_estimate e;
    assert_int_equal(hs_model_memory_estimate_dir(model, &cpu_caps, &job, &e, err, sizeof err), 0);
    assert_false(e.mapped);
    assert_int_equal(e.weights, 931872);
    assert_int_equal(e.scratch, 0);
    assert_int_equal(e.activations, 79680);
    assert_int_equal(e.training, 0);
    assert_int_equal(e.total, 931872 + 79680);
    assert_int_equal(hs_memory_estimate_resident(&e), 931872);

    /* The loaded model holds exactly the estimated parameters (the slopes aside). */
    hs_device *dev = hs_device_open("cpu", err, sizeof err);
    assert_non_null(dev);
    hs_model *m = hs_device_model(dev, model, &e, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    assert_int_equal(hs_model_resident_bytes(m) + 8 * sizeof(float), e.weights);
    hs_device_close(dev);

    char text[256];
    hs_memory_estimate_describe(&e, text, sizeof text);
    assert_non_null(strstr(text, "1011552 bytes"));
    assert_non_null(strstr(text, "as fp32"));
    tu_rm_tree(dir);
}

/* The tiny fp16 BLOOM (2 layers × 4 heads, C 32, d 8, F 128, V 4096), 313216 tensor bytes.
 * On the CPU it is mapped: weights = the tensor bytes + 4 slopes = 313232; scratch = one
 * layer widened (3·32·32 + 32·32 + 128·32 + 32·128)·4 = 49152 + the vectors as fp32 (64 +
 * 2·416 + 64 floats = 3840 bytes) = 52992. On a GPU it is fp32: (4096·32 + 64 + 2·(64 + 3072 + 96 + 1024 + 32 + 64 +
 * 4096 + 128 + 4096 + 32) + 64)·4 + 16 = 626448. */
static void test_tiny_fp16_mapped(void **state)
{
    (void)state;
    char dir[4096], err[HS_ERR_LEN];
    tu_repo_path(dir, sizeof dir, "tests/reference/models/tiny-h4-f16");
    const hs_memory_job job = {.threads = 1};
    hs_memory_estimate e;
    assert_int_equal(hs_model_memory_estimate_dir(dir, &cpu_caps, &job, &e, err, sizeof err), 0);
    assert_true(e.mapped);
    assert_int_equal(e.weights, 313232);
    assert_int_equal(e.scratch, 52992);
    assert_int_equal(e.activations, 0);
    assert_int_equal(e.total, 313232 + 52992);

    /* loaded mapped on a machine where its fp32 form would not fit HS_KEEP_WIDENED_SHARE of
     * the memory, it streams: the matrices' file bytes, the vectors and the layer scratch */
    setenv("HS_TEST_AVAILABLE_MEMORY", "1000000", 1);
    hs_device *dev = hs_device_open("cpu", err, sizeof err);
    assert_non_null(dev);
    hs_model *m = hs_device_model(dev, dir, &e, err, sizeof err);
    unsetenv("HS_TEST_AVAILABLE_MEMORY");
    if (!m)
        fail_msg("%s", err);
    assert_true(m->weights_mapped && !m->keep_widened);
    /* the estimate counts the vectors' file bytes too (2·960) and the slopes (16) */
    assert_int_equal(hs_model_resident_bytes(m) + 2 * 960 + 16, e.weights + e.scratch);
    hs_device_drop_model(dev, m);
    /* where it fits, it keeps each matrix widened instead and needs no layer scratch: the
     * estimate (the streaming form) is then what it holds before its first forward + 49152 */
    m = hs_device_model(dev, dir, &e, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    assert_true(m->keep_widened);
    assert_int_equal(hs_model_resident_bytes(m) + 49152 + 2 * 960 + 16, e.weights + e.scratch);
    hs_device_close(dev);

    assert_int_equal(hs_model_memory_estimate_dir(dir, &gpu_caps, &job, &e, err, sizeof err), 0);
    assert_false(e.mapped);
    assert_int_equal(e.weights, 626448);
    assert_int_equal(e.scratch, 0);
}

/* A surgery of heads 0 and 2 of layer 1 on the tiny fp16 BLOOM, batch 1 of 8 tokens, one
 * thread. Forward (N 8): 4·1024 + 3072 + 4096 + stats 96 → 128 + 64 + 2·64 = 11584, LM head
 * one chunk of 4096 rows: 8·4096·4 + 8·12 + 32 = 131200 and its widened panel 4096·32·4 =
 * 524288, scores 8·8·4 = 256: 667328.
 * Training from layer 1 (one saved layer, a target): x_in, x1 1024 each, qkv 3072, ln2
 * statistics 2·64, fc_pre 4096, probabilities 4·8·8·4 = 1024, ln1_out and attn 2·1024, top
 * rows 2·1024 + 4·64: 14720; work 3·1024 + 3072 + 2·4096 = 14336; a slice is 3·8·32 + 24 +
 * 32·8 = 1048 floats: gradients 2·1048·4 = 8384, AdamW moments 2·1048·8 + the dense scratch
 * 32·8·4 = 17792; token ids 2·64 + 8·8 = 192; LM head 131200, its memo 8·32·8 + 8·8 = 2112
 * and accumulator 8·32·4 = 1024; backward scores 256: 190016 (fp32); mapped + the panel
 * 524288 + layer 1's query_key_value and dense weights in fp32 4·32·32·4 = 16384: 730688. */
static void test_tiny_fp16_surgery(void **state)
{
    (void)state;
    char dir[4096];
    tu_repo_path(dir, sizeof dir, "tests/reference/models/tiny-h4-f16");
    hs_model_config cfg = load_config(dir);
    const hs_memory_job job = {.seq_len = 8, .train_rows = 1, .train_len = 8,
                               .lowest_target_layer = 1, .target_layers = 1,
                               .target_heads = 2, .threads = 1};
    hs_memory_estimate e;
    hs_model_memory_estimate(&cfg, HS_DTYPE_F16, 313216, &cpu_caps, &job, &e);
    assert_int_equal(e.activations, 667328);
    assert_int_equal(e.training, 730688);
    assert_int_equal(e.total, 313232 + 52992 + 667328 + 730688);
    /* bf16 is mapped the same way; fp32 is not */
    hs_model_memory_estimate(&cfg, HS_DTYPE_BF16, 313216, &cpu_caps, &job, &e);
    assert_true(e.mapped);
    hs_model_memory_estimate(&cfg, HS_DTYPE_F32, 626432, &cpu_caps, &job, &e);
    assert_false(e.mapped);
    assert_int_equal(e.training, 190016);
}

/* A config declaring millions of layers saturates instead of wrapping. */
static void test_huge_config_saturates(void **state)
{
    (void)state;
    char dir[4096];
    tu_repo_path(dir, sizeof dir, "tests/reference/models/tiny-h4-f32");
    hs_model_config cfg = load_config(dir);
    cfg.n_layer = 5000000;
    cfg.hidden_size = 1 << 20;
    cfg.mlp_hidden = 4 << 20;
    cfg.head_dim = cfg.hidden_size / cfg.n_head;
    const hs_memory_job job = {.seq_len = 1 << 20, .threads = 64};
    hs_memory_estimate e;
    hs_model_memory_estimate(&cfg, HS_DTYPE_F32, 1000, &cpu_caps, &job, &e);
    assert_true(e.weights > ((size_t)1 << 60));
    assert_true(e.total >= e.weights);
}

/* A config.json declaring more layers than the checkpoint holds is refused by name, as the
 * loader would. */
static void test_config_beyond_checkpoint(void **state)
{
    (void)state;
    char src[4096], dir[4096], path[4200], err[HS_ERR_LEN] = "";
    tu_repo_path(src, sizeof src, "tests/reference/models/tiny-h4-f16");
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_memory_layers"), 0);
    const char *files[] = {"model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char from[4200];
        snprintf(from, sizeof from, "%s/%s", src, files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        tu_copy_file(from, path);
    }
    hs_model_config cfg = load_config(src);
    cfg.n_layer = 5000000;
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(hs_model_config_write(&cfg, path, err, sizeof err), 0);
    const hs_memory_job job = {.seq_len = 8, .threads = 1};
    hs_memory_estimate e;
    assert_int_equal(hs_model_memory_estimate_dir(dir, &cpu_caps, &job, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "5000000 layers"));
    assert_non_null(strstr(err, "h.4999999.self_attention.query_key_value.weight"));
    tu_rm_tree(dir);
}

/* ---- the model cache ------------------------------------------------------------------- */

typedef struct cache_fixture {
    char root[4096];
    char model[3][4200];
    hs_device *dev;
} cache_fixture;

static int cache_setup(void **state)
{
    cache_fixture *f = calloc(1, sizeof *f);
    char err[HS_ERR_LEN];
    if (!f || tu_mkdtemp(f->root, sizeof f->root, "hs_model_cache") != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        char path[sizeof f->model[i]];
        snprintf(path, sizeof path, "%s/m%d", f->root, i);
        memcpy(f->model[i], path, sizeof path);
        if (hs_demo_model_write(f->model[i], false, err, sizeof err) != 0)
            return -1;
    }
    f->dev = hs_device_open("cpu", err, sizeof err);
    *state = f;
    return f->dev ? 0 : -1;
}

static int cache_teardown(void **state)
{
    cache_fixture *f = *state;
    hs_device_close(f->dev);
    tu_rm_tree(f->root);
    free(f);
    unsetenv("HS_TEST_AVAILABLE_MEMORY");
    return 0;
}

static hs_memory_estimate demo_need(const cache_fixture *f)
{
    const hs_memory_job job = {.seq_len = 16, .threads = 1};
    hs_memory_estimate e;
    char err[HS_ERR_LEN];
    if (hs_model_memory_estimate_dir(f->model[0], &cpu_caps, &job, &e, err, sizeof err) != 0)
        fail_msg("%s", err);
    return e;
}

static hs_model *get(cache_fixture *f, int i, const hs_memory_estimate *need)
{
    char err[HS_ERR_LEN];
    hs_model *m = hs_device_model(f->dev, f->model[i], need, err, sizeof err);
    if (!m)
        fail_msg("model %d: %s", i, err);
    return m;
}

/* The cached paths, most recently used first, as "m<i>" names joined by ','. */
static void cached_names(cache_fixture *f, char *out, size_t len, size_t *used)
{
    hs_device_cached_model list[8];
    size_t limit = 0;
    int n = hs_device_cache_list(f->dev, list, 8, &limit, used);
    out[0] = '\0';
    for (int i = 0; i < n && i < 8; i++) {
        const char *slash = strrchr(list[i].path, '/');
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%s", i ? "," : "", slash ? slash + 1 : list[i].path);
        assert_true(list[i].last_used_ms > 0);
    }
}

static void test_cache_lru_eviction(void **state)
{
    cache_fixture *f = *state;
    const size_t one = 931840; /* the demo model's parameters as fp32 */
    hs_device_set_cache_limit(f->dev, 2 * one + 100);
    hs_memory_estimate need = demo_need(f);
    char names[256];
    size_t used = 0;

    hs_model *a = get(f, 0, &need);
    hs_model *b = get(f, 1, &need);
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m1,m0");
    assert_int_equal(used, 2 * one);
    assert_ptr_equal(get(f, 0, &need), a); /* a hit, and m0 is now the most recent */
    get(f, 2, &need);                      /* evicts m1, the least recently used */
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2,m0");
    assert_int_equal(used, 2 * one);
    (void)b;

    /* dropping one model leaves the others */
    hs_device_drop_model(f->dev, a);
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2");
    assert_int_equal(used, one);

    /* a limit below one model keeps only the model in use */
    hs_device_set_cache_limit(f->dev, 10);
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2");
    get(f, 1, NULL); /* without an estimate: loaded all the same */
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m1");
    assert_int_equal(used, one);
}

static void test_cache_refuses_before_loading(void **state)
{
    cache_fixture *f = *state;
    hs_device_set_cache_limit(f->dev, 10 * 931840);
    hs_memory_estimate need = demo_need(f);
    get(f, 0, &need);
    get(f, 1, &need);
    char err[HS_ERR_LEN], names[256];
    size_t used = 0;

    /* 1 MB free + 2 cached models cannot hold a model of 1e9 bytes: refused, nothing evicted */
    setenv("HS_TEST_AVAILABLE_MEMORY", "1000000", 1);
    hs_memory_estimate big = need;
    big.activations = 1000000000;
    big.total = big.weights + big.activations;
    assert_null(hs_device_model(f->dev, f->model[2], &big, err, sizeof err));
    assert_non_null(strstr(err, "1000931872 bytes")); /* what the job needs */
    char room[32];
    snprintf(room, sizeof room, "%zu bytes", (size_t)1000000 + 2 * 931840);
    assert_non_null(strstr(err, room)); /* what there is, evictions included */
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m1,m0");

    /* 1 MB free: the third model fits once one cached model goes (the least recent, m0) */
    hs_memory_estimate fits = need;
    fits.activations = 500000;
    fits.total = fits.weights + fits.activations;
    get(f, 2, &fits);
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2,m1");

    /* on a hit only the job's activations must fit: 1.5 MB needs m1 evicted, never m2 */
    hs_memory_estimate hit = need;
    hit.activations = 1500000;
    hit.total = hit.weights + hit.activations;
    get(f, 2, &hit);
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2");
    hit.activations = 2000000;
    assert_null(hs_device_model(f->dev, f->model[2], &hit, err, sizeof err));
    assert_non_null(strstr(err, "besides the cached model"));
    cached_names(f, names, sizeof names, &used);
    assert_string_equal(names, "m2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_model_fp32),
        cmocka_unit_test(test_tiny_fp16_mapped),
        cmocka_unit_test(test_tiny_fp16_surgery),
        cmocka_unit_test(test_huge_config_saturates),
        cmocka_unit_test(test_config_beyond_checkpoint),
        cmocka_unit_test_setup_teardown(test_cache_lru_eviction, cache_setup, cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_refuses_before_loading, cache_setup,
                                        cache_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
