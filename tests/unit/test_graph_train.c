/* The masked trainer (model_train.c):
 *   - against HF transformers (tests/reference/surgery/gradients.*): one forward/backward on
 *     tiny-h6-f32 with targets {1: [0, 3], 2: [5]} gives the fixture's loss (relative error
 *     <= 1e-5) and the target slices' gradients (relative error max|ours − ref| / max|ref| per
 *     tensor <= 1e-4); a second step accumulates (+=);
 *   - the parameter allocation is bit-identical after a step, and writing through the slice
 *     views changes exactly the target rows/columns (positions computed here from the HF
 *     layout, independently of the trainer);
 *   - central finite differences of the whole trainer on the tiny model (targets at layers 0
 *     and 2 with a frozen layer between, a batch of 2): for the largest-gradient entry of each
 *     part (q, k, v rows, bias, dense columns) of every slice, (L(p+ε) − L(p−ε)) / 2ε with
 *     ε = 1e-2 and L the mean NLL from the inference forward (hs_model_sequence_nll), within a
 *     relative 1e-2 (plus 1e-4 absolute: the fp32 loss leaves ~5e-5 of noise in the
 *     difference quotient) of the trainer's gradient;
 *   - invalid targets and batches are refused, naming the field. */
#include "test_graph_util.h"
#include "engine/model/model_train.h"

#define LOSS_REL_TOL 1e-5
#define GRAD_REL_TOL 1e-4
#define FD_EPS 1e-2f
#define FD_REL_TOL 1e-2
#define FD_ABS_TOL 1e-4

static hs_head_target *targets_from_json(const cJSON *obj, int *n)
{
    hs_head_target *t = calloc(64, sizeof *t);
    assert_non_null(t);
    int k = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, obj)
    {
        const cJSON *head;
        cJSON_ArrayForEach(head, layer)
        {
            assert_true(k < 64);
            t[k].layer = atoi(layer->string);
            t[k].head = head->valueint;
            k++;
        }
    }
    *n = k;
    return t;
}

/* Downloads the gradients of slice s into malloc'd host arrays (*qkv_b stays zero-filled when
 * the family has no QKV bias). */
static void download_grads(const hs_model *m, const hs_head_slices *s, float **qkv_w,
                           float **qkv_b, float **dense)
{
    const size_t C = (size_t)m->cfg.hidden_size, d = (size_t)m->cfg.head_dim;
    *qkv_w = malloc(3 * d * C * sizeof(float));
    *qkv_b = calloc(3 * d, sizeof(float));
    *dense = malloc(C * d * sizeof(float));
    assert_true(*qkv_w && *qkv_b && *dense);
    assert_int_equal(m->be->download(m->bctx, *qkv_w, s->g_qkv_w, 3 * d * C * sizeof(float)), 0);
    if (s->g_qkv_b)
        assert_int_equal(m->be->download(m->bctx, *qkv_b, s->g_qkv_b, 3 * d * sizeof(float)), 0);
    assert_int_equal(m->be->download(m->bctx, *dense, s->g_dense, C * d * sizeof(float)), 0);
}

static double compare_grads(const hs_model *m, hs_model_trainer *tr, const hs_st_set *ref,
                            double factor)
{
    int n = 0;
    hs_head_slices *s = hs_model_trainer_slices(tr, &n);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        float *ours[3];
        download_grads(m, &s[i], &ours[0], &ours[1], &ours[2]);
        static const char *const parts[3] = {"qkv_weight", "qkv_bias", "dense_cols"};
        for (int p = 0; p < 3; p++) {
            char name[96];
            snprintf(name, sizeof name, "layer%d.head%d.%s", s[i].layer, s[i].head, parts[p]);
            if (p == 1 && !s[i].g_qkv_b) {
                /* no QKV bias in this family: none in the model, none in the fixture */
                assert_null(hs_st_find(ref, name));
                free(ours[p]);
                continue;
            }
            size_t cnt = 0;
            float *want = tg_tensor(ref, name, &cnt);
            for (size_t k = 0; k < cnt; k++)
                want[k] = (float)(want[k] * factor);
            double e = tg_rel_err(ours[p], want, cnt);
            if (!(e <= GRAD_REL_TOL))
                fail_msg("%s: gradient relative error %.3g > %.0e", name, e, GRAD_REL_TOL);
            if (e > worst)
                worst = e;
            free(want);
            free(ours[p]);
        }
    }
    return worst;
}

