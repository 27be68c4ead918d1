/* safetensors reader and writer:
 * - writer output read back identically (values, shapes, dtypes, names), header padded to 8
 *   bytes, tensors in the reference writer's order (larger dtype first, then name), rank-0 and
 *   zero-size tensors, metadata; fp32 -> F16/BF16 storage checked against hand-computed bits;
 * - name lookup with and without the `transformer.` prefix;
 * - sharded checkpoints through model.safetensors.index.json;
 * - every bad-file case, each built byte by byte, failing with an error that names the file and
 *   (where there is one) the tensor: truncated data, header length past the end, header over the
 *   format's limit, overlapping and gapped offsets, unknown dtype, shape/size mismatch, duplicate
 *   names, non-string metadata, bytes after the last tensor, end before begin, bad JSON, a shard
 *   missing a tensor its index names, a shard name escaping the directory. */
#include "engine/formats/safetensors.h"
#include "test_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(g_dir, sizeof g_dir, "hs_test_formats_st");
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(g_dir);
}

static void path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

/* Writes an 8-byte length (given, or the real one when len_override < 0), the header text and
 * data_len bytes of data 0,1,2,... */
static void write_raw_file(const char *path, const char *header, long long len_override,
                           size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t n = len_override >= 0 ? (uint64_t)len_override : strlen(header);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    assert_int_equal(fwrite(len8, 1, 8, fp), 8);
    assert_int_equal(fwrite(header, 1, strlen(header), fp), strlen(header));
    for (size_t i = 0; i < data_len; i++)
        assert_int_equal(fputc((int)(i & 0xFF), fp), (int)(i & 0xFF));
    assert_int_equal(fclose(fp), 0);
}

/* Opening the file must fail with an error containing the path and every needle. */
static void expect_open_error(const char *name, const char *header, long long len_override,
                              size_t data_len, const char *needle1, const char *needle2)
{
    char path[512], err[512] = "";
    path_in_dir(path, sizeof path, name);
    write_raw_file(path, header, len_override, data_len);
    hs_st_set *s = hs_st_open_file(path, err, sizeof err);
    if (s || !strstr(err, path) || (needle1 && !strstr(err, needle1)) ||
        (needle2 && !strstr(err, needle2)))
        fprintf(stderr, "%s: unexpected result, err = '%s'\n", name, err);
    assert_null(s);
    assert_non_null(strstr(err, path));
    if (needle1)
        assert_non_null(strstr(err, needle1));
    if (needle2)
        assert_non_null(strstr(err, needle2));
}

