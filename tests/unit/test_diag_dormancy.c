/* MLP dormancy on hand-built weights: the demo model's MLP weights are replaced by rows and
 * columns of chosen norms whose products sit on both sides of the threshold (0, 1e-6, 0.009,
 * 0.0099, 0.0101, 0.02, 0.5, 2), and the diagnosis must report, per layer, exactly the count
 * made here independently in double from the file — at the default threshold 0.01 and at a
 * custom one. */
#include "test_diag_util.h"

#include "engine/model/model.h"
#include "engine/demo/demo_model.h"
#include "engine/diagnosis/diagnosis.h"
#include "engine/formats/safetensors.h"

enum { C = 64, W = 256, L = 4 };

static const double products[8] = {0.0, 1e-6, 0.009, 0.0099, 0.0101, 0.02, 0.5, 2.0};

/* Neuron i of layer l: its row of dense_h_to_4h and its column of dense_4h_to_h, each along
 * one axis, with ‖row‖·‖col‖ = products[(i + l) % 8]; the first 10·l neurons are all zero. */
static void hand_built(int l, float *fc, float *proj)
{
    memset(fc, 0, sizeof(float) * W * C);
    memset(proj, 0, sizeof(float) * C * W);
    for (int i = 10 * l; i < W; i++) {
        double p = products[(i + l) % 8];
        double r = (i % 2) ? 1.0 : p, c = (i % 2) ? p : 1.0;
        fc[i * C + i % C] = (float)r;
        proj[((i * 7) % C) * W + i] = (float)c;
    }
}

static void rewrite_mlp(const char *dir)
{
    char path[1024], err[HS_ERR_LEN];
    hs_st_set *set = hs_st_open_dir(dir, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    hs_st_writer *w = hs_st_writer_new();
    assert_non_null(w);
    static float fc[W * C], proj[C * W];
    for (size_t k = 0; k < hs_st_count(set); k++) {
        const hs_st_tensor *t = hs_st_at(set, k);
        int layer = -1;
        char kind[64] = "";
        if (sscanf(t->name, "h.%d.mlp.%63s", &layer, kind) == 2 &&
            (strcmp(kind, "dense_h_to_4h.weight") == 0 ||
             strcmp(kind, "dense_4h_to_h.weight") == 0)) {
            hand_built(layer, fc, proj);
            const float *data = strcmp(kind, "dense_h_to_4h.weight") == 0 ? fc : proj;
            assert_int_equal(hs_st_writer_add_f32(w, t->name, HS_DTYPE_F32, t->ndim, t->shape,
                                                  data, err, sizeof err),
                             0);
        } else {
            assert_int_equal(hs_st_writer_add_raw(w, t->name, t->dtype, t->ndim, t->shape,
                                                  t->data, t->nbytes, err, sizeof err),
                             0);
        }
    }
    hs_st_close(set);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (hs_st_writer_write(w, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    hs_st_writer_free(w);
}

/* Independent count from the file: neurons with ‖row‖·‖col‖ < threshold. */
static void count_from_file(const char *dir, double threshold, int *out)
{
    char err[HS_ERR_LEN];
    hs_st_set *set = hs_st_open_dir(dir, err, sizeof err);
    assert_non_null(set);
    for (int l = 0; l < L; l++) {
        char name[96];
        snprintf(name, sizeof name, "h.%d.mlp.dense_h_to_4h.weight", l);
        const float *a = hs_st_find(set, name)->data;
        snprintf(name, sizeof name, "h.%d.mlp.dense_4h_to_h.weight", l);
        const float *b = hs_st_find(set, name)->data;
        out[l] = 0;
        for (int i = 0; i < W; i++) {
            double r = 0, c = 0;
            for (int k = 0; k < C; k++) {
                r += (double)a[i * C + k] * a[i * C + k];
                c += (double)b[k * W + i] * b[k * W + i];
            }
            out[l] += sqrt(r) * sqrt(c) < threshold;
        }
    }
    hs_st_close(set);
}

static void test_dormancy_on_hand_built_weights(void **state)
{
    (void)state;
    char tmp[512], dir[600], err[HS_ERR_LEN];
    assert_int_equal(tu_mkdtemp(tmp, sizeof tmp, "hs_diag_test"), 0);
    snprintf(dir, sizeof dir, "%s/m", tmp);
    assert_int_equal(hs_demo_model_write(dir, false, err, sizeof err), 0);
    rewrite_mlp(dir);
    hs_backend_ctx *ctx = td_cpu();
    hs_model *m = hs_model_load(dir, &hs_cpu_backend, ctx, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    int32_t ids[4] = {40, 41, 42, 43};
    hs_token_seq seq = {.ids = ids, .T = 4};
    const double thresholds[3] = {0.01, 0.5, 0.0100001};
    for (int k = 0; k < 3; k++) {
        hs_diag_thresholds t = hs_diag_default_thresholds;
        t.mlp_dormancy = thresholds[k];
        int want[L];
        count_from_file(dir, thresholds[k], want);
        hs_diagnosis d;
        assert_int_equal(hs_diagnose(m, &seq, 1, &t, &d, NULL, NULL, err, sizeof err), 0);
        for (int l = 0; l < L; l++) {
            print_message("threshold %g layer %d: dormant %d (independent count %d)\n",
                          thresholds[k], l, d.mlp_dormant[l], want[l]);
            assert_int_equal(d.mlp_dormant[l], want[l]);
        }
        hs_diagnosis_free(&d);
        /* by construction: 4 (resp. 6) of every 8 products are below 0.01 (resp. 0.5), plus
         * the 10·l zeroed neurons counted once */
        for (int l = 0; l < L; l++) {
            int expect = 10 * l;
            for (int i = 10 * l; i < W; i++)
                expect += products[(i + l) % 8] < (k == 1 ? 0.5 : 0.01);
            assert_int_equal(want[l], expect);
        }
    }
    /* mlp_dormancy <= 0 means the default 0.01 */
    hs_diag_thresholds t0 = hs_diag_default_thresholds;
    t0.mlp_dormancy = 0.0;
    int want[L];
    count_from_file(dir, 0.01, want);
    hs_diagnosis d;
    assert_int_equal(hs_diagnose(m, &seq, 1, &t0, &d, NULL, NULL, err, sizeof err), 0);
    for (int l = 0; l < L; l++)
        assert_int_equal(d.mlp_dormant[l], want[l]);
    hs_diagnosis_free(&d);
    hs_model_free(m);
    hs_cpu_backend.shutdown(ctx);
    tu_rm_tree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dormancy_on_hand_built_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