/* One forward/backward against a gradients fixture (prefix "" BLOOM, "mpt-" MPT). */
static void gradients_match_hf(const char *prefix, const char *model)
{
    char p[4096], err[HS_ERR_LEN], rel[256];
    snprintf(rel, sizeof rel, "tests/reference/surgery/%sgradients.json", prefix);
    cJSON *fx = tg_load_json(rel);
    snprintf(rel, sizeof rel, "tests/reference/surgery/%sgradients.safetensors", prefix);
    tu_repo_path(p, sizeof p, rel);
    hs_st_set *ref = hs_st_open_file(p, err, sizeof err);
    if (!ref)
        fail_msg("%s", err);
    hs_backend_ctx *ctx = NULL;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model(model, be, ctx);
    printf("  %s (%s)\n", model, m->cfg.family->name);

    int n_targets = 0, T = 0;
    hs_head_target *targets = targets_from_json(tg_item(fx, "targets"), &n_targets);
    int32_t *ids = tg_ids(tg_item(fx, "ids"), &T);
    assert_int_equal(T, (int)tg_num(fx, "chunk_len"));
    hs_model_trainer *tr = hs_model_trainer_new(m, targets, n_targets, 1, T, err, sizeof err);
    if (!tr)
        fail_msg("%s", err);

    double loss = 0.0;
    if (hs_model_trainer_step(tr, ids, 1, 1.0f, &loss, err, sizeof err) != 0)
        fail_msg("%s", err);
    double loss_err = fabs(loss - tg_num(fx, "loss")) / fabs(tg_num(fx, "loss"));
    assert_true(loss_err <= LOSS_REL_TOL);
    double worst = compare_grads(m, tr, ref, 1.0);

    /* A second micro-step with scale 0.5 accumulates: the gradients become 1.5× HF's. */
    if (hs_model_trainer_step(tr, ids, 1, 0.5f, &loss, err, sizeof err) != 0)
        fail_msg("%s", err);
    double worst_acc = compare_grads(m, tr, ref, 1.5);
    /* zero_grad clears them. */
    assert_int_equal(hs_model_trainer_zero_grad(tr), 0);
    int n = 0;
    hs_head_slices *s = hs_model_trainer_slices(tr, &n);
    float *gw, *gb, *gd;
    download_grads(m, &s[0], &gw, &gb, &gd);
    assert_true(gw[0] == 0.0f && gb[0] == 0.0f && gd[0] == 0.0f);
    free(gw);
    free(gb);
    free(gd);

    printf("  %d target heads, T=%d: loss rel err %.2e (tol %.0e); gradient max rel err %.2e, "
           "after accumulation %.2e (tol %.0e)\n",
           n_targets, T, loss_err, LOSS_REL_TOL, worst, worst_acc, GRAD_REL_TOL);
    hs_model_trainer_free(tr);
    free(ids);
    free(targets);
    hs_model_free(m);
    be->shutdown(ctx);
    hs_st_close(ref);
    cJSON_Delete(fx);
}

static void test_train_gradients_match_hf(void **state)
{
    (void)state;
    gradients_match_hf("", "tiny-h6-f32");
}

static void test_train_gradients_match_hf_mpt(void **state)
{
    (void)state;
    gradients_match_hf("mpt-", "tiny-mpt-h6-f32");
}

