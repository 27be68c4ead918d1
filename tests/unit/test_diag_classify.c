/* Head classes at and around every threshold (docs/architecture.md "Diagnosis": DEAD bos > dead_bos; BOS-sink
 * sink_bos < bos <= dead_bos; low-entropy bos <= sink_bos and entropy < low_entropy; healthy
 * otherwise), with default and custom thresholds; class names; and the diagnose result JSON
 * built from a hand-made diagnosis (keys, class strings, pattern only on healthy heads,
 * counts, sick band, dormancy). */
#include "test_diag_util.h"

#include "engine/diagnosis/diagnosis.h"

static void test_defaults_are_the_design_values(void **state)
{
    (void)state;
    assert_true(hs_diag_default_thresholds.dead_bos == 0.95);
    assert_true(hs_diag_default_thresholds.sink_bos == 0.5);
    assert_true(hs_diag_default_thresholds.low_entropy == 0.5);
    assert_true(hs_diag_default_thresholds.local_mass == 0.6);
    assert_true(hs_diag_default_thresholds.mlp_dormancy == 0.01);
}

static void test_default_thresholds_at_and_around(void **state)
{
    (void)state;
    const hs_diag_thresholds *t = &hs_diag_default_thresholds;
    const double up = 1e-12;
    /* dead_bos = 0.95: strictly greater is dead */
    assert_int_equal(hs_classify_head(0.95 + up, 3.0, t), HS_HEAD_DEAD);
    assert_int_equal(hs_classify_head(0.95, 3.0, t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.95 - up, 3.0, t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(1.0, 0.0, t), HS_HEAD_DEAD);
    /* sink_bos = 0.5: strictly greater is a sink, whatever the entropy */
    assert_int_equal(hs_classify_head(0.5 + up, 3.0, t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.5 + up, 0.0, t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.5, 3.0, t), HS_HEAD_HEALTHY);
    assert_int_equal(hs_classify_head(0.5, 0.1, t), HS_HEAD_LOW_ENTROPY);
    /* low_entropy = 0.5: strictly smaller is low-entropy (only when bos <= sink_bos) */
    assert_int_equal(hs_classify_head(0.1, 0.5 - up, t), HS_HEAD_LOW_ENTROPY);
    assert_int_equal(hs_classify_head(0.1, 0.5, t), HS_HEAD_HEALTHY);
    assert_int_equal(hs_classify_head(0.1, 0.5 + up, t), HS_HEAD_HEALTHY);
    assert_int_equal(hs_classify_head(0.0, 0.0, t), HS_HEAD_LOW_ENTROPY);
    /* NULL means the defaults */
    assert_int_equal(hs_classify_head(0.96, 1.0, NULL), HS_HEAD_DEAD);
    assert_int_equal(hs_classify_head(0.3, 0.2, NULL), HS_HEAD_LOW_ENTROPY);
}

static void test_custom_thresholds(void **state)
{
    (void)state;
    const hs_diag_thresholds t = {.dead_bos = 0.8, .sink_bos = 0.3, .low_entropy = 1.25,
                                  .local_mass = 0.9};
    assert_int_equal(hs_classify_head(0.81, 2.0, &t), HS_HEAD_DEAD);
    assert_int_equal(hs_classify_head(0.8, 2.0, &t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.31, 2.0, &t), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.3, 2.0, &t), HS_HEAD_HEALTHY);
    assert_int_equal(hs_classify_head(0.3, 1.24, &t), HS_HEAD_LOW_ENTROPY);
    assert_int_equal(hs_classify_head(0.3, 1.25, &t), HS_HEAD_HEALTHY);
    /* a head that is DEAD under the defaults is only a sink with dead_bos 0.99 */
    const hs_diag_thresholds strict = {.dead_bos = 0.99, .sink_bos = 0.5, .low_entropy = 0.5,
                                       .local_mass = 0.6};
    assert_int_equal(hs_classify_head(0.97, 1.0, &strict), HS_HEAD_BOS_SINK);
    assert_int_equal(hs_classify_head(0.995, 1.0, &strict), HS_HEAD_DEAD);
}

static void test_class_names(void **state)
{
    (void)state;
    const char *names[] = {"healthy", "bos-sink", "dead", "low-entropy"};
    const hs_head_class cls[] = {HS_HEAD_HEALTHY, HS_HEAD_BOS_SINK, HS_HEAD_DEAD,
                                 HS_HEAD_LOW_ENTROPY};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(hs_head_class_name(cls[i]), names[i]);
        hs_head_class back;
        assert_int_equal(hs_head_class_from_name(names[i], &back), 0);
        assert_int_equal(back, cls[i]);
    }
    hs_head_class out;
    assert_int_equal(hs_head_class_from_name("bos_sink", &out), -1);
    assert_int_equal(hs_head_class_from_name("", &out), -1);
    assert_int_equal(hs_head_class_from_name(NULL, &out), -1);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        fail_msg("result JSON lacks \"%s\"", k);
    return v;
}

