/* Weights kept in their file dtype: the widening op exact for every fp16 and bf16 bit pattern
 * (normals, subnormals, ±0, ±inf, NaN), the table ops on an fp16/bf16 table equal to the same
 * ops on its fp32 widening, and a model loaded mapped equal, number for number, to the same
 * model loaded resident fp32 — logits, head statistics, NLL, a training step's loss and slice
 * gradients, a surgical re-initialisation and every tensor read back for a checkpoint — for
 * the fp16 and bf16 tiny BLOOMs, the bf16 tiny MPT (QKV rows permuted while widening), and
 * sharded fp16/bf16 copies of the 6-head BLOOM written here. */
#include "test_graph_util.h"

#include "engine/model/model_train.h"
#include "engine/surgery/surgery_reinit.h"
#include "half_float.h"
#include <stdint.h>

/* Every one of the 65536 patterns through the backend's widen op, against the scalar
 * definition; NaNs must stay NaNs with their sign (an F16C conversion quiets a signalling
 * NaN, so its quiet bit may differ). */
static void check_every_pattern(hs_table_dtype dtype, float (*scalar)(uint16_t))
{
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    uint16_t *src = malloc(65536 * sizeof *src);
    float *dst = malloc(65536 * sizeof *dst);
    assert_non_null(src);
    assert_non_null(dst);
    for (uint32_t i = 0; i < 65536; i++)
        src[i] = (uint16_t)i;
    assert_int_equal(be->widen(ctx, dst, src, dtype, 65536), 0);
    int nans = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        float want = scalar((uint16_t)i);
        if (isnan(want)) {
            nans++;
            assert_true(isnan(dst[i]));
            assert_int_equal(signbit(dst[i]) != 0, signbit(want) != 0);
            assert_int_equal(tu_float_bits(dst[i]) & ~0x00400000u, tu_float_bits(want) & ~0x00400000u);
        } else if (tu_float_bits(dst[i]) != tu_float_bits(want)) {
            fail_msg("pattern 0x%04x: widened to %a, expected %a", i, dst[i], want);
        }
    }
    assert_int_equal(nans, 2 * (dtype == HS_TABLE_F16 ? 1023 : 127));
    free(src);
    free(dst);
    be->shutdown(ctx);
}

static void test_widen_every_f16_pattern(void **state)
{
    (void)state;
    check_every_pattern(HS_TABLE_F16, hs_f16_to_f32);
    /* the classes, by value */
    assert_true(hs_f16_to_f32(0x0001) == ldexpf(1.0f, -24));              /* smallest subnormal */
    assert_true(hs_f16_to_f32(0x03FF) == ldexpf(1023.0f, -24));           /* largest subnormal */
    assert_true(hs_f16_to_f32(0x0400) == ldexpf(1.0f, -14));              /* smallest normal */
    assert_true(hs_f16_to_f32(0x7BFF) == 65504.0f);                       /* largest normal */
    assert_true(hs_f16_to_f32(0x3C00) == 1.0f);
    assert_true(hs_f16_to_f32(0xC000) == -2.0f);
    assert_true(hs_f16_to_f32(0x8000) == 0.0f && signbit(hs_f16_to_f32(0x8000)));
    assert_true(hs_f16_to_f32(0x0000) == 0.0f && !signbit(hs_f16_to_f32(0x0000)));
    assert_true(isinf(hs_f16_to_f32(0x7C00)) && hs_f16_to_f32(0x7C00) > 0);
    assert_true(isinf(hs_f16_to_f32(0xFC00)) && hs_f16_to_f32(0xFC00) < 0);
    assert_true(isnan(hs_f16_to_f32(0x7E00)));
}

static void test_widen_every_bf16_pattern(void **state)
{
    (void)state;
    check_every_pattern(HS_TABLE_BF16, hs_bf16_to_f32);
    assert_true(hs_bf16_to_f32(0x0001) == ldexpf(1.0f, -133));            /* smallest subnormal */
    assert_true(hs_bf16_to_f32(0x3F80) == 1.0f);
    assert_true(hs_bf16_to_f32(0x8000) == 0.0f && signbit(hs_bf16_to_f32(0x8000)));
    assert_true(isinf(hs_bf16_to_f32(0xFF80)) && hs_bf16_to_f32(0xFF80) < 0);
    assert_true(isnan(hs_bf16_to_f32(0x7FC0)));
}

/* Random [V, C] fp16 and bf16 tables (finite values) and their fp32 widening: embedding, LM
 * head NLL with lse, its backward (from the memo and recomputed) and the logits give the same
 * bits from the half table as from the fp32 one. */
