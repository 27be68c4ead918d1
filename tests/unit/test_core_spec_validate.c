/* Unit tests of central spec validation (daemon/kinds/spec_validate.c: unknown fields, types, ranges,
 * enums, required fields, common fields, the kind's check hook) and of the resolution of spec
 * names inside their roots (daemon/store/paths.c: '..', absolute paths, symlinks out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_server.h"
#include "kinds/kinds.h"
#include "kinds/spec.h"
#include "store/paths.h"

static const char *const modes[] = {"fast", "slow", NULL};

static int check_calls;
static int sample_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *err)
{
    check_calls++;
    const cJSON *lo = cJSON_GetObjectItem(spec, "lo"), *hi = cJSON_GetObjectItem(spec, "hi");
    if (lo && hi && lo->valuedouble > hi->valuedouble) {
        snprintf(err->field, sizeof err->field, "lo");
        snprintf(err->detail, sizeof err->detail, "lo must not exceed hi");
        return -1;
    }
    return 0;
}

static const hs_spec_field sample_fields[] = {
    {.name = "model", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 8},
    {.name = "count", .type = HS_FIELD_INT, .min = 1, .max = 10},
    {.name = "lr", .type = HS_FIELD_NUMBER, .min = 0, .max = 1, .exclusive_min = true},
    {.name = "flag", .type = HS_FIELD_BOOL},
    {.name = "mode", .type = HS_FIELD_STRING, .enum_values = modes},
    {.name = "names", .type = HS_FIELD_STRING_ARRAY, .min = 1, .max = 3},
    {.name = "values", .type = HS_FIELD_NUMBER_ARRAY},
    {.name = "opts", .type = HS_FIELD_OBJECT},
    {.name = "lo", .type = HS_FIELD_NUMBER},
    {.name = "hi", .type = HS_FIELD_NUMBER},
    {.name = "every", .type = HS_FIELD_INT, .min = 1, .max = 100, .nullable = true},
    {.name = NULL},
};

static const hs_job_kind sample_kind = {
    .name = "sample", .description = "test", .fields = sample_fields, .check = sample_check,
};

/* Validates text; returns the failing field ("" when valid). */
static const char *validate(const char *text)
{
    static hs_spec_error e;
    memset(&e, 0, sizeof e);
    cJSON *spec = cJSON_Parse(text);
    if (!spec)
        fail_msg("bad test JSON: %s", text);
    hs_kind_env env = {0};
    int rc = hs_spec_validate(&sample_kind, spec, &env, &e);
    cJSON_Delete(spec);
    if (rc == 0)
        return "";
    if (!e.detail[0])
        fail_msg("%s: failed without a detail", text);
    return e.field;
}

static void test_valid_specs(void **state)
{
    (void)state;
    assert_string_equal(validate("{\"model\":\"m\"}"), "");
    assert_string_equal(validate("{\"kind\":\"sample\",\"priority\":3,\"client_id\":\"x\","
                                 "\"max_attempts\":2,\"model\":\"abcdefgh\",\"count\":10,"
                                 "\"lr\":1,\"flag\":false,\"mode\":\"slow\",\"names\":[\"a\"],"
                                 "\"values\":[1,2.5],\"opts\":{\"any\":1},\"lo\":1,\"hi\":2}"),
                        "");
    assert_string_equal(validate("{\"model\":\"m\",\"every\":null}"), ""); /* nullable */
    assert_string_equal(validate("{\"model\":\"m\",\"every\":100}"), "");
}

