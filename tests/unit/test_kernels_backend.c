/* CPU backend lifecycle, memory and the simple ops: the table is complete and registered,
 * init rejects other device indices, alloc zero-fills and fails cleanly (NULL + reason) on an
 * impossible size, copies (flat and strided), embedding, add (aliased), scale and the
 * double-accumulated sum of squares against sums computed here; argument errors name the
 * field at fault. */
#include "test_kernels_common.h"

#include "cpu/cpu_ops.h" /* the scratch helper every op allocates through */

#include <string.h>

/* The huge-allocation test needs malloc failure to return NULL under ASan, as it does
 * without the sanitizer. */
const char *__asan_default_options(void) __attribute__((used));
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_table_is_complete_and_registered(void **state)
{
    const hs_backend *be = &hs_cpu_backend;
    assert_string_equal(be->name, "cpu");
    const void *entries[] = {
        (const void *)be->init,          (const void *)be->shutdown,
        (const void *)be->last_error,    (const void *)be->describe,
        (const void *)be->alloc,         (const void *)be->free,
        (const void *)be->upload,        (const void *)be->download,
        (const void *)be->copy,          (const void *)be->fill_zero,
        (const void *)be->synchronize,   (const void *)be->copy_2d,
        (const void *)be->embedding,     (const void *)be->layernorm,
        (const void *)be->matmul,        (const void *)be->gelu,
        (const void *)be->add,           (const void *)be->attention,
        (const void *)be->attention_decode,
        (const void *)be->lm_head_nll,   (const void *)be->layernorm_backward,
        (const void *)be->gelu_backward, (const void *)be->bias_backward,
        (const void *)be->attention_backward, (const void *)be->lm_head_nll_backward,
        (const void *)be->adamw,         (const void *)be->sum_squares,
        (const void *)be->scale,
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (!entries[i])
            fail_msg("op table entry %zu is NULL", i);
    assert_ptr_equal(hs_backend_find("cpu"), &hs_cpu_backend);
    assert_null(hs_backend_find("tpu"));
    assert_non_null(strstr(hs_backend_list(), "cpu"));
    /* what the CPU backend says it can do, and every listed backend reachable by index */
    assert_true(be->caps.host_memory);
    assert_true(be->caps.fused_head_stats);
    assert_true(be->caps.training);
    assert_true(be->caps.kv_cache);
    assert_false(be->caps.batch_accumulation);
    assert_true(be->caps.storage_dtypes & HS_STORAGE_F32);
    size_t n = 0;
    for (; hs_backend_at(n); n++) {
        assert_ptr_equal(hs_backend_find(hs_backend_at(n)->name), hs_backend_at(n));
        assert_non_null(strstr(hs_backend_list(), hs_backend_at(n)->name));
        assert_true(hs_backend_at(n)->caps.storage_dtypes != 0);
    }
    assert_true(n >= 1);
    (void)state;
}

static void test_init_describe_and_bad_device(void **state)
{
    char err[HS_ERR_LEN] = "";
    assert_null(hs_cpu_backend.init(1, err, sizeof err));
    assert_non_null(strstr(err, "device index 1"));
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    assert_non_null(ctx);
    const char *desc = hs_cpu_backend.describe(ctx);
    assert_true(strncmp(desc, "cpu: ", 5) == 0);
    assert_non_null(strstr(desc, "threads"));
    print_message("describe: %s\n", desc);
    assert_int_equal(hs_cpu_backend.synchronize(ctx), 0);
    hs_cpu_backend.shutdown(ctx);
    (void)state;
}

static void test_alloc_zero_filled_and_huge_failure(void **state)
{
    hs_backend_ctx *ctx = *state;
    size_t n = 1 << 20;
    unsigned char *p = hs_cpu_backend.alloc(ctx, n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            fail_msg("alloc byte %zu is %u, want 0", i, p[i]);
    hs_cpu_backend.free(ctx, p);
    void *zero = hs_cpu_backend.alloc(ctx, 0); /* a valid, freeable pointer */
    assert_non_null(zero);
    hs_cpu_backend.free(ctx, zero);

    void *huge = hs_cpu_backend.alloc(ctx, SIZE_MAX / 2);
    assert_null(huge);
    const char *why = hs_cpu_backend.last_error(ctx);
    assert_non_null(strstr(why, "cannot allocate"));
    print_message("huge alloc: %s\n", why);
}

/* Every op takes its scratch through hs_cpu_scratch and returns -1 when it yields NULL. */
static void test_scratch_failure_names_op_and_buffer(void **state)
{
    hs_backend_ctx *ctx = *state;
    assert_null(hs_cpu_scratch(ctx, "cpu attention", "blocks of scores", SIZE_MAX / 2, 4));
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "cpu attention: scratch for blocks"));
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "overflows"));
    assert_null(hs_cpu_scratch(ctx, "cpu lm_head_nll", "logits", SIZE_MAX / 8, 2));
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "cpu lm_head_nll: cannot allocate"));
    print_message("scratch failure: %s\n", hs_cpu_backend.last_error(ctx));
    float *ok = hs_cpu_scratch(ctx, "cpu test", "a small buffer", 16, sizeof(float));
    assert_non_null(ok);
    free(ok);
}