static void test_bad_files(void **state)
{
    (void)state;
    /* control: a good file opens */
    char path[512], err[512] = "";
    path_in_dir(path, sizeof path, "good.safetensors");
    write_raw_file(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8);
    hs_st_set *s = hs_st_open_file(path, err, sizeof err);
    assert_non_null(s);
    hs_st_close(s);

    expect_open_error("truncated_data.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 8,
                      "'w'", "truncated");
    expect_open_error("header_past_end.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 5000, 8,
                      "header length 5000", "past the end");
    expect_open_error("header_over_limit.safetensors", "{}", 100000001, 0, "exceeds", NULL);
    expect_open_error("overlap.safetensors",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1, 12,
                      "'b'", "overlap");
    expect_open_error("gap.safetensors",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", -1, 20,
                      "'b'", "gap");
    expect_open_error("gap_at_start.safetensors",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1, 12,
                      "'a'", "gap");
    expect_open_error("unknown_dtype.safetensors",
                      "{\"w\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8,
                      "'w'", "unknown dtype \"F17\"");
    expect_open_error("shape_size_mismatch.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8,
                      "'w'", "shape/size mismatch");
    expect_open_error("duplicate.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", -1, 2,
                      "'w'", "twice");
    expect_open_error("metadata_not_strings.safetensors",
                      "{\"__metadata__\":{\"format\":1},"
                      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", -1, 1,
                      "__metadata__", "'format'");
    expect_open_error("trailing_bytes.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", -1, 5,
                      "'w'", "not covered");
    expect_open_error("end_before_begin.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]}}", -1, 1,
                      "'w'", "before begin");
    expect_open_error("not_json.safetensors", "{\"w\":", -1, 0, "not valid JSON", NULL);
    expect_open_error("not_object.safetensors", "[1,2]   ", -1, 0, "start with '{'", NULL);
    expect_open_error("negative_shape.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", -1, 0,
                      "'w'", "shape[0]");
    expect_open_error("fractional_offset.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}}", -1, 1,
                      "'w'", "data_offsets");
    expect_open_error("missing_dtype.safetensors",
                      "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", -1, 1, "'w'", "dtype");
    expect_open_error("sub_byte.safetensors",
                      "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", -1, 2,
                      "'w'", "whole bytes");
    expect_open_error("trailing_garbage_header.safetensors",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}x", -1, 1,
                      "after its JSON", NULL);
    /* shorter than the 8-byte length */
    path_in_dir(path, sizeof path, "tiny.safetensors");
    tu_write_file(path, "\x02\0\0", 3);
    assert_null(hs_st_open_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "truncated"));
    /* missing file */
    path_in_dir(path, sizeof path, "absent.safetensors");
    assert_null(hs_st_open_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    /* header padded with spaces, unpadded data, rank-0 and zero-size tensors are fine */
    path_in_dir(path, sizeof path, "padded.safetensors");
    write_raw_file(path, "{\"s\":{\"dtype\":\"I16\",\"shape\":[],\"data_offsets\":[0,2]},"
                         "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[2,2]}}   ", -1, 2);
    s = hs_st_open_file(path, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(hs_st_count(s), 2);
    const hs_st_tensor *t = hs_st_find(s, "s");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(((const unsigned char *)t->data)[1], 1);
    t = hs_st_find(s, "z");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    /* only float dtypes convert */
    float out[1];
    assert_int_equal(hs_st_to_f32(hs_st_find(s, "s"), out, err, sizeof err), -1);
    assert_non_null(strstr(err, "'s'"));
    assert_non_null(strstr(err, "I16"));
    hs_st_close(s);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    path_in_dir(path, sizeof path, "written.safetensors");
    hs_st_writer *w = hs_st_writer_new();
    assert_non_null(w);
    const float a[6] = {1.0f, -2.5f, 3.0e-8f, 65520.0f, 0.1f, -0.0f};
    const int64_t shape23[2] = {2, 3}, shape6[1] = {6}, shape0[2] = {0, 4};
    const int32_t ints[6] = {1, -2, 3, -4, 5, 2147483647};
    assert_int_equal(hs_st_writer_add_f32(w, "h.1.b", HS_DTYPE_F16, 2, shape23, a, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_add_f32(w, "h.10.b", HS_DTYPE_BF16, 1, shape6, a, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_add_f32(w, "transformer.f", HS_DTYPE_F32, 2, shape23, a, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_add_raw(w, "ints", HS_DTYPE_I32, 1, shape6, ints, sizeof ints, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_add_f32(w, "empty", HS_DTYPE_F32, 2, shape0, NULL, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_add_f32(w, "scalar", HS_DTYPE_F32, 0, NULL, a + 1, err, sizeof err), 0);
    /* rejected adds */
    assert_int_equal(hs_st_writer_add_f32(w, "ints", HS_DTYPE_F32, 1, shape6, a, err, sizeof err), -1);
    assert_non_null(strstr(err, "'ints'"));
    assert_int_equal(hs_st_writer_add_raw(w, "short", HS_DTYPE_I32, 1, shape6, ints, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "'short'"));
    assert_int_equal(hs_st_writer_add_f32(w, "i", HS_DTYPE_I32, 1, shape6, a, err, sizeof err), -1);
    assert_int_equal(hs_st_writer_set_metadata(w, "note", "a \"quoted\" value"), 0);
    assert_int_equal(hs_st_writer_write(w, path, err, sizeof err), 0);
    hs_st_writer_free(w);

    /* raw file layout */
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, fp), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | len8[i];
    assert_int_equal(n % 8, 0);
    char *hdr = calloc(1, n + 1);
    assert_int_equal(fread(hdr, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(strncmp(hdr, "{\"__metadata__\":{", 17), 0);
    assert_non_null(strstr(hdr, "\"format\":\"pt\""));
    /* order: 32-bit dtypes by name, then 16-bit by name ("h.1.b" < "h.10.b") */
    const char *order[] = {"\"empty\"", "\"ints\"", "\"scalar\"", "\"transformer.f\"", "\"h.1.b\"", "\"h.10.b\""};
    const char *prev = hdr;
    for (size_t i = 0; i < 6; i++) {
        const char *at = strstr(hdr, order[i]);
        assert_non_null(at);
        assert_true(at > prev);
        prev = at;
    }
    free(hdr);

    hs_st_set *s = hs_st_open_file(path, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    assert_non_null(s);
    assert_int_equal(hs_st_count(s), 6);
    const hs_st_tensor *t = hs_st_find(s, "transformer.f");
    assert_non_null(t);
    assert_int_equal(t->dtype, HS_DTYPE_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_memory_equal(t->data, a, sizeof a);
    assert_ptr_equal(hs_st_find(s, "f"), t); /* prefix added by the lookup */
    t = hs_st_find(s, "h.1.b");
    assert_int_equal(t->dtype, HS_DTYPE_F16);
    /* fp16 bits as torch's .to(torch.float16) gives them (3e-8 is just above 2^-25, half the
     * smallest subnormal, so it rounds up to 0001; 65520 ties up to Inf) */
    const uint16_t want16[6] = {0x3C00, 0xC100, 0x0001, 0x7C00, 0x2E66, 0x8000};
    const unsigned char *b = t->data;
    for (int i = 0; i < 6; i++)
        assert_int_equal(b[2 * i] | (b[2 * i + 1] << 8), want16[i]);
    assert_ptr_equal(hs_st_find(s, "transformer.h.1.b"), t); /* prefix removed by the lookup */
    t = hs_st_find(s, "h.10.b");
    assert_int_equal(t->dtype, HS_DTYPE_BF16);
    /* bf16 bits as torch's .to(torch.bfloat16) gives them (3e-8 = 0x3300D959 rounds up,
     * 65520 = 0x477FF000 ties to even 4780, 0.1 = 0x3DCCCCCD rounds up) */
    const uint16_t want_bf[6] = {0x3F80, 0xC020, 0x3301, 0x4780, 0x3DCD, 0x8000};
    b = t->data;
    for (int i = 0; i < 6; i++)
        assert_int_equal(b[2 * i] | (b[2 * i + 1] << 8), want_bf[i]);
    float back[6];
    assert_int_equal(hs_st_to_f32(t, back, err, sizeof err), 0);
    assert_true(back[0] == 1.0f && back[1] == -2.5f && back[3] == 65536.0f);
    t = hs_st_find(s, "ints");
    assert_memory_equal(t->data, ints, sizeof ints);
    t = hs_st_find(s, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_true(*(const float *)t->data == -2.5f);
    assert_int_equal(hs_st_find(s, "empty")->numel, 0);
    assert_null(hs_st_find(s, "absent"));
    /* writing again over the file replaces it atomically (no temp file left behind) */
    hs_st_close(s);
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    struct stat st;
    assert_int_equal(stat(tmpname, &st), -1);
}

static void write_shard(const char *name, const char *t1, const char *t2)
{
    char path[512], err[512] = "";
    path_in_dir(path, sizeof path, name);
    hs_st_writer *w = hs_st_writer_new();
    const float v[2] = {1.5f, -3.0f};
    const int64_t shape[1] = {2};
    assert_int_equal(hs_st_writer_add_f32(w, t1, HS_DTYPE_F32, 1, shape, v, err, sizeof err), 0);
    if (t2)
        assert_int_equal(hs_st_writer_add_f32(w, t2, HS_DTYPE_F16, 1, shape, v, err, sizeof err), 0);
    assert_int_equal(hs_st_writer_write(w, path, err, sizeof err), 0);
    hs_st_writer_free(w);
}

static void write_index(const char *weight_map)
{
    char path[512];
    path_in_dir(path, sizeof path, "model.safetensors.index.json");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"metadata\": {\"total_size\": 16}, \"weight_map\": {%s}}", weight_map);
    assert_int_equal(fclose(fp), 0);
}

static void test_sharded(void **state)
{
    (void)state;
    char err[512] = "";
    /* the test dir has no model.safetensors: the index is used */
    write_shard("model-00001-of-00002.safetensors", "h.0.a", "h.0.b");
    write_shard("model-00002-of-00002.safetensors", "ln_f.weight", NULL);
    write_index("\"h.0.a\": \"model-00001-of-00002.safetensors\", "
                "\"h.0.b\": \"model-00001-of-00002.safetensors\", "
                "\"ln_f.weight\": \"model-00002-of-00002.safetensors\"");
    hs_st_set *s = hs_st_open_dir(g_dir, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    assert_non_null(s);
    assert_int_equal(hs_st_count(s), 3);
    const hs_st_tensor *t = hs_st_find(s, "transformer.ln_f.weight");
    assert_non_null(t);
    assert_non_null(strstr(t->file, "model-00002-of-00002.safetensors"));
    float v[2];
    assert_int_equal(hs_st_to_f32(hs_st_find(s, "h.0.b"), v, err, sizeof err), 0);
    assert_true(v[0] == 1.5f && v[1] == -3.0f);
    hs_st_close(s);

    /* the index names a tensor its shard lacks */
    write_index("\"h.0.a\": \"model-00001-of-00002.safetensors\", "
                "\"h.0.c\": \"model-00002-of-00002.safetensors\"");
    assert_null(hs_st_open_dir(g_dir, err, sizeof err));
    assert_non_null(strstr(err, "'h.0.c'"));
    assert_non_null(strstr(err, "model.safetensors.index.json"));
    assert_non_null(strstr(err, "model-00002-of-00002.safetensors"));
    /* a shard outside the directory */
    write_index("\"h.0.a\": \"../model-00001-of-00002.safetensors\"");
    assert_null(hs_st_open_dir(g_dir, err, sizeof err));
    assert_non_null(strstr(err, "'h.0.a'"));
    /* two shards holding the same tensor */
    write_shard("dup.safetensors", "h.0.a", NULL);
    write_index("\"h.0.a\": \"model-00001-of-00002.safetensors\", \"x\": \"dup.safetensors\"");
    assert_null(hs_st_open_dir(g_dir, err, sizeof err));
    assert_non_null(strstr(err, "'h.0.a'"));
    assert_non_null(strstr(err, "twice"));
    /* broken index */
    write_index("\"h.0.a\": 5");
    assert_null(hs_st_open_dir(g_dir, err, sizeof err));
    assert_non_null(strstr(err, "'h.0.a'"));
    char path[512];
    path_in_dir(path, sizeof path, "model.safetensors.index.json");
    assert_int_equal(unlink(path), 0);
    assert_null(hs_st_open_dir(g_dir, err, sizeof err));
    assert_non_null(strstr(err, "no model.safetensors"));
}

static void test_dtype_names(void **state)
{
    (void)state;
    const char *names[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                           "F64", "I64", "U64", "C64", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                           "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"};
    assert_int_equal(sizeof names / sizeof names[0], HS_DTYPE_COUNT);
    for (int i = 0; i < HS_DTYPE_COUNT; i++) {
        hs_dtype dt;
        assert_int_equal(hs_dtype_from_name(names[i], &dt), 0);
        assert_int_equal(dt, i);
        assert_string_equal(hs_dtype_name(dt), names[i]);
    }
    hs_dtype dt;
    assert_int_equal(hs_dtype_from_name("f32", &dt), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_sharded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