static void test_invalid_specs(void **state)
{
    (void)state;
    struct {
        const char *text, *field;
    } cases[] = {
        {"{}", "model"},
        {"{\"model\":\"m\",\"bogus\":1}", "bogus"},
        {"{\"model\":5}", "model"},
        {"{\"model\":\"\"}", "model"},
        {"{\"model\":\"123456789\"}", "model"},
        {"{\"model\":\"m\",\"count\":0}", "count"},
        {"{\"model\":\"m\",\"count\":11}", "count"},
        {"{\"model\":\"m\",\"count\":1.5}", "count"},
        {"{\"model\":\"m\",\"count\":\"2\"}", "count"},
        {"{\"model\":\"m\",\"lr\":0}", "lr"},
        {"{\"model\":\"m\",\"lr\":1.01}", "lr"},
        {"{\"model\":\"m\",\"flag\":1}", "flag"},
        {"{\"model\":\"m\",\"mode\":\"medium\"}", "mode"},
        {"{\"model\":\"m\",\"names\":[]}", "names"},
        {"{\"model\":\"m\",\"names\":[\"a\",\"b\",\"c\",\"d\"]}", "names"},
        {"{\"model\":\"m\",\"names\":[\"a\",2]}", "names"},
        {"{\"model\":\"m\",\"values\":[1,\"x\"]}", "values"},
        {"{\"model\":\"m\",\"values\":{}}", "values"},
        {"{\"model\":\"m\",\"opts\":[]}", "opts"},
        {"{\"model\":\"m\",\"lo\":3,\"hi\":2}", "lo"},
        {"{\"model\":\"m\",\"count\":null}", "count"}, /* not nullable */
        {"{\"model\":\"m\",\"every\":0}", "every"},     /* nullable, still ranged */
        {"{\"model\":\"m\",\"every\":2.5}", "every"},
        {"{\"model\":\"m\",\"every\":false}", "every"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *field = validate(cases[i].text);
        if (strcmp(field, cases[i].field) != 0)
            fail_msg("%s: failing field \"%s\", expected \"%s\"", cases[i].text, field,
                     cases[i].field);
    }
}

static void test_check_runs_after_field_validation(void **state)
{
    (void)state;
    check_calls = 0;
    validate("{\"model\":\"m\",\"count\":0}");
    assert_int_equal(check_calls, 0);
    validate("{\"model\":\"m\"}");
    assert_int_equal(check_calls, 1);
}

static const char *parse_common(const char *text, hs_job_spec *out)
{
    static hs_spec_error e;
    memset(&e, 0, sizeof e);
    cJSON *spec = cJSON_Parse(text);
    hs_kind_env env = {0};
    int rc = hs_job_spec_parse(spec, &env, out, &e);
    cJSON_Delete(spec);
    return rc == 0 ? "" : e.field;
}

static void test_common_fields(void **state)
{
    (void)state;
    hs_job_spec s;
    /* the test build's kind */
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2}", &s), "");
    assert_string_equal(s.kind->name, "test-steps");
    assert_int_equal(s.priority, 0);
    assert_int_equal(s.max_attempts, 3);
    assert_null(s.client_id);
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"priority\":-4,"
                                     "\"max_attempts\":10}", &s), "");
    assert_int_equal(s.priority, -4);
    assert_int_equal(s.max_attempts, 10);
    assert_string_equal(parse_common("{\"steps\":2}", &s), "kind");
    assert_string_equal(parse_common("{\"kind\":\"nope\"}", &s), "kind");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"priority\":1.5}", &s),
                        "priority");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"max_attempts\":0}", &s),
                        "max_attempts");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"max_attempts\":11}", &s),
                        "max_attempts");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"client_id\":\"\"}", &s),
                        "client_id");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"steps\":3}", &s), "steps");
    assert_string_equal(parse_common("{\"kind\":\"test-steps\",\"steps\":2,\"fail_at\":0}", &s),
                        "fail_at");
}

/* ---- paths ------------------------------------------------------------------------------ */

static char base[PATH_MAX];

