/* Loading HF BLOOM directories (model.c) and the device's model cache (device.c):
 * every tensor of the five tiny reference models lands in the one parameter allocation with
 * the values safetensors itself reads (FNV-1a 64 of the fp32 values, from
 * tests/reference/models/<name>.expected.json); broken model directories built here from the
 * fixture files — no tokenizer.json, a missing tensor, a tensor of the wrong shape — fail with
 * errors naming the file and tensor; the cache reuses a loaded model and reloads it when a
 * file's mtime changes; device specs are parsed and refused clearly. */
#include "test_graph_util.h"
#include "engine/device.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const MODELS[] = {"tiny-h4-f32", "tiny-h4-f16", "tiny-h4-bf16", "tiny-h6-f32",
                                     "tiny-h6-sharded"};

static void check_loaded_model(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/reference/models/%s.expected.json", name);
    cJSON *fx = tg_load_json(rel);
    hs_backend_ctx *ctx = NULL;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model(name, be, ctx);

    const cJSON *cfg = tg_item(fx, "config");
    assert_int_equal(m->cfg.hidden_size, (int)tg_num(cfg, "hidden_size"));
    assert_int_equal(m->cfg.n_head, (int)tg_num(cfg, "n_head"));
    assert_int_equal(m->cfg.n_layer, (int)tg_num(cfg, "n_layer"));
    assert_int_equal(m->cfg.vocab_size, (int)tg_num(cfg, "vocab_size"));
    assert_string_equal(hs_dtype_name(m->source_dtype), tg_item(fx, "stored_dtype")->valuestring);
    assert_true(m->path[0] == '/');
    assert_true(m->files_mtime_ns > 0);
    assert_non_null(m->tok);

    const cJSON *tensors = tg_item(fx, "tensors");
    assert_int_equal(m->n_tensors, (size_t)cJSON_GetArraySize(tensors));
    size_t max_numel = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        max_numel = m->tensors[i].numel > max_numel ? m->tensors[i].numel : max_numel;
    float *host = malloc(max_numel * sizeof(float));
    assert_non_null(host);
    char err[HS_ERR_LEN];
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors)
    {
        const hs_tensor_ref *ref = hs_model_find_tensor(m, t->string);
        if (!ref)
            fail_msg("%s: tensor %s not in the parameter table", name, t->string);
        const cJSON *shape = tg_item(t, "shape");
        assert_int_equal(ref->ndim, cJSON_GetArraySize(shape));
        for (int d = 0; d < ref->ndim; d++)
            assert_int_equal(ref->shape[d], cJSON_GetArrayItem(shape, d)->valueint);
        if (hs_model_tensor_to_host(m, ref, host, err, sizeof err) != 0)
            fail_msg("%s: %s", name, err);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)tu_fnv1a64_f32(host, ref->numel));
        if (strcmp(hex, tg_item(t, "fnv1a64")->valuestring) != 0)
            fail_msg("%s: tensor %s values differ from safetensors (fnv %s vs %s)", name,
                     t->string, hex, tg_item(t, "fnv1a64")->valuestring);
    }
    /* The per-layer pointers are the table's offsets (a mapped matrix has none until used). */
    const hs_tensor_ref *r = hs_model_find_tensor(m, "h.1.self_attention.dense.weight");
    assert_non_null(r);
    if (r->mapped)
        assert_null(m->p.layers[1].dense_w);
    else
        assert_ptr_equal(m->p.layers[1].dense_w, m->param_memory + r->offset);
    r = hs_model_find_tensor(m, "transformer.ln_f.bias");
    assert_non_null(r);
    assert_ptr_equal(m->p.lnf_b, m->param_memory + r->offset);
    assert_null(hs_model_find_tensor(m, "lm_head.weight"));
    printf("  %s: %zu tensors, %zu floats, stored %s: values match safetensors\n", name,
           m->n_tensors, m->n_params, hs_dtype_name(m->source_dtype));
    free(host);
    hs_model_free(m);
    be->shutdown(ctx);
    cJSON_Delete(fx);
}

static void test_load_reference_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
        check_loaded_model(MODELS[i]);
}

/* ---- broken model directories ---------------------------------------------------------- */

/* Copies model `name`'s files into dir, except `skip` (NULL: none). */
static void copy_model(const char *name, const char *dir, const char *skip)
{
    char src_dir[4096], rel[256];
    snprintf(rel, sizeof rel, "tests/reference/models/%s", name);
    tu_repo_path(src_dir, sizeof src_dir, rel);
    DIR *d = opendir(src_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (skip && strcmp(e->d_name, skip) == 0))
            continue;
        char from[8192], to[8192];
        snprintf(from, sizeof from, "%s/%s", src_dir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        tu_copy_file(from, to);
    }
    closedir(d);
}

/* Rewrites dir/model.safetensors from tiny-h4-f32's, leaving out tensor `drop` and giving
 * tensor `reshape` the shape [rows/2, cols·2] (same number of values). */