static void test_table_ops_read_half_tables(void **state)
{
    (void)state;
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    const int V = 1000, C = 24, N = 7;
    uint16_t *half = malloc((size_t)V * C * sizeof *half);
    float *wide = malloc((size_t)V * C * sizeof *wide);
    float *x = malloc((size_t)N * C * sizeof *x);
    float *a = malloc((size_t)N * V * sizeof *a), *b = malloc((size_t)N * V * sizeof *b);
    float lse_a[7], lse_b[7], nll_a[7], nll_b[7];
    int32_t ids[7] = {0, 999, 17, 500, 3, 3, 640}, targets[7] = {5, -1, 999, 0, 42, 7, 1};
    assert_true(half && wide && x && a && b);
    uint64_t s = 12345;
    for (int i = 0; i < N * C; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) - 0.5);
    }
    const hs_table_dtype dtypes[2] = {HS_TABLE_F16, HS_TABLE_BF16};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < V * C; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            /* sign, small exponent range, any mantissa: finite in both formats */
            uint16_t bits = dtypes[k] == HS_TABLE_F16
                                ? (uint16_t)(((s >> 33) & 0x8000u) | (0x2800u + ((s >> 20) & 0x13FFu)))
                                : (uint16_t)(((s >> 33) & 0x8000u) | (0x3C00u + ((s >> 20) & 0x03FFu)));
            half[i] = bits;
        }
        assert_int_equal(be->widen(ctx, wide, half, dtypes[k], (size_t)V * C), 0);
        hs_table ht = {half, dtypes[k]}, ft = hs_table_f32(wide);

        assert_int_equal(be->embedding(ctx, a, ids, ht, N, C), 0);
        assert_int_equal(be->embedding(ctx, b, ids, ft, N, C), 0);
        assert_memory_equal(a, b, (size_t)N * C * sizeof(float));

        assert_int_equal(be->lm_head_logits(ctx, a, x, ht, N, C, V), 0);
        assert_int_equal(be->lm_head_logits(ctx, b, x, ft, N, C, V), 0);
        assert_memory_equal(a, b, (size_t)N * V * sizeof(float));

        assert_int_equal(be->lm_head_nll(ctx, nll_a, lse_a, x, ht, targets, N, C, V), 0);
        assert_int_equal(be->lm_head_nll_backward(ctx, a, x, ht, targets, lse_a, 0.5f, N, C, V), 0);
        assert_int_equal(be->lm_head_nll(ctx, nll_b, lse_b, x, ft, targets, N, C, V), 0);
        assert_int_equal(be->lm_head_nll_backward(ctx, b, x, ft, targets, lse_b, 0.5f, N, C, V), 0);
        assert_memory_equal(nll_a, nll_b, sizeof nll_a);
        assert_memory_equal(lse_a, lse_b, sizeof lse_a);
        assert_memory_equal(a, b, (size_t)N * C * sizeof(float));
        /* the recomputing backward (a forward without lse drops the memo) */
        assert_int_equal(be->lm_head_nll(ctx, nll_a, NULL, x, ht, targets, N, C, V), 0);
        assert_memory_equal(nll_a, nll_b, sizeof nll_a);
        assert_int_equal(be->lm_head_nll_backward(ctx, a, x, ht, targets, lse_a, 0.5f, N, C, V), 0);
        assert_int_equal(be->lm_head_nll_backward(ctx, b, x, ft, targets, lse_b, 0.5f, N, C, V), 0);
        assert_memory_equal(a, b, (size_t)N * C * sizeof(float));
    }
    hs_table bad = {half, (hs_table_dtype)7};
    assert_int_equal(be->embedding(ctx, a, ids, bad, N, C), -1);
    assert_non_null(strstr(be->last_error(ctx), "dtype"));
    free(half);
    free(wide);
    free(x);
    free(a);
    free(b);
    be->shutdown(ctx);
}

/* ---- the mapped model against the resident one ------------------------------------------ */

static hs_model *load_dir(const char *dir, const hs_backend *be, hs_backend_ctx *ctx,
                          hs_weights_placement placement)
{
    char err[HS_ERR_LEN];
    hs_model *m = hs_model_load_with(dir, be, ctx, placement, err, sizeof err);
    if (!m)
        fail_msg("loading %s: %s", dir, err);
    return m;
}

/* placement HS_WEIGHTS_STREAM (widened on every use, into the layer scratch) or
 * HS_WEIGHTS_AUTO (a tiny model: kept widened after the first use) against HS_WEIGHTS_FP32. */
