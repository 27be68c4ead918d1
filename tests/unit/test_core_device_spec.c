/* Unit tests of the one device-spec parser (daemon/engine/device.c, hs_device_spec_parse):
 * the accepted forms and their parts, malformed specs refused with a message quoting the spec
 * and naming the expected form, indices past HS_DEVICE_INDEX_MAX refused as out of range, and
 * hs_device_open refusing through the same parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "engine/device.h"

static void test_accepted_specs(void **state)
{
    (void)state;
    char err[HS_ERR_LEN];
    char last[32];
    snprintf(last, sizeof last, "cuda:%d", HS_DEVICE_INDEX_MAX);
    const struct {
        const char *text, *backend;
        int index;
    } ok[] = {{"cpu", "cpu", 0}, {"cuda:0", "cuda", 0}, {"cuda:7", "cuda", 7},
              {"cuda:10", "cuda", 10}, {last, "cuda", HS_DEVICE_INDEX_MAX}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hs_device_spec spec = {"?", -1};
        if (hs_device_spec_parse(ok[i].text, &spec, err, sizeof err) != 0)
            fail_msg("\"%s\" refused: %s", ok[i].text, err);
        assert_string_equal(spec.backend, ok[i].backend);
        assert_int_equal(spec.index, ok[i].index);
    }
}

static void test_malformed_specs(void **state)
{
    (void)state;
    const char *bad[] = {"",        "CPU",      "cpu:0",   "cpu ",    "gpu0",   "tpu:0",
                         "cuda",    "cuda:",    "cuda:x",  "cuda:-1", "cuda:+1", "cuda: 1",
                         "cuda:1 ", "cuda:01",  "cuda:00", "cuda:1.5", "cuda:0x1", "cuda::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_device_spec spec;
        char err[HS_ERR_LEN] = "";
        if (hs_device_spec_parse(bad[i], &spec, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        if (!strstr(err, quoted) || !strstr(err, "\"cpu\" or \"cuda:N\""))
            fail_msg("\"%s\": message \"%s\" does not quote the spec and the expected form",
                     bad[i], err);
    }
    hs_device_spec spec;
    char err[HS_ERR_LEN] = "";
    assert_int_equal(hs_device_spec_parse(NULL, &spec, err, sizeof err), -1);
    assert_non_null(strstr(err, "cuda:N"));
}

static void test_index_out_of_range(void **state)
{
    (void)state;
    char past[32];
    snprintf(past, sizeof past, "cuda:%d", HS_DEVICE_INDEX_MAX + 1);
    const char *far[] = {past, "cuda:5000", "cuda:99999999999999999999999"};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        hs_device_spec spec;
        char err[HS_ERR_LEN] = "";
        if (hs_device_spec_parse(far[i], &spec, err, sizeof err) == 0)
            fail_msg("\"%s\" was accepted", far[i]);
        if (!strstr(err, "out of range") || !strstr(err, far[i]))
            fail_msg("\"%s\": message \"%s\" does not say out of range", far[i], err);
    }
}

static void test_open_refuses_through_the_parser(void **state)
{
    (void)state;
    char err[HS_ERR_LEN] = "";
    assert_null(hs_device_open("cuda:5000", err, sizeof err));
    assert_non_null(strstr(err, "out of range"));
    assert_null(hs_device_open("cuda:01", err, sizeof err));
    assert_non_null(strstr(err, "cuda:N"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_specs),
        cmocka_unit_test(test_malformed_specs),
        cmocka_unit_test(test_index_out_of_range),
        cmocka_unit_test(test_open_refuses_through_the_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
