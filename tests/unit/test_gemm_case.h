/* The operands of one GEMM case of the matmul tests (fp32 and bf16): op(A) [M,K] and op(B)
 * [K,N] stored as the transposes say with `pad` extra columns, a bias, and C filled with
 * uniform values (NaN where beta = 0, since C must then not be read) and a sentinel in its
 * padding, which the case checks is left untouched. Values from test_kernels_common.h's
 * seeded generator, in the order a, b, bias, c; and one checked call of a few-rows GEMM
 * variant built on them. Static functions only. */
#ifndef TEST_GEMM_CASE_H
#define TEST_GEMM_CASE_H
#include "test_kernels_common.h"

#include "cpu/cpu_ops.h"

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

/* One call of a few-rows GEMM variant (cpu/cpu_gemm_few_rows.c: C = alpha·A·Bᵀ + beta·C, B
 * stored [N,K]) against a double reference, with |got − ref| <= tol·(|alpha|·Σ_k|a·b| + 1).
 * With round_b (the bf16 form), A is rounded by `rounded` first, as the caller of that form
 * passes it, and the reference multiplies rounded(b); `rounded` is NULL for fp32. Returns the
 * worst |err|/scale; fails the test naming `name` and the element. */
static double gemm_case_few_rows(hs_cpu_few_rows_isa isa, bool round_b, double (*rounded)(float),
                                 gemm_shape s, float alpha, float beta, int pad, double tol,
                                 const char *name)
{
    const int M = s.M, N = s.N, K = s.K;
    gemm_case g;
    gemm_case_make(&g, s, false, true, beta, pad);
    if (rounded)
        for (size_t i = 0; i < (size_t)M * g.lda; i++)
            g.a[i] = (float)rounded(g.a[i]);
    double *ref = test_alloc(sizeof(double) * (size_t)M * N);
    double *scale = test_alloc(sizeof(double) * (size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double dot = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                float b = g.b[(size_t)j * g.ldb + k];
                double p = (double)g.a[(size_t)i * g.lda + k] * (rounded ? rounded(b) : b);
                dot += p;
                mag += fabs(p);
            }
            double c0 = beta == 0.0f ? 0.0 : g.c[(size_t)i * g.ldc + j]; /* NaN when not read */
            ref[(size_t)i * N + j] = alpha * dot + beta * c0;
            scale[(size_t)i * N + j] = fabs(alpha) * mag + 1.0;
        }
    assert_true(hs_cpu_gemm_few_rows_with(isa, round_b, M, N, K, alpha, g.a, g.lda, g.b, g.ldb,
                                          beta, g.c, g.ldc));
    double worst = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            size_t at = (size_t)i * N + j;
            double got = g.c[(size_t)i * g.ldc + j];
            double diff = fabs(got - ref[at]);
            if (!(diff <= tol * scale[at]))
                fail_msg("%s M=%d N=%d K=%d: C[%d,%d] got %.9g want %.9g", name, M, N, K, i, j,
                         got, ref[at]);
            if (diff / scale[at] > worst)
                worst = diff / scale[at];
        }
    gemm_case_finish(&g); /* padding untouched */
    free(ref);
    free(scale);
    return worst;
}

#endif