static void make_file(const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void make_dir(const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void test_paths_confined(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : P_tmpdir;
    snprintf(base, sizeof base, "%s/hs_core_paths_XXXXXX", tmp);
    assert_non_null(mkdtemp(base));
    make_dir("models");
    make_dir("models/demo");
    make_dir("corpus");
    make_file("corpus/a.txt");
    make_file("secret.txt");
    make_dir("data");
    make_dir("data/corpora");
    make_file("data/corpora/up.txt");
    make_dir("data/runs");
    make_dir("data/runs/7-ab12");
    make_dir("data/runs/7-ab12/checkpoints");
    make_dir("data/runs/7-ab12/checkpoints/epoch-3");
    char link_out[PATH_MAX * 2], link_in[PATH_MAX * 2], target[PATH_MAX * 2];
    snprintf(link_out, sizeof link_out, "%s/corpus/escape.txt", base);
    snprintf(target, sizeof target, "%s/secret.txt", base);
    assert_int_equal(symlink(target, link_out), 0);
    snprintf(link_in, sizeof link_in, "%s/corpus/alias.txt", base);
    assert_int_equal(symlink("a.txt", link_in), 0);

    char models[PATH_MAX * 2], corpus[PATH_MAX * 2], data[PATH_MAX * 2];
    snprintf(models, sizeof models, "%s/models", base);
    snprintf(corpus, sizeof corpus, "%s/corpus", base);
    snprintf(data, sizeof data, "%s/data", base);
    hs_kind_env env = {.model_root = models, .corpus_root = corpus, .data_dir = data,
                       .instance = "ab12"};
    char out[PATH_MAX], err[512], want[PATH_MAX * 2], real_base[PATH_MAX];
    assert_non_null(realpath(base, real_base));

    assert_int_equal(hs_resolve_model(&env, "demo", out, sizeof out, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/models/demo", real_base);
    assert_string_equal(out, want);
    assert_int_equal(hs_resolve_corpus(&env, "a.txt", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(hs_resolve_corpus(&env, "alias.txt", out, sizeof out, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/corpus/a.txt", real_base);
    assert_string_equal(out, want);
    assert_int_equal(hs_resolve_corpus(&env, "upload:up.txt", out, sizeof out, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data/corpora/up.txt", real_base);
    assert_string_equal(out, want);
    assert_int_equal(hs_resolve_model(&env, "run:7/epoch-3", out, sizeof out, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data/runs/7-ab12/checkpoints/epoch-3", real_base);
    assert_string_equal(out, want);
    /* another database's run directories are never used */
    hs_kind_env other = env;
    other.instance = "cd34";
    assert_int_equal(hs_resolve_model(&other, "run:7/epoch-3", out, sizeof out, err, sizeof err),
                     -1);

    const char *bad_corpora[] = {"../secret.txt", "escape.txt", "/etc/passwd", "", "missing.txt",
                                 "sub/../../secret.txt", "upload:../up.txt", "upload:x/y",
                                 "upload:missing"};
    for (size_t i = 0; i < sizeof bad_corpora / sizeof bad_corpora[0]; i++) {
        err[0] = '\0';
        if (hs_resolve_corpus(&env, bad_corpora[i], out, sizeof out, err, sizeof err) == 0)
            fail_msg("corpus \"%s\" resolved to %s", bad_corpora[i], out);
        assert_true(err[0] != '\0');
    }
    const char *bad_models[] = {"..", "../models/demo", "run:7/../../../secret.txt", "run:x/epoch-3",
                                "run:7/", "run:8/epoch-3", "run:7/epoch-9", "/"};
    for (size_t i = 0; i < sizeof bad_models / sizeof bad_models[0]; i++)
        if (hs_resolve_model(&env, bad_models[i], out, sizeof out, err, sizeof err) == 0)
            fail_msg("model \"%s\" resolved to %s", bad_models[i], out);

    char cmd[PATH_MAX * 2 + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

/* ---- HTTP helpers ----------------------------------------------------------------------- */

static void test_token_and_routes(void **state)
{
    (void)state;
    assert_true(hs_http_token_matches("Bearer abc123", "abc123"));
    assert_false(hs_http_token_matches("Bearer abc124", "abc123"));
    assert_false(hs_http_token_matches("Bearer abc12", "abc123"));
    assert_false(hs_http_token_matches("Bearer abc1234", "abc123"));
    assert_false(hs_http_token_matches("bearer abc123", "abc123"));
    assert_false(hs_http_token_matches("abc123", "abc123"));
    assert_false(hs_http_token_matches(NULL, "abc123"));
    assert_false(hs_http_token_matches("Bearer ", "abc123"));
    int64_t id = 0;
    assert_true(hs_http_route_matches("/api/v1/jobs/{id}/log", "/api/v1/jobs/42/log", &id));
    assert_int_equal(id, 42);
    assert_false(hs_http_route_matches("/api/v1/jobs/{id}", "/api/v1/jobs/0", &id));
    assert_false(hs_http_route_matches("/api/v1/jobs/{id}", "/api/v1/jobs/-1", &id));
    assert_false(hs_http_route_matches("/api/v1/jobs/{id}", "/api/v1/jobs/4x", &id));
    assert_false(hs_http_route_matches("/api/v1/jobs/{id}", "/api/v1/jobs/", &id));
    assert_false(hs_http_route_matches("/api/v1/jobs/{id}", "/api/v1/jobs/99999999999999999999", &id));
    assert_false(hs_http_route_matches("/api/v1/jobs", "/api/v1/jobs/", &id));
    assert_true(hs_http_route_matches("/api/v1/jobs", "/api/v1/jobs", &id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_specs),
        cmocka_unit_test(test_invalid_specs),
        cmocka_unit_test(test_check_runs_after_field_validation),
        cmocka_unit_test(test_common_fields),
        cmocka_unit_test(test_paths_confined),
        cmocka_unit_test(test_token_and_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
