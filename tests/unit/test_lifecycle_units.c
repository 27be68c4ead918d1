/* Unit tests of the run-lifecycle pieces that need no daemon: which checkpoints each
 * keep_checkpoints mode keeps (kinds/surgery_retention.c), SHA-256 against known digests
 * (common/sha256.c), and the tar stream of a directory read back in small pieces
 * (common/tar_stream.c: ustar headers, sizes, padding, the end-of-archive blocks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/file_io.h"
#include "common/sha256_file.h"
#include "common/tar_stream.h"
#include "kinds/surgery_retention.h"

static hs_retention parse(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    hs_retention r;
    char why[256];
    assert_int_equal(hs_retention_parse(v, &r, why, sizeof why), 0);
    cJSON_Delete(v);
    return r;
}

static void test_retention(void **state)
{
    (void)state;
    hs_retention all = parse("\"all\""), bf = parse("\"best_and_final\""), two = parse("2");
    for (int i = 0; i < 5; i++)
        assert_true(hs_retention_keeps(&all, i, 5, false));
    /* 5 checkpoints, index 1 the best */
    bool want_bf[5] = {false, true, false, false, true};
    bool want_two[5] = {false, true, false, true, true};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hs_retention_keeps(&bf, i, 5, i == 1), want_bf[i]);
        assert_int_equal(hs_retention_keeps(&two, i, 5, i == 1), want_two[i]);
    }
    hs_retention r;
    char why[256];
    const char *bad[] = {"0", "-3", "1.5", "\"some\"", "true", "[]", "100001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        assert_int_equal(hs_retention_parse(v, &r, why, sizeof why), -1);
        assert_non_null(strstr(why, "keep_checkpoints"));
        cJSON_Delete(v);
    }
    assert_int_equal(hs_retention_parse(NULL, &r, why, sizeof why), 0);
    assert_int_equal(r.mode, HS_KEEP_ALL);
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[HS_SHA256_HEX], err[HS_ERR_LEN];
    assert_int_equal(hs_sha256_buf("", 0, hex, err, sizeof err), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(hs_sha256_buf("abc", 3, hex, err, sizeof err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[] = "/tmp/hs-sha-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hs_write_file_synced(path, "abc", 3, err, sizeof err), 0);
    assert_int_equal(hs_sha256_file(path, hex, err, sizeof err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_true(hs_sha256_hex_valid(hex));
    assert_false(hs_sha256_hex_valid("abc"));
    assert_int_equal(hs_sha256_file("/nonexistent/x", hex, err, sizeof err), -1);
}

/* The archive of a directory with files "a" (700 bytes) and "b" (0 bytes), read 7 bytes at a
 * time: the "ck/" entry, then each file's 512-byte header and its data padded to 512. */
static void test_tar_stream(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs-tar-XXXXXX", path[64], err[HS_ERR_LEN];
    assert_non_null(mkdtemp(dir));
    char data[700];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    snprintf(path, sizeof path, "%s/a", dir);
    assert_int_equal(hs_write_file_synced(path, data, sizeof data, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/b", dir);
    assert_int_equal(hs_write_file_synced(path, "", 0, err, sizeof err), 0);
    hs_tar_stream *t = hs_tar_stream_open(dir, "ck", err, sizeof err);
    assert_non_null(t);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = hs_tar_stream_read(t, out + len, 7)) > 0)
        len += (size_t)n;
    assert_int_equal(n, 0);
    hs_tar_stream_close(t);
    assert_int_equal(len % 512, 0);
    assert_string_equal(out, "ck/");
    assert_string_equal(out + 512, "ck/a");
    assert_memory_equal(out + 1024, data, sizeof data);
    assert_string_equal(out + 1024 + 1024, "ck/b");
    for (size_t i = 1024 + 1024 + 512; i < len; i++) /* end-of-archive zeros */
        assert_int_equal(out[i], 0);
    assert_true(len >= 1024 + 1024 + 512 + 1024);
    free(out);
    assert_int_equal(hs_remove_tree(dir), 0);
    assert_null(hs_tar_stream_open("/nonexistent/dir", "x", err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_tar_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