static void compare_models(const char *dir, hs_weights_placement placement)
{
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    char err[HS_ERR_LEN];
    hs_model *mapped = load_dir(dir, be, ctx, placement);
    hs_model *resident = load_dir(dir, be, ctx, HS_WEIGHTS_FP32);
    assert_true(mapped->weights_mapped);
    assert_int_equal(mapped->keep_widened, placement == HS_WEIGHTS_AUTO);
    assert_int_equal(mapped->layer_scratch_floats > 0, placement == HS_WEIGHTS_STREAM);
    assert_false(resident->weights_mapped);
    assert_true(hs_model_resident_bytes(mapped) < hs_model_resident_bytes(resident));
    hs_model *models[2] = {mapped, resident};
    const hs_model_config *c = &mapped->cfg;
    const int L = c->n_layer, H = c->n_head, V = c->vocab_size, T = 40;

    int32_t ids[2 * 40];
    uint64_t s = 99;
    for (int i = 0; i < 2 * T; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    /* logits, statistics and NLL */
    float *logits[2];
    double *stats[2], nll[2];
    for (int k = 0; k < 2; k++) {
        logits[k] = malloc((size_t)T * V * sizeof(float));
        stats[k] = malloc((size_t)L * H * HS_STAT_COUNT * sizeof(double));
        assert_true(logits[k] && stats[k]);
        if (hs_model_logits(models[k], ids, T, logits[k], err, sizeof err) != 0 ||
            hs_model_stats_and_nll(models[k], ids, T, stats[k], &nll[k], err, sizeof err) != 0)
            fail_msg("%s: %s", dir, err);
    }
    assert_memory_equal(logits[0], logits[1], (size_t)T * V * sizeof(float));
    assert_memory_equal(stats[0], stats[1], (size_t)L * H * HS_STAT_COUNT * sizeof(double));
    assert_memory_equal(&nll[0], &nll[1], sizeof(double));

    /* a surgical re-initialisation and a training step on two heads of the last layer */
    hs_head_target targets[2] = {{L - 1, 0}, {L - 1, H - 1}};
    double loss[2];
    hs_model_trainer *tr[2];
    for (int k = 0; k < 2; k++) {
        if (hs_surgery_reinit(models[k], targets, 2, HS_SURGERY_INIT_XAVIER_UNIFORM, 7, err,
                              sizeof err) != 0)
            fail_msg("%s: reinit: %s", dir, err);
        tr[k] = hs_model_trainer_new(models[k], targets, 2, 2, T, err, sizeof err);
        if (!tr[k] || hs_model_trainer_zero_grad(tr[k]) != 0 ||
            hs_model_trainer_step(tr[k], ids, 2, 1.0f, &loss[k], err, sizeof err) != 0)
            fail_msg("%s: training step: %s", dir, err);
    }
    assert_memory_equal(&loss[0], &loss[1], sizeof(double));
    int n0, n1;
    hs_head_slices *s0 = hs_model_trainer_slices(tr[0], &n0), *s1 = hs_model_trainer_slices(tr[1], &n1);
    assert_int_equal(n0, n1);
    const size_t qkv = (size_t)3 * c->head_dim * c->hidden_size;
    for (int i = 0; i < n0; i++) {
        assert_memory_equal(s0[i].g_qkv_w, s1[i].g_qkv_w, qkv * sizeof(float));
        assert_memory_equal(s0[i].g_dense, s1[i].g_dense,
                            (size_t)c->hidden_size * c->head_dim * sizeof(float));
        assert_memory_equal(s0[i].qkv_w, s1[i].qkv_w, qkv * sizeof(float));
    }
    /* every tensor read back as a checkpoint reads it (the re-initialised heads included) */
    assert_int_equal(mapped->n_tensors, resident->n_tensors);
    for (size_t i = 0; i < mapped->n_tensors; i++) {
        const hs_tensor_ref *t = &mapped->tensors[i];
        float *a = malloc(t->numel * sizeof(float)), *b = malloc(t->numel * sizeof(float));
        assert_true(a && b);
        if (hs_model_tensor_to_host(mapped, t, a, err, sizeof err) != 0 ||
            hs_model_tensor_to_host(resident, &resident->tensors[i], b, err, sizeof err) != 0)
            fail_msg("%s: %s", dir, err);
        if (memcmp(a, b, t->numel * sizeof(float)) != 0)
            fail_msg("%s: tensor %s differs between mapped and resident", dir, t->name);
        free(a);
        free(b);
    }
    print_message("%s (%s): mapped %zu bytes after use, resident %zu bytes, equal bit for bit\n",
                  dir, placement == HS_WEIGHTS_AUTO ? "kept widened" : "streamed",
                  hs_model_resident_bytes(mapped), hs_model_resident_bytes(resident));
    for (int k = 0; k < 2; k++) {
        hs_model_trainer_free(tr[k]);
        free(logits[k]);
        free(stats[k]);
        hs_model_free(models[k]);
    }
    be->shutdown(ctx);
}

static void compare_fixture(const char *name)
{
    char rel[256], dir[4096];
    snprintf(rel, sizeof rel, "tests/reference/models/%s", name);
    tu_repo_path(dir, sizeof dir, rel);
    compare_models(dir, HS_WEIGHTS_STREAM);
    compare_models(dir, HS_WEIGHTS_AUTO);
}

static void test_mapped_equals_resident_f16(void **state)
{
    (void)state;
    compare_fixture("tiny-h4-f16");
}

static void test_mapped_equals_resident_bf16(void **state)
{
    (void)state;
    compare_fixture("tiny-h4-bf16");
}

static void test_mapped_equals_resident_mpt_bf16(void **state)
{
    (void)state;
    compare_fixture("tiny-mpt-h4-bf16");
}

/* The 6-head BLOOM's shards rewritten in dtype (same split, same index) into a temp dir. */
static void write_sharded_copy(const char *out, hs_dtype dtype)
{
    char src[4096], p[8192], err[HS_ERR_LEN];
    tu_repo_path(src, sizeof src, "tests/reference/models/tiny-h6-sharded");
    const char *copies[] = {"config.json", "model.safetensors.index.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        char from[8192];
        snprintf(from, sizeof from, "%s/%s", src, copies[i]);
        snprintf(p, sizeof p, "%s/%s", out, copies[i]);
        tu_copy_file(from, p);
    }
    char tok[4096];
    tu_repo_path(tok, sizeof tok, "tests/reference/tokenizer/tokenizer.json");
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    tu_copy_file(tok, p);
    for (int shard = 1; shard <= 2; shard++) {
        char from[8192];
        snprintf(from, sizeof from, "%s/model-0000%d-of-00002.safetensors", src, shard);
        hs_st_set *set = hs_st_open_file(from, err, sizeof err);
        if (!set)
            fail_msg("%s", err);
        hs_st_writer *w = hs_st_writer_new();
        assert_non_null(w);
        for (size_t i = 0; i < hs_st_count(set); i++) {
            const hs_st_tensor *t = hs_st_at(set, i);
            float *v = malloc((size_t)t->numel * sizeof(float));
            assert_non_null(v);
            if (hs_st_to_f32(t, v, err, sizeof err) != 0 ||
                hs_st_writer_add_f32(w, t->name, dtype, t->ndim, t->shape, v, err,
                                     sizeof err) != 0)
                fail_msg("%s", err);
            free(v);
        }
        snprintf(p, sizeof p, "%s/model-0000%d-of-00002.safetensors", out, shard);
        if (hs_st_writer_write(w, p, err, sizeof err) != 0)
            fail_msg("%s", err);
        hs_st_writer_free(w);
        hs_st_close(set);
    }
}

static void compare_sharded(hs_dtype dtype, const char *tag)
{
    char dir[4096];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, tag), 0);
    write_sharded_copy(dir, dtype);
    compare_models(dir, HS_WEIGHTS_STREAM);
    compare_models(dir, HS_WEIGHTS_AUTO);
    tu_rm_tree(dir);
}

