/* hs_read_file (daemon/common/file_io.c), the whole-file reader behind config.json,
 * tokenizer.json, the safetensors index, the surgery corpus and its state files:
 * - bytes (NULs and a size not a power of two included) come back exactly, NUL-terminated;
 * - an empty file reads as "" with length 0;
 * - a file of exactly max bytes is read, one byte more is refused ("larger than"), and the
 *   limit is named in MiB when it is a whole number of MiB;
 * - a missing file fails with "cannot open", naming the path, or `what` when given. */
#include "common/file_io.h"
#include "test_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(g_dir, sizeof g_dir, "hs_test_file_io");
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(g_dir);
}

/* A file of n bytes, byte i = (i * 7 + 3) mod 256, at g_dir/name; its path in out. */
static void make_file(const char *name, size_t n, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", g_dir, name);
    unsigned char *data = malloc(n ? n : 1);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)((i * 7 + 3) % 256);
    tu_write_file(out, data, n);
    free(data);
}

static void test_reads_bytes_exactly(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 4097, 65536, 65537, 300001};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char path[512], err[512] = "";
        make_file("data.bin", sizes[s], path, sizeof path);
        size_t len = 0;
        char *buf = hs_read_file(path, NULL, 0, &len, err, sizeof err);
        if (!buf)
            fail_msg("%zu bytes: %s", sizes[s], err);
        assert_int_equal(len, sizes[s]);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)buf[i] != (unsigned char)((i * 7 + 3) % 256))
                fail_msg("%zu bytes: byte %zu differs", sizes[s], i);
        assert_int_equal(buf[len], '\0');
        free(buf);
    }
}

static void test_empty_file(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    make_file("empty", 0, path, sizeof path);
    size_t len = 99;
    char *buf = hs_read_file(path, NULL, 16, &len, err, sizeof err);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_size_limit(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    size_t len = 0;
    make_file("limit.bin", 100000, path, sizeof path);
    char *buf = hs_read_file(path, NULL, 100000, &len, err, sizeof err);
    assert_non_null(buf);
    assert_int_equal(len, 100000);
    free(buf);
    assert_null(hs_read_file(path, NULL, 99999, &len, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "larger than 99999 bytes"));

    make_file("mib.bin", (1u << 20) + 1, path, sizeof path);
    assert_null(hs_read_file(path, NULL, 1u << 20, &len, err, sizeof err));
    assert_non_null(strstr(err, "larger than 1 MiB"));
}

static void test_missing_file_names_path_or_what(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    size_t len = 0;
    snprintf(path, sizeof path, "%s/absent.json", g_dir);
    assert_null(hs_read_file(path, NULL, 0, &len, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot open"));
    assert_null(hs_read_file(path, "corpus \"x\"", 0, &len, err, sizeof err));
    assert_non_null(strstr(err, "corpus \"x\": cannot open"));
    assert_null(strstr(err, path));
}

static void test_write_synced_reads_back(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/written.bin", g_dir);
    const char first[] = "a longer first content\n", second[] = "x\0y";
    assert_int_equal(hs_write_file_synced(path, first, sizeof first - 1, err, sizeof err), 0);
    assert_int_equal(hs_write_file_synced(path, second, 3, err, sizeof err), 0);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char back[64];
    size_t got = fread(back, 1, sizeof back, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(back, second, 3);

    snprintf(path, sizeof path, "%s/no/such/dir/f.txt", g_dir);
    assert_int_equal(hs_write_file_synced(path, "z", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot create"));
}

static void test_fsync_entries(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    make_file("synced.bin", 10, path, sizeof path);
    assert_int_equal(hs_fsync_path(path, err, sizeof err), 0);
    assert_int_equal(hs_fsync_path(g_dir, err, sizeof err), 0);
    assert_int_equal(hs_fsync_parent_dir(path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/gone/f.bin", g_dir);
    assert_int_equal(hs_fsync_parent_dir(path, err, sizeof err), -1);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gone", g_dir);
    assert_non_null(strstr(err, dir));
}

static void test_remove_tree(void **state)
{
    (void)state;
    char root[512], sub[600], path[700];
    snprintf(root, sizeof root, "%s/tree", g_dir);
    snprintf(sub, sizeof sub, "%s/a/b", root);
    assert_int_equal(mkdir(root, 0755), 0);
    snprintf(path, sizeof path, "%s/a", root);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/f1", root);
    tu_write_file(path, "1", 1);
    snprintf(path, sizeof path, "%s/f2", sub);
    tu_write_file(path, "2", 1);
    assert_int_equal(hs_remove_tree(root), 0);
    struct stat sb;
    assert_int_equal(stat(root, &sb), -1);
    assert_int_equal(hs_remove_tree(root), -1);

    char file[512];
    make_file("plain.bin", 5, file, sizeof file);
    assert_int_equal(hs_remove_tree(file), 0);
    assert_int_equal(stat(file, &sb), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_bytes_exactly),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_missing_file_names_path_or_what),
        cmocka_unit_test(test_write_synced_reads_back),
        cmocka_unit_test(test_fsync_entries),
        cmocka_unit_test(test_remove_tree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
