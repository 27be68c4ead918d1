/* The CUDA backend as CI sees it: compiled in whenever nvcc was found, listed by
 * hs_backend_list(), and on a machine without a usable GPU its init fails with a clear reason
 * (never a crash), so `--device cuda:N` can be refused cleanly. On a GPU machine the same
 * test checks that init succeeds and a bad index is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ops.h"

static void test_backend_listed(void **state)
{
    (void)state;
    assert_non_null(hs_backend_find("cpu"));
    assert_null(hs_backend_find("tpu"));
#ifdef HS_HAVE_CUDA
    const hs_backend *cuda = hs_backend_find("cuda");
    assert_non_null(cuda);
    assert_string_equal(cuda->name, "cuda");
    assert_string_equal(hs_backend_list(), "cpu,cuda");
    /* Every op of the table is filled in. */
    assert_non_null(cuda->matmul);
    assert_non_null(cuda->attention);
    assert_non_null(cuda->attention_backward);
    assert_non_null(cuda->lm_head_nll_backward);
    assert_non_null(cuda->adamw);
    assert_non_null(cuda->copy_2d);
    assert_non_null(cuda->needs_reset);
    assert_non_null(cuda->reset);
    /* bf16 GEMMs are offered beside fp32 */
    assert_true(cuda->caps.precisions & (1u << HS_PRECISION_FP32));
    assert_true(cuda->caps.precisions & (1u << HS_PRECISION_BF16));
#ifdef HS_TEST_HOOKS
    assert_non_null(cuda->inject_fault); /* the test build carries the fault hook */
#else
    assert_null(cuda->inject_fault);
#endif
#else
    assert_null(hs_backend_find("cuda"));
    assert_string_equal(hs_backend_list(), "cpu");
#endif
}

static void test_init_reports_reason(void **state)
{
    (void)state;
#ifdef HS_HAVE_CUDA
    const hs_backend *cuda = hs_backend_find("cuda");
    char err[512] = "";
    hs_backend_ctx *ctx = cuda->init(0, err, sizeof err);
    if (ctx) { /* a GPU is present: it describes itself, takes bf16, is healthy */
        assert_non_null(strstr(cuda->describe(ctx), "cuda:0"));
        assert_int_equal(cuda->set_precision(ctx, HS_PRECISION_BF16), 0);
        assert_false(cuda->needs_reset(ctx));
        assert_int_equal(cuda->reset(ctx), 0);
        cuda->shutdown(ctx);
    } else {
        assert_non_null(strstr(err, "cuda:0"));
    }
    err[0] = '\0';
    hs_backend_ctx *bad = cuda->init(999, err, sizeof err);
    assert_null(bad);
    assert_non_null(strstr(err, "cuda:999"));
#else
    skip();
#endif
}

/* The CPU backend has no device to fault: needs_reset() is false, reset() a no-op. */
static void test_cpu_reset_is_a_no_op(void **state)
{
    (void)state;
    const hs_backend *cpu = hs_backend_find("cpu");
    assert_non_null(cpu->needs_reset);
    assert_non_null(cpu->reset);
    assert_null(cpu->inject_fault);
    char err[512] = "";
    hs_backend_ctx *ctx = cpu->init(0, err, sizeof err);
    assert_non_null(ctx);
    assert_false(cpu->needs_reset(ctx));
    assert_int_equal(cpu->reset(ctx), 0);
    float *x = cpu->alloc(ctx, 4 * sizeof(float));
    assert_non_null(x);
    assert_int_equal(cpu->scale(ctx, x, 2.0f, 4), 0); /* still usable after reset() */
    cpu->free(ctx, x);
    cpu->shutdown(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_listed),
        cmocka_unit_test(test_init_reports_reason),
        cmocka_unit_test(test_cpu_reset_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
