/* `surgeond tokenize` (hs_cmd_tokenize) end to end: for fixture cases of
 * tests/reference/tokenizer/cases.json the printed JSON holds HF's ids and count, --decode of
 * HF's ids prints HF's decoded bytes exactly, and bad usage / bad input exit 2 / 1. stdout is
 * captured by pointing fd 1 at a temporary file. */
#include "cli/commands.h"
#include "test_formats_util.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(g_dir, sizeof g_dir, "hs_test_formats_cmd");
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(g_dir);
}

/* Runs the command with stdout captured; returns its exit status, output in *out. */
static int run_captured(int argc, char **argv, char **out, size_t *out_len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/stdout", g_dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, 1), 1);
    close(fd);
    int rc = hs_cmd_tokenize(argc, argv);
    fflush(stdout);
    assert_int_equal(dup2(saved, 1), 1);
    close(saved);
    *out = tu_read_file(path, out_len);
    assert_non_null(*out);
    return rc;
}

static void test_encode_and_decode_cases(void **state)
{
    (void)state;
    char model[4096], cases_path[4096];
    tu_repo_path(model, sizeof model, "tests/reference/tokenizer");
    tu_repo_path(cases_path, sizeof cases_path, "tests/reference/tokenizer/cases.json");
    size_t len;
    char *text = tu_read_file(cases_path, &len);
    assert_non_null(text);
    cJSON *cases = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(cases);
    const char *wanted[] = {"ascii_prose", "code_c_tabs", "cjk_chinese", "special_in_sentence",
                            "emoji", "empty", "long_text", "invalid_lone_cont_in_word"};
    int done = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int pick = 0;
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
            pick |= strcmp(name, wanted[i]) == 0;
        if (!pick)
            continue;
        const cJSON *raw = cJSON_GetObjectItem(c, "raw_b64");
        size_t in_len;
        unsigned char *in = tf_b64_decode((raw ? raw : cJSON_GetObjectItem(c, "text_b64"))->valuestring, &in_len);
        char in_path[512], ids_path[512];
        snprintf(in_path, sizeof in_path, "%s/in.txt", g_dir);
        tu_write_file(in_path, in, in_len);
        char *argv[] = {"tokenize", "--model", model, "--text-file", in_path};
        char *out;
        size_t out_len;
        assert_int_equal(run_captured(5, argv, &out, &out_len), 0);
        cJSON *got = cJSON_Parse(out);
        assert_non_null(got);
        const cJSON *want_ids = cJSON_GetObjectItem(c, "ids");
        assert_true(cJSON_Compare(cJSON_GetObjectItem(got, "ids"), want_ids, 1));
        assert_int_equal(cJSON_GetObjectItem(got, "count")->valueint, cJSON_GetArraySize(want_ids));
        cJSON_Delete(got);
        free(out);
        /* decode HF's ids */
        char *ids_text = cJSON_PrintUnformatted(want_ids);
        snprintf(ids_path, sizeof ids_path, "%s/ids.json", g_dir);
        tu_write_file(ids_path, ids_text, strlen(ids_text));
        free(ids_text);
        char *argv2[] = {"tokenize", "--model", model, "--decode", "--ids-file", ids_path};
        assert_int_equal(run_captured(6, argv2, &out, &out_len), 0);
        size_t dec_len;
        unsigned char *want_dec = tf_b64_decode(cJSON_GetObjectItem(c, "decoded_b64")->valuestring, &dec_len);
        assert_int_equal(out_len, dec_len);
        assert_memory_equal(out, want_dec, dec_len);
        free(want_dec);
        free(out);
        free(in);
        done++;
    }
    assert_int_equal(done, (int)(sizeof wanted / sizeof wanted[0]));
    cJSON_Delete(cases);
}

static void test_usage_and_errors(void **state)
{
    (void)state;
    char model[4096], path[512];
    tu_repo_path(model, sizeof model, "tests/reference/tokenizer");
    char *out;
    size_t len;
    char *no_model[] = {"tokenize"};
    assert_int_equal(run_captured(1, no_model, &out, &len), 2);
    free(out);
    char *bad_flag[] = {"tokenize", "--model", model, "--bogus"};
    assert_int_equal(run_captured(4, bad_flag, &out, &len), 2);
    free(out);
    char *help[] = {"tokenize", "--help"};
    assert_int_equal(run_captured(2, help, &out, &len), 0);
    assert_non_null(strstr(out, "--decode"));
    free(out);
    char *no_dir[] = {"tokenize", "--model=does/not/exist", "--text-file", "x"};
    assert_int_equal(run_captured(4, no_dir, &out, &len), 1);
    free(out);
    snprintf(path, sizeof path, "%s/bad_ids.json", g_dir);
    tu_write_file(path, "[1, 2.5]", 8);
    char *bad_ids[] = {"tokenize", "--model", model, "--decode", "--ids-file", path};
    assert_int_equal(run_captured(6, bad_ids, &out, &len), 1);
    free(out);
    tu_write_file(path, "[5000]", 6);
    assert_int_equal(run_captured(6, bad_ids, &out, &len), 1);
    free(out);
    tu_write_file(path, "{}", 2);
    assert_int_equal(run_captured(6, bad_ids, &out, &len), 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_and_decode_cases),
        cmocka_unit_test(test_usage_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