static void test_result_json(void **state)
{
    (void)state;
    /* 2 layers x 2 heads, one of each class, built by hand */
    hs_head_result heads[4] = {
        {.layer = 0, .head = 0, .bos_mass = 0.1, .entropy = 2.0, .local_mass = 0.7,
         .bos_std = 0.01, .entropy_std = 0.02, .local_std = 0.03, .cls = HS_HEAD_HEALTHY,
         .local_pattern = true},
        {.layer = 0, .head = 1, .bos_mass = 0.99, .entropy = 0.01, .local_mass = 0.0,
         .cls = HS_HEAD_DEAD},
        {.layer = 1, .head = 0, .bos_mass = 0.2, .entropy = 1.5, .local_mass = 0.3,
         .cls = HS_HEAD_HEALTHY, .local_pattern = false},
        {.layer = 1, .head = 1, .bos_mass = 0.7, .entropy = 0.8, .local_mass = 0.2,
         .cls = HS_HEAD_BOS_SINK},
    };
    int band[2] = {0, 2}, dormant[2] = {3, 0};
    hs_diagnosis d = {.n_layer = 2, .n_head = 2, .n_texts = 1, .heads = heads,
                      .counts = {[HS_HEAD_HEALTHY] = 2, [HS_HEAD_BOS_SINK] = 1,
                                 [HS_HEAD_DEAD] = 1},
                      .sick_band = band, .mlp_dormant = dormant, .mlp_width = 16};
    hs_model m;
    memset(&m, 0, sizeof m);
    m.cfg = (hs_model_config){.vocab_size = 100, .hidden_size = 4, .n_head = 2, .n_layer = 2,
                              .head_dim = 2};
    cJSON *j = hs_diagnosis_to_json(&d, &m);
    assert_non_null(j);
    const char *top[] = {"model", "heads", "summary", "sick_band", "mlp_dormancy"};
    int n_top = 0;
    for (const cJSON *c = j->child; c; c = c->next)
        n_top++;
    assert_int_equal(n_top, 5);
    for (int i = 0; i < 5; i++)
        get(j, top[i]);
    assert_int_equal(get(get(j, "model"), "n_head")->valueint, 2);
    const cJSON *hj = get(j, "heads");
    assert_int_equal(cJSON_GetArraySize(hj), 4);
    const char *want_class[] = {"healthy", "dead", "healthy", "bos-sink"};
    const char *want_pattern[] = {"local", NULL, "distributed", NULL};
    for (int i = 0; i < 4; i++) {
        const cJSON *h = cJSON_GetArrayItem(hj, i);
        assert_int_equal(get(h, "layer")->valueint, heads[i].layer);
        assert_int_equal(get(h, "head")->valueint, heads[i].head);
        assert_true(get(h, "bos_mass")->valuedouble == heads[i].bos_mass);
        assert_true(get(h, "entropy")->valuedouble == heads[i].entropy);
        assert_true(get(h, "local_mass")->valuedouble == heads[i].local_mass);
        assert_true(get(h, "bos_mass_std")->valuedouble == heads[i].bos_std);
        assert_true(get(h, "entropy_std")->valuedouble == heads[i].entropy_std);
        assert_true(get(h, "local_mass_std")->valuedouble == heads[i].local_std);
        assert_string_equal(get(h, "class")->valuestring, want_class[i]);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(h, "pattern");
        if (want_pattern[i])
            assert_string_equal(p->valuestring, want_pattern[i]);
        else
            assert_null(p);
    }
    const cJSON *s = get(j, "summary");
    assert_int_equal(get(s, "healthy")->valueint, 2);
    assert_int_equal(get(s, "bos_sink")->valueint, 1);
    assert_int_equal(get(s, "dead")->valueint, 1);
    assert_int_equal(get(s, "low_entropy")->valueint, 0);
    const cJSON *b = get(j, "sick_band");
    assert_int_equal(cJSON_GetArraySize(b), 2);
    assert_int_equal(cJSON_GetArrayItem(b, 0)->valueint, 0);
    assert_int_equal(cJSON_GetArrayItem(b, 1)->valueint, 2);
    const cJSON *md = get(j, "mlp_dormancy");
    assert_int_equal(cJSON_GetArraySize(md), 2);
    assert_int_equal(get(cJSON_GetArrayItem(md, 0), "dormant")->valueint, 3);
    assert_int_equal(get(cJSON_GetArrayItem(md, 0), "width")->valueint, 16);
    assert_true(fabs(get(cJSON_GetArrayItem(md, 0), "fraction")->valuedouble - 3.0 / 16) < 1e-15);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_design_values),
        cmocka_unit_test(test_default_thresholds_at_and_around),
        cmocka_unit_test(test_custom_thresholds),
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_result_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