/* Two 32-token sequences: the first chunks of the surgery corpus (steps.json). */
static int32_t *two_chunks(int *T)
{
    cJSON *fx = tg_load_json("tests/reference/surgery/steps.json");
    const cJSON *chunks = tg_item(fx, "chunks");
    assert_true(cJSON_GetArraySize(chunks) >= 2);
    int T0 = 0, T1 = 0;
    int32_t *a = tg_ids(cJSON_GetArrayItem(chunks, 0), &T0);
    int32_t *b = tg_ids(cJSON_GetArrayItem(chunks, 1), &T1);
    assert_int_equal(T0, T1);
    int32_t *ids = malloc(2 * (size_t)T0 * sizeof *ids);
    assert_non_null(ids);
    memcpy(ids, a, (size_t)T0 * sizeof *ids);
    memcpy(ids + T0, b, (size_t)T0 * sizeof *ids);
    free(a);
    free(b);
    cJSON_Delete(fx);
    *T = T0;
    return ids;
}

/* tiny-h6-f32 on the CPU (*be, *ctx, *m), the two fixture chunks (*ids, *T) and a trainer of
 * the 3 targets over them as one batch of 2. */
static hs_model_trainer *train_two_chunks(const hs_head_target targets[3], const hs_backend **be,
                                          hs_backend_ctx **ctx, hs_model **m,
                                          int32_t **ids, int *T)
{
    char err[HS_ERR_LEN];
    *be = tg_cpu(ctx);
    *m = tg_load_model("tiny-h6-f32", *be, *ctx);
    *ids = two_chunks(T);
    hs_model_trainer *tr = hs_model_trainer_new(*m, targets, 3, 2, *T, err, sizeof err);
    if (!tr)
        fail_msg("%s", err);
    return tr;
}

static void free_two_chunks(const hs_backend *be, hs_backend_ctx *ctx, hs_model *m,
                            int32_t *ids, hs_model_trainer *tr)
{
    free(ids);
    hs_model_trainer_free(tr);
    hs_model_free(m);
    be->shutdown(ctx);
}

static void test_train_frozen_bit_identical(void **state)
{
    (void)state;
    char err[HS_ERR_LEN];
    const hs_head_target targets[] = {{1, 4}, {1, 0}, {2, 5}};
    const hs_backend *be;
    hs_backend_ctx *ctx;
    hs_model *m;
    int32_t *ids;
    int T;
    hs_model_trainer *tr = train_two_chunks(targets, &be, &ctx, &m, &ids, &T);
    const size_t C = (size_t)m->cfg.hidden_size, d = (size_t)m->cfg.head_dim;

    const size_t bytes = m->n_params * sizeof(float);
    float *before = malloc(bytes), *after = malloc(bytes);
    assert_true(before && after);
    assert_int_equal(be->download(ctx, before, m->param_memory, bytes), 0);
    double loss = 0.0;
    if (hs_model_trainer_step(tr, ids, 2, 1.0f, &loss, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(be->download(ctx, after, m->param_memory, bytes), 0);
    assert_memory_equal(before, after, bytes);

    /* Halve every slice through its view, as an optimizer would write it. */
    int n = 0;
    hs_head_slices *s = hs_model_trainer_slices(tr, &n);
    assert_int_equal(n, 3);
    float *cols = malloc(C * d * sizeof(float));
    assert_non_null(cols);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[i].layer, targets[i].layer);
        assert_int_equal(s[i].head, targets[i].head);
        assert_int_equal(be->scale(ctx, s[i].qkv_w, 0.5f, 3 * d * C), 0);
        assert_int_equal(be->scale(ctx, s[i].qkv_b, 0.5f, 3 * d), 0);
        assert_int_equal(be->copy_2d(ctx, cols, (int)d, s[i].dense_w, (int)C, (int)C, (int)d), 0);
        assert_int_equal(be->scale(ctx, cols, 0.5f, C * d), 0);
        assert_int_equal(be->copy_2d(ctx, s[i].dense_w, (int)C, cols, (int)d, (int)C, (int)d), 0);
    }
    free(cols);
    assert_int_equal(be->download(ctx, after, m->param_memory, bytes), 0);

    /* Which floats belong to a slice, from the HF layout: rows [head·3d, head·3d+3d) of
     * query_key_value.weight/.bias, columns [head·d, head·d+d) of dense.weight. */
    unsigned char *in_slice = calloc(m->n_params, 1);
    assert_non_null(in_slice);
    for (int i = 0; i < n; i++) {
        char name[96];
        const size_t h = (size_t)targets[i].head;
        snprintf(name, sizeof name, "h.%d.self_attention.query_key_value.weight", targets[i].layer);
        const hs_tensor_ref *w = hs_model_find_tensor(m, name);
        snprintf(name, sizeof name, "h.%d.self_attention.query_key_value.bias", targets[i].layer);
        const hs_tensor_ref *b = hs_model_find_tensor(m, name);
        snprintf(name, sizeof name, "h.%d.self_attention.dense.weight", targets[i].layer);
        const hs_tensor_ref *dw = hs_model_find_tensor(m, name);
        assert_true(w && b && dw);
        for (size_t r = h * 3 * d; r < (h + 1) * 3 * d; r++) {
            memset(in_slice + w->offset + r * C, 1, C);
            in_slice[b->offset + r] = 1;
        }
        for (size_t r = 0; r < C; r++)
            memset(in_slice + dw->offset + r * C + h * d, 1, d);
    }
    size_t changed = 0, slice_floats = 0;
    for (size_t k = 0; k < m->n_params; k++) {
        if (in_slice[k]) {
            slice_floats++;
            if (before[k] != 0.0f)
                assert_true(after[k] == before[k] * 0.5f);
            changed += after[k] != before[k];
        } else if (memcmp(&after[k], &before[k], sizeof(float)) != 0) {
            fail_msg("frozen parameter float %zu changed", k);
        }
    }
    assert_int_equal(slice_floats, 3 * (3 * d * C + 3 * d + C * d));
    assert_true(changed > slice_floats / 2);
    printf("  frozen %zu of %zu floats bit-identical after a step and a slice update; %zu slice "
           "floats changed\n",
           m->n_params - slice_floats, m->n_params, changed);
    free(in_slice);
    free(before);
    free(after);
    free_two_chunks(be, ctx, m, ids, tr);
}