static void rewrite_weights(const char *dir, const char *drop, const char *reshape)
{
    char src[4096], err[HS_ERR_LEN], out[8192];
    tu_repo_path(src, sizeof src, "tests/reference/models/tiny-h4-f32/model.safetensors");
    hs_st_set *set = hs_st_open_file(src, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    hs_st_writer *w = hs_st_writer_new();
    assert_non_null(w);
    for (size_t i = 0; i < hs_st_count(set); i++) {
        const hs_st_tensor *t = hs_st_at(set, i);
        if (drop && strstr(t->name, drop))
            continue;
        int64_t shape[HS_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (reshape && strstr(t->name, reshape)) {
            assert_int_equal(t->ndim, 2);
            shape[0] /= 2;
            shape[1] *= 2;
        }
        if (hs_st_writer_add_raw(w, t->name, t->dtype, t->ndim, shape, t->data, t->nbytes, err,
                                 sizeof err) != 0)
            fail_msg("%s", err);
    }
    snprintf(out, sizeof out, "%s/model.safetensors", dir);
    if (hs_st_writer_write(w, out, err, sizeof err) != 0)
        fail_msg("%s", err);
    hs_st_writer_free(w);
    hs_st_close(set);
}

static void expect_load_error(const char *dir, const char *needle1, const char *needle2)
{
    hs_backend_ctx *ctx = NULL;
    const hs_backend *be = tg_cpu(&ctx);
    char err[HS_ERR_LEN] = "";
    hs_model *m = hs_model_load(dir, be, ctx, err, sizeof err);
    if (m)
        fail_msg("loading %s succeeded; expected an error naming %s", dir, needle1);
    printf("  refused: %s\n", err);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("error '%s' does not name '%s'%s%s", err, needle1, needle2 ? " and " : "",
                 needle2 ? needle2 : "");
    be->shutdown(ctx);
}

static void test_load_without_tokenizer(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_graph_test"), 0);
    copy_model("tiny-h4-f32", dir, "tokenizer.json");
    expect_load_error(dir, "tokenizer.json", dir);
    tu_rm_tree(dir);
}

static void test_load_missing_tensor(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_graph_test"), 0);
    copy_model("tiny-h4-f32", dir, "model.safetensors");
    rewrite_weights(dir, "h.1.mlp.dense_4h_to_h.bias", NULL);
    expect_load_error(dir, "'h.1.mlp.dense_4h_to_h.bias' is missing", "model.safetensors");
    tu_rm_tree(dir);
}

static void test_load_wrong_shape(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_graph_test"), 0);
    copy_model("tiny-h4-f32", dir, "model.safetensors");
    rewrite_weights(dir, NULL, "h.0.self_attention.dense.weight");
    expect_load_error(dir, "h.0.self_attention.dense.weight' has shape [16, 64]",
                      "model.safetensors");
    tu_rm_tree(dir);
}

static void test_load_missing_dir(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_graph_test"), 0);
    char gone[4200];
    snprintf(gone, sizeof gone, "%s/no-such-model", dir);
    expect_load_error(gone, "no-such-model", NULL);
    tu_rm_tree(dir);
}

/* ---- device ------------------------------------------------------------------------------ */

static void test_device_specs(void **state)
{
    (void)state;
    char err[HS_ERR_LEN] = "";
    hs_device *dev = hs_device_open("cpu", err, sizeof err);
    if (!dev)
        fail_msg("%s", err);
    assert_string_equal(dev->spec, "cpu");
    assert_true(strlen(hs_device_describe(dev)) > 0);
    hs_device_close(dev);

    assert_null(hs_device_open("tpu", err, sizeof err));
    assert_non_null(strstr(err, "tpu"));
    assert_null(hs_device_open("cuda:x", err, sizeof err));
    assert_non_null(strstr(err, "cuda:N"));
    err[0] = '\0';
    dev = hs_device_open("cuda:0", err, sizeof err);
#ifdef HS_HAVE_CUDA
    /* Compiled in: either a GPU is there, or the backend's init says why not. */
    if (dev)
        hs_device_close(dev);
    else
        assert_true(strlen(err) > strlen("device 'cuda:0': "));
#else
    assert_null(dev);
    assert_non_null(strstr(err, "not compiled"));
#endif
    printf("  cuda:0 -> %s\n", dev ? "opened" : err);
}

static void test_device_model_cache(void **state)
{
    (void)state;
    char dir[4096], err[HS_ERR_LEN] = "";
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_graph_test"), 0);
    copy_model("tiny-h4-f32", dir, NULL);
    hs_device *dev = hs_device_open("cpu", err, sizeof err);
    assert_non_null(dev);

    hs_model *first = hs_device_model(dev, dir, NULL, err, sizeof err);
    if (!first)
        fail_msg("%s", err);
    long long first_mtime = first->files_mtime_ns;
    assert_ptr_equal(hs_device_model(dev, dir, NULL, err, sizeof err), first); /* cached */

    /* A file changes: the cache key no longer matches and the model is loaded again. */
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    struct timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT},
                                {.tv_sec = first_mtime / 1000000000LL + 100, .tv_nsec = 0}};
    assert_int_equal(utimensat(AT_FDCWD, cfg, times, 0), 0);
    hs_model *second = hs_device_model(dev, dir, NULL, err, sizeof err);
    if (!second)
        fail_msg("%s", err);
    assert_true(second->files_mtime_ns > first_mtime);
    assert_int_equal(dev->n_slots, 1); /* the stale model went */

    /* A path that does not exist fails with an error naming it. */
    char gone[4200];
    snprintf(gone, sizeof gone, "%s/missing", dir);
    assert_null(hs_device_model(dev, gone, NULL, err, sizeof err));
    assert_non_null(strstr(err, "missing"));

    assert_non_null(hs_device_model(dev, dir, NULL, err, sizeof err));
    hs_device_drop_model(dev, NULL);
    assert_int_equal(dev->n_slots, 0);
    hs_device_close(dev);
    tu_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_reference_models),
        cmocka_unit_test(test_load_without_tokenizer),
        cmocka_unit_test(test_load_missing_tensor),
        cmocka_unit_test(test_load_wrong_shape),
        cmocka_unit_test(test_load_missing_dir),
        cmocka_unit_test(test_device_specs),
        cmocka_unit_test(test_device_model_cache),
    };
    return cmocka_run_group_tests_name("graph_load", tests, NULL, NULL);
}