static void test_mapped_equals_resident_sharded_f16(void **state)
{
    (void)state;
    compare_sharded(HS_DTYPE_F16, "sharded_f16");
}

static void test_mapped_equals_resident_sharded_bf16(void **state)
{
    (void)state;
    compare_sharded(HS_DTYPE_BF16, "sharded_bf16");
}

/* An fp32 checkpoint is never mapped: nothing would be saved. */
static void test_f32_checkpoint_stays_resident(void **state)
{
    (void)state;
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model("tiny-h4-f32", be, ctx);
    assert_false(m->weights_mapped);
    assert_null(m->mapping);
    assert_int_equal(m->wte_table.dtype, HS_TABLE_F32);
    hs_model_free(m);
    be->shutdown(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widen_every_f16_pattern),
        cmocka_unit_test(test_widen_every_bf16_pattern),
        cmocka_unit_test(test_table_ops_read_half_tables),
        cmocka_unit_test(test_mapped_equals_resident_f16),
        cmocka_unit_test(test_mapped_equals_resident_bf16),
        cmocka_unit_test(test_mapped_equals_resident_mpt_bf16),
        cmocka_unit_test(test_mapped_equals_resident_sharded_f16),
        cmocka_unit_test(test_mapped_equals_resident_sharded_bf16),
        cmocka_unit_test(test_f32_checkpoint_stays_resident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