static void test_copies(void **state)
{
    hs_backend_ctx *ctx = *state;
    enum { N = 1000 };
    float host[N], back[N];
    test_rng_seed(71);
    test_fill_uniform(host, N, -1, 1);
    float *dev = hs_cpu_backend.alloc(ctx, sizeof host);
    float *dev2 = hs_cpu_backend.alloc(ctx, sizeof host);
    assert_non_null(dev);
    assert_non_null(dev2);
    assert_int_equal(hs_cpu_backend.upload(ctx, dev, host, sizeof host), 0);
    assert_int_equal(hs_cpu_backend.copy(ctx, dev2, dev, sizeof host), 0);
    memset(back, 0, sizeof back);
    assert_int_equal(hs_cpu_backend.download(ctx, back, dev2, sizeof back), 0);
    assert_memory_equal(back, host, sizeof host);
    assert_int_equal(hs_cpu_backend.fill_zero(ctx, dev2 + 10, 5 * sizeof(float)), 0);
    assert_int_equal(hs_cpu_backend.download(ctx, back, dev2, sizeof back), 0);
    for (int i = 0; i < N; i++)
        assert_true(back[i] == ((i >= 10 && i < 15) ? 0.0f : host[i]));

    /* copy_2d: a 7×5 window of a [20, 40] matrix into a [7, 9] one */
    float src[20 * 40], dst[7 * 9];
    test_fill_uniform(src, 20 * 40, -1, 1);
    for (int i = 0; i < 7 * 9; i++)
        dst[i] = -5.0f;
    assert_int_equal(hs_cpu_backend.copy_2d(ctx, dst, 9, src + 3 * 40 + 11, 40, 7, 5), 0);
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 9; c++)
            assert_true(dst[r * 9 + c] == (c < 5 ? src[(3 + r) * 40 + 11 + c] : -5.0f));
    assert_int_equal(hs_cpu_backend.copy_2d(ctx, dst, 4, src, 40, 7, 5), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "ldd=4"));
    assert_int_equal(hs_cpu_backend.upload(ctx, NULL, host, 4), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "destination"));
    hs_cpu_backend.free(ctx, dev);
    hs_cpu_backend.free(ctx, dev2);
}

static void test_embedding(void **state)
{
    hs_backend_ctx *ctx = *state;
    enum { V = 50, C = 12, N = 9 };
    float table[V * C], out[N * C];
    int32_t ids[N] = {0, 49, 3, 3, 17, 1, 0, 48, 25};
    test_rng_seed(72);
    test_fill_uniform(table, V * C, -1, 1);
    assert_int_equal(hs_cpu_backend.embedding(ctx, out, ids, hs_table_f32(table), N, C), 0);
    for (int n = 0; n < N; n++)
        assert_memory_equal(out + n * C, table + ids[n] * C, C * sizeof(float));
    ids[4] = -2;
    assert_int_equal(hs_cpu_backend.embedding(ctx, out, ids, hs_table_f32(table), N, C), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "token id -2 at row 4"));
}

static void test_add_scale_sum_squares(void **state)
{
    hs_backend_ctx *ctx = *state;
    const size_t sizes[] = {1, 13, 200001};
    test_rng_seed(73);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *a = test_alloc(n * 4), *b = test_alloc(n * 4), *out = test_alloc(n * 4);
        test_fill_uniform(a, n, -3, 3);
        test_fill_uniform(b, n, -3, 3);
        assert_int_equal(hs_cpu_backend.add(ctx, out, a, b, n), 0);
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == a[i] + b[i]); /* one fp32 rounding, exactly */
        /* aliased: a += b */
        assert_int_equal(hs_cpu_backend.add(ctx, a, a, b, n), 0);
        assert_memory_equal(a, out, n * 4);

        double want = 0.0;
        for (size_t i = 0; i < n; i++)
            want += (double)out[i] * out[i];
        double got = -1.0;
        assert_int_equal(hs_cpu_backend.sum_squares(ctx, &got, out, n), 0);
        /* double accumulation: relative 1e-12 leaves room for a different summation order */
        assert_true(fabs(got - want) <= 1e-12 * want);

        assert_int_equal(hs_cpu_backend.scale(ctx, out, -0.375f, n), 0);
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == a[i] * -0.375f);
        print_message("add/scale/sum_squares n=%zu: sum of squares %.12g (want %.12g)\n", n, got,
                      want);
        free(a), free(b), free(out);
    }
    double zero = 5.0;
    assert_int_equal(hs_cpu_backend.sum_squares(ctx, &zero, NULL, 0), 0);
    assert_true(zero == 0.0);
    assert_int_equal(hs_cpu_backend.sum_squares(ctx, NULL, NULL, 0), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "host_out"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_complete_and_registered),
        cmocka_unit_test(test_init_describe_and_bad_device),
        cmocka_unit_test(test_alloc_zero_filled_and_huge_failure),
        cmocka_unit_test(test_scratch_failure_names_op_and_buffer),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_add_scale_sum_squares),
    };
    return cmocka_run_group_tests_name("kernels_backend", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
