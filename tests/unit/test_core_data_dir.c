/* Unit tests of the data-dir layout (daemon/store/data_dir.c): where the database, logs, run
 * directories, checkpoints and uploads live; the roots settled from flags (created, absolute,
 * defaults under the data dir); and paths shown relative to their roots in answers (whole
 * paths only, the innermost root first). */
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
#include "store/data_dir.h"

static void test_layout(void **state)
{
    (void)state;
    char out[256], err[HS_ERR_LEN];
    assert_int_equal(hs_data_db_path("/d", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/d/surgeon.db");
    assert_int_equal(hs_data_job_log_path("/d", 42, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/d/logs/42.log");
    assert_int_equal(hs_data_uploads_dir("/d", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/d/corpora");
    assert_int_equal(hs_data_run_checkpoints_dir("/d", 7, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/d/runs/7/checkpoints");
    assert_int_equal(hs_run_checkpoints_dir("/d/runs/7", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/d/runs/7/checkpoints");
    char tiny[8];
    assert_int_equal(hs_data_db_path("/a/long/dir", tiny, sizeof tiny, err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

static void test_settle_and_make_dirs(void **state)
{
    (void)state;
    char base[] = "/tmp/hs-data-dir-XXXXXX", err[HS_ERR_LEN];
    assert_non_null(mkdtemp(base));
    char data[512], out[4096];
    snprintf(data, sizeof data, "%s/a/b/var", base);
    hs_root_dirs dirs;
    if (hs_root_dirs_settle(data, NULL, NULL, &dirs, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(dirs.data_dir, data);
    snprintf(out, sizeof out, "%s/models", data);
    assert_string_equal(dirs.model_root, out);
    snprintf(out, sizeof out, "%s/corpora", data);
    assert_string_equal(dirs.corpus_root, out);
    struct stat sb;
    assert_int_equal(stat(dirs.model_root, &sb), 0);
    assert_int_equal(hs_data_make_run_dir(dirs.data_dir, 5, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(stat(out, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(hs_data_make_inline_run_dir(dirs.data_dir, out, sizeof out, err, sizeof err),
                     0);
    assert_non_null(strstr(out, "/runs/inline-"));
    assert_int_equal(stat(out, &sb), 0);
    /* a root that is a file cannot be settled, and the message names it */
    char file[600];
    snprintf(file, sizeof file, "%s/plain", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(hs_root_dirs_settle(data, file, NULL, &dirs, err, sizeof err), -1);
    assert_non_null(strstr(err, "model root"));
    assert_non_null(strstr(err, "not a directory"));
    assert_int_equal(hs_remove_tree(base), 0);
}

static void expect_shown(const hs_roots *roots, const char *text, const char *shown)
{
    char *got = hs_roots_relative_text(roots, text);
    assert_non_null(got);
    if (strcmp(got, shown) != 0)
        fail_msg("\"%s\" shown as \"%s\", expected \"%s\"", text, got, shown);
    free(got);
}

static void test_paths_shown_relative(void **state)
{
    (void)state;
    hs_roots roots = {.data_dir = "/srv/hs", .model_root = "/srv/hs/models",
                      .corpus_root = "/data/text"};
    expect_shown(&roots, "/srv/hs/runs/3/checkpoints/epoch-1", "runs/3/checkpoints/epoch-1");
    expect_shown(&roots, "cannot open /srv/hs/models/demo/config.json: gone",
                 "cannot open demo/config.json: gone");
    expect_shown(&roots, "corpus /data/text/a.txt and /data/text", "corpus a.txt and .");
    /* a trailing '.' may belong to a file name: not taken for the root's end */
    expect_shown(&roots, "dir /srv/hs.", "dir /srv/hs.");
    expect_shown(&roots, "\"/srv/hs\"", "\".\"");
    /* not a root: a longer name, or a root inside another path */
    expect_shown(&roots, "/srv/hs2/x /srv/hsx /mnt/srv/hs/x", "/srv/hs2/x /srv/hsx /mnt/srv/hs/x");
    expect_shown(&roots, "no paths here", "no paths here");
    expect_shown(&roots, "", "");

    cJSON *o = cJSON_Parse("{\"path\":\"/srv/hs/runs/1\",\"list\":[\"/data/text/b\",1,"
                           "{\"deep\":\"x /srv/hs/models/m\"}],\"n\":2}");
    assert_non_null(o);
    assert_int_equal(hs_roots_relative_json(&roots, o), 0);
    char *text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"path\":\"runs/1\",\"list\":[\"b\",1,{\"deep\":\"x m\"}],\"n\":2}");
    free(text);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_settle_and_make_dirs),
        cmocka_unit_test(test_paths_shown_relative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
