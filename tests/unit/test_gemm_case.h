/* The operands of one GEMM case of the matmul tests (fp32 and bf16): op(A) [M,K] and op(B)
 * [K,N] stored as the transposes say with `pad` extra columns, a bias, and C filled with
 * uniform values (NaN where beta = 0, since C must then not be read) and a sentinel in its
 * padding, which the case checks is left untouched. Values from test_kernels_common.h's
 * seeded generator, in the order a, b, bias, c. Static functions only. */
#ifndef TEST_GEMM_CASE_H
#define TEST_GEMM_CASE_H
#include "test_kernels_common.h"

typedef struct {
    int M, N, K;
} gemm_shape;

typedef struct {
    int M, N, K, lda, ldb, ldc;
    float *a, *b, *c, *bias;
} gemm_case;

#define GEMM_CASE_SENTINEL 12345.0f

static void gemm_case_make(gemm_case *g, gemm_shape s, bool ta, bool tb, float beta, int pad)
{
    g->M = s.M;
    g->N = s.N;
    g->K = s.K;
    int a_rows = ta ? s.K : s.M, a_cols = ta ? s.M : s.K;
    int b_rows = tb ? s.N : s.K, b_cols = tb ? s.K : s.N;
    g->lda = a_cols + pad;
    g->ldb = b_cols + pad;
    g->ldc = s.N + pad;
    g->a = test_alloc(sizeof(float) * (size_t)a_rows * g->lda);
    g->b = test_alloc(sizeof(float) * (size_t)b_rows * g->ldb);
    g->c = test_alloc(sizeof(float) * (size_t)s.M * g->ldc);
    g->bias = test_alloc(sizeof(float) * (size_t)s.N);
    test_fill_uniform(g->a, (size_t)a_rows * g->lda, -1, 1);
    test_fill_uniform(g->b, (size_t)b_rows * g->ldb, -1, 1);
    test_fill_uniform(g->bias, (size_t)s.N, -1, 1);
    for (size_t i = 0; i < (size_t)s.M * g->ldc; i++)
        g->c[i] = ((int)(i % g->ldc) < s.N)
                      ? (beta == 0.0f ? NAN : (float)test_rng_uniform(-1, 1))
                      : GEMM_CASE_SENTINEL;
}

/* C's padding columns still hold the sentinel; then frees the operands. */
static void gemm_case_finish(gemm_case *g)
{
    for (int i = 0; i < g->M; i++)
        for (int j = g->N; j < g->ldc; j++)
            assert_true(g->c[(size_t)i * g->ldc + j] == GEMM_CASE_SENTINEL);
    free(g->a);
    free(g->b);
    free(g->c);
    free(g->bias);
}

#endif