/* Mean NLL over the B·(T−1) shifted targets of B sequences, by the inference forward. */
static double mean_nll(hs_model *m, const int32_t *ids, int B, int T)
{
    char err[HS_ERR_LEN];
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        double nll = 0.0;
        if (hs_model_sequence_nll(m, ids + (size_t)b * T, T, &nll, err, sizeof err) != 0)
            fail_msg("%s", err);
        total += nll;
    }
    return total / ((double)B * (T - 1));
}

static float get1(const hs_model *m, const float *p)
{
    float v;
    assert_int_equal(m->be->download(m->bctx, &v, p, sizeof v), 0);
    return v;
}

static void set1(const hs_model *m, float *p, float v)
{
    assert_int_equal(m->be->upload(m->bctx, p, &v, sizeof v), 0);
}

/* Index of the largest |g[k·stride]| for k < n. */
static size_t argmax_abs(const float *g, size_t n, size_t stride)
{
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (fabsf(g[k * stride]) > fabsf(g[best * stride]))
            best = k;
    return best;
}

static void test_train_finite_differences(void **state)
{
    (void)state;
    char err[HS_ERR_LEN];
    const hs_head_target targets[] = {{2, 3}, {0, 1}, {2, 4}};
    const hs_backend *be;
    hs_backend_ctx *ctx;
    hs_model *m;
    int32_t *ids;
    int T;
    hs_model_trainer *tr = train_two_chunks(targets, &be, &ctx, &m, &ids, &T);
    const size_t C = (size_t)m->cfg.hidden_size, d = (size_t)m->cfg.head_dim;
    double loss = 0.0;
    if (hs_model_trainer_step(tr, ids, 2, 1.0f, &loss, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(fabs(loss - mean_nll(m, ids, 2, T)) <= 1e-5 * loss);

    int n = 0;
    hs_head_slices *s = hs_model_trainer_slices(tr, &n);
    double worst = 0.0;
    int checked = 0;
    for (int i = 0; i < n; i++) {
        float *gw, *gb, *gd;
        download_grads(m, &s[i], &gw, &gb, &gd);
        /* (parameter, gradient) pairs: the largest entry of the q, k and v rows, the bias,
         * and the dense columns. */
        float *param[5], grad[5];
        for (int part = 0; part < 3; part++) {
            size_t k = argmax_abs(gw + part * d * C, d * C, 1);
            param[part] = s[i].qkv_w + part * d * C + k;
            grad[part] = gw[part * d * C + k];
        }
        size_t kb = argmax_abs(gb, 3 * d, 1);
        param[3] = s[i].qkv_b + kb;
        grad[3] = gb[kb];
        size_t kd = argmax_abs(gd, C * d, 1); /* g_dense [C, d]: row r, column c */
        param[4] = s[i].dense_w + (kd / d) * C + kd % d;
        grad[4] = gd[kd];
        for (int e = 0; e < 5; e++) {
            const float p0 = get1(m, param[e]);
            set1(m, param[e], p0 + FD_EPS);
            double up = mean_nll(m, ids, 2, T);
            set1(m, param[e], p0 - FD_EPS);
            double down = mean_nll(m, ids, 2, T);
            set1(m, param[e], p0);
            double fd = (up - down) / (2.0 * (double)FD_EPS);
            double diff = fabs(fd - grad[e]);
            double r = diff / fabs((double)grad[e]);
            if (!(diff <= FD_REL_TOL * fabs((double)grad[e]) + FD_ABS_TOL))
                fail_msg("layer %d head %d part %d: finite difference %.6g vs trainer %.6g",
                         s[i].layer, s[i].head, e, fd, grad[e]);
            if (r > worst)
                worst = r;
            checked++;
        }
        free(gw);
        free(gb);
        free(gd);
    }
    printf("  %d entries, eps %.0e: max relative difference finite-difference vs trainer "
           "%.2e (tol %.0e + %.0e abs)\n",
           checked, (double)FD_EPS, worst, FD_REL_TOL, FD_ABS_TOL);
    free_two_chunks(be, ctx, m, ids, tr);
}

static void expect_new_error(hs_model *m, const hs_head_target *t, int n, int B, int T,
                             const char *needle)
{
    char err[HS_ERR_LEN] = "";
    hs_model_trainer *tr = hs_model_trainer_new(m, t, n, B, T, err, sizeof err);
    if (tr)
        fail_msg("trainer accepted invalid input (expected '%s')", needle);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not say '%s'", err, needle);
}

static void test_train_rejects_bad_input(void **state)
{
    (void)state;
    hs_backend_ctx *ctx = NULL;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model("tiny-h6-f32", be, ctx);
    const hs_head_target head_out[] = {{1, 6}};
    const hs_head_target layer_out[] = {{3, 0}};
    const hs_head_target twice[] = {{1, 2}, {1, 2}};
    expect_new_error(m, head_out, 1, 1, 8, "head 6");
    expect_new_error(m, layer_out, 1, 1, 8, "layer 3");
    expect_new_error(m, twice, 2, 1, 8, "twice");
    expect_new_error(m, twice, 0, 1, 8, "targets");
    expect_new_error(m, twice, 1, 0, 8, "batch_size");
    expect_new_error(m, twice, 1, 1, 1, "max_length");

    char err[HS_ERR_LEN] = "";
    hs_model_trainer *tr = hs_model_trainer_new(m, twice, 1, 1, 4, err, sizeof err);
    assert_non_null(tr);
    int32_t ids[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    double loss;
    assert_int_equal(hs_model_trainer_step(tr, ids, 2, 1.0f, &loss, err, sizeof err), -1);
    assert_non_null(strstr(err, "batch"));
    ids[2] = -3;
    assert_int_equal(hs_model_trainer_step(tr, ids, 1, 1.0f, &loss, err, sizeof err), -1);
    assert_non_null(strstr(err, "position 2"));
    hs_model_trainer_free(tr);
    hs_model_free(m);
    be->shutdown(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_gradients_match_hf),
        cmocka_unit_test(test_train_gradients_match_hf_mpt),
        cmocka_unit_test(test_train_frozen_bit_identical),
        cmocka_unit_test(test_train_finite_differences),
        cmocka_unit_test(test_train_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("graph_train", tests, NULL, NULL);
}
