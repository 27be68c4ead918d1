/* Unit tests of surgery target parsing: the explicit {"layer": [heads]} form (sorted, indices
 * checked against the model, duplicates and empty sets refused with the field named), the
 * rule form and its resolution against diagnosis rows, and index ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine/diagnosis/diagnosis.h"
#include "engine/surgery/surgery_targets.h"

static void test_explicit_targets(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("{\"6\": [10, 9], \"5\": [15, 14]}");
    hs_head_target *t;
    int n;
    char field[128], err[256];
    assert_int_equal(hs_targets_parse_explicit(j, 24, 16, &t, &n, field, sizeof field, err,
                                               sizeof err), 0);
    assert_int_equal(n, 4);
    const int want[4][2] = {{5, 14}, {5, 15}, {6, 9}, {6, 10}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t[i].layer, want[i][0]);
        assert_int_equal(t[i].head, want[i][1]);
    }
    cJSON *back = hs_targets_to_json(t, n);
    char *text = cJSON_PrintUnformatted(back);
    assert_string_equal(text, "{\"5\":[14,15],\"6\":[9,10]}");
    free(text);
    cJSON_Delete(back);
    free(t);
    cJSON_Delete(j);
}

static void expect_explicit_error(const char *json, const char *want_field, const char *want_text)
{
    cJSON *j = cJSON_Parse(json);
    hs_head_target *t = NULL;
    int n = 0;
    char field[128] = "", err[256] = "";
    assert_int_equal(hs_targets_parse_explicit(j, 24, 16, &t, &n, field, sizeof field, err,
                                               sizeof err), -1);
    assert_null(t);
    assert_string_equal(field, want_field);
    if (!strstr(err, want_text))
        fail_msg("%s: error \"%s\" lacks \"%s\"", json, err, want_text);
    cJSON_Delete(j);
}

static void test_explicit_errors(void **state)
{
    (void)state;
    expect_explicit_error("{\"5\": [16]}", "targets.5", "head 16");
    expect_explicit_error("{\"24\": [1]}", "targets.24", "layer");
    expect_explicit_error("{\"x\": [1]}", "targets.x", "layer");
    expect_explicit_error("{}", "targets", "empty target set");
    expect_explicit_error("{\"5\": []}", "targets.5", "non-empty");
    expect_explicit_error("{\"5\": [3, 3]}", "targets.5", "twice");
    expect_explicit_error("{\"5\": [1.5]}", "targets.5", "head");
}

static void test_rule_resolution(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("{\"from_run\": 12, \"classes\": [\"bos-sink\", \"dead\"], "
                           "\"layers\": \"1-2\", \"heads\": \"2-3\"}");
    hs_target_rule rule;
    char field[128], err[256];
    assert_true(hs_targets_is_rule(j));
    assert_int_equal(hs_targets_parse_rule(j, 4, 8, &rule, field, sizeof field, err, sizeof err),
                     0);
    assert_int_equal(rule.from_run, 12);
    cJSON *rows = cJSON_Parse(
        "[{\"layer\":1,\"head\":2,\"class\":\"dead\"},{\"layer\":1,\"head\":3,\"class\":\"healthy\"},"
        "{\"layer\":0,\"head\":2,\"class\":\"dead\"},{\"layer\":2,\"head\":3,\"class\":\"bos-sink\"},"
        "{\"layer\":2,\"head\":4,\"class\":\"dead\"},{\"layer\":2,\"head\":2,\"class\":\"low-entropy\"}]");
    hs_head_target *t;
    int n;
    assert_int_equal(hs_targets_from_diagnosis(&rule, rows, &t, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].layer, 1);
    assert_int_equal(t[0].head, 2);
    assert_int_equal(t[1].layer, 2);
    assert_int_equal(t[1].head, 3);
    free(t);
    /* nothing matching: an empty target set */
    rule.class_mask = 1u << HS_HEAD_LOW_ENTROPY;
    rule.layer_lo = rule.layer_hi = 3;
    assert_int_equal(hs_targets_from_diagnosis(&rule, rows, &t, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty target set"));
    cJSON_Delete(rows);
    cJSON_Delete(j);
}

static void test_rule_errors(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{\"from_run\": 0}", "targets.from_run"},
        {"{\"from_run\": 3, \"heads\": \"9-15\"}", "targets.heads"},
        {"{\"from_run\": 3, \"layers\": \"5-2\"}", "targets.layers"},
        {"{\"from_run\": 3, \"classes\": [\"sleepy\"]}", "targets.classes"},
        {"{\"from_run\": 3, \"colour\": 1}", "targets.colour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i][0]);
        hs_target_rule rule;
        char field[128] = "", err[256];
        assert_int_equal(hs_targets_parse_rule(j, 24, 8, &rule, field, sizeof field, err,
                                               sizeof err), -1);
        assert_string_equal(field, cases[i][1]);
        cJSON_Delete(j);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    int lo, hi;
    char err[128];
    cJSON *v = cJSON_CreateString("5-22");
    assert_int_equal(hs_parse_index_range(v, 24, &lo, &hi, err, sizeof err), 0);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 22);
    cJSON_Delete(v);
    v = cJSON_CreateNumber(7);
    assert_int_equal(hs_parse_index_range(v, 24, &lo, &hi, err, sizeof err), 0);
    assert_int_equal(lo, 7);
    assert_int_equal(hi, 7);
    cJSON_Delete(v);
    v = cJSON_CreateString("5-24");
    assert_int_equal(hs_parse_index_range(v, 24, &lo, &hi, err, sizeof err), -1);
    cJSON_Delete(v);
    v = cJSON_CreateString("a-b");
    assert_int_equal(hs_parse_index_range(v, 24, &lo, &hi, err, sizeof err), -1);
    cJSON_Delete(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_targets),
        cmocka_unit_test(test_explicit_errors),
        cmocka_unit_test(test_rule_resolution),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
