/* Attention matrices for the inspect job against transformers (tests/reference/generate/
 * attentions.*: output_attentions of one text on tiny-h6-f32, four heads): every element within
 * 1e-5; heads requested in any order and across layers come back in that order; the per-token
 * statistics against a double re-computation from HF's matrix; the fp16 file round trip
 * (within fp16 rounding) and a missing head; heads outside the model are refused. */
#include "test_graph_util.h"

#include "engine/inspect/inspect.h"
#include "engine/model/model_attention.h"

#include <unistd.h>

static void test_maps_match_transformers(void **state)
{
    (void)state;
    cJSON *fx = tg_load_json("tests/reference/generate/attentions.json");
    int T = 0;
    int32_t *ids = tg_ids(tg_item(fx, "ids"), &T);
    const cJSON *list = tg_item(fx, "heads");
    int n = cJSON_GetArraySize(list);
    hs_head_target heads[8];
    assert_true(n >= 2 && n <= 8);
    for (int k = 0; k < n; k++) { /* reversed: the order asked is the order returned */
        const cJSON *pair = cJSON_GetArrayItem(list, n - 1 - k);
        heads[k].layer = cJSON_GetArrayItem(pair, 0)->valueint;
        heads[k].head = cJSON_GetArrayItem(pair, 1)->valueint;
    }
    char p[4096], err[HS_ERR_LEN];
    tu_repo_path(p, sizeof p, "tests/reference/generate/attentions.safetensors");
    hs_st_set *ref = hs_st_open_file(p, err, sizeof err);
    if (!ref)
        fail_msg("%s", err);
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model("tiny-h6-f32", be, ctx);
    float *maps = malloc((size_t)n * T * T * sizeof(float));
    assert_non_null(maps);
    if (hs_model_attention_maps(m, ids, T, heads, n, maps, err, sizeof err) != 0)
        fail_msg("%s", err);
    double worst = 0.0, worst_stat = 0.0;
    double *bos = malloc(T * sizeof(double)), *ent = malloc(T * sizeof(double)),
           *loc = malloc(T * sizeof(double));
    for (int k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "l%d_h%d", heads[k].layer, heads[k].head);
        size_t count = 0;
        float *want = tg_tensor(ref, name, &count);
        assert_int_equal(count, (size_t)T * T);
        const float *got = maps + (size_t)k * T * T;
        for (size_t i = 0; i < count; i++) {
            double d = fabs((double)got[i] - want[i]);
            if (d > 1e-5)
                fail_msg("%s element (%zu, %zu): %.9g vs transformers %.9g", name, i / T, i % T,
                         (double)got[i], (double)want[i]);
            worst = d > worst ? d : worst;
        }
        hs_attention_token_stats(got, T, bos, ent, loc);
        for (int t = 0; t < T; t++) {
            double e = 0.0, l = 0.0;
            for (int j = 0; j <= t; j++) {
                double a = want[(size_t)t * T + j];
                e -= a > 0 ? a * log(a) : 0.0;
                l += j >= t - 2 ? a : 0.0;
            }
            double diff = fmax(fabs(bos[t] - want[(size_t)t * T]),
                               fmax(fabs(ent[t] - e), fabs(loc[t] - l)));
            assert_true(diff < 1e-4);
            worst_stat = diff > worst_stat ? diff : worst_stat;
        }
        free(want);
    }
    print_message("attention maps of %d heads, T=%d: worst |diff| vs transformers %.3g, "
                  "per-token statistics %.3g\n", n, T, worst, worst_stat);

    /* fp16 file round trip */
    char path[] = "/tmp/hs-inspect-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (hs_inspect_write(path, heads, n, maps, T, err, sizeof err) != 0)
        fail_msg("%s", err);
    float *back = NULL;
    int T2 = 0;
    assert_int_equal(hs_inspect_read(path, heads[1].layer, heads[1].head, &back, &T2, err,
                                     sizeof err), 0);
    assert_int_equal(T2, T);
    for (size_t i = 0; i < (size_t)T * T; i++)
        assert_true(fabs(back[i] - maps[(size_t)T * T + i]) <=
                    fabs(maps[(size_t)T * T + i]) * 0x1.0p-11 + 3e-8);
    free(back);
    assert_int_equal(hs_inspect_read(path, 5, 0, &back, &T2, err, sizeof err), 1);
    assert_null(back);
    unlink(path);

    hs_head_target outside = {.layer = 3, .head = 0}; /* tiny-h6 has 3 layers */
    assert_int_equal(hs_model_attention_maps(m, ids, T, &outside, 1, maps, err, sizeof err), -1);
    assert_non_null(strstr(err, "outside"));
    free(bos); free(ent); free(loc);
    free(maps);
    hs_model_free(m);
    be->shutdown(ctx);
    hs_st_close(ref);
    free(ids);
    cJSON_Delete(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maps_match_transformers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
