/* CPU backend: the GEMM of the op table (OpenBLAS cblas_sgemm, row-major, with an optional
 * per-column bias added afterwards) and its bias gradient (column sums of dout). */
#include "cpu_ops.h"

#include <cblas.h>
#include <stdlib.h>

#define PARALLEL_MIN_ELEMENTS 32768
/* Columns one thread sums at a time in bias_backward (a double accumulator row in L1). */
#define BIAS_COLUMN_BLOCK 256

int hs_cpu_matmul(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                  const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                  int ldb, int ldc, float alpha, float beta)
{
    if (!ctx)
        return -1;
    if (M < 0 || N < 0 || K < 0)
        return hs_cpu_fail(ctx, "cpu matmul: negative shape M=%d N=%d K=%d", M, N, K);
    if (M == 0 || N == 0)
        return 0;
    /* Row-major storage: op(A) is [M,K], so A is [M,K] (rows of K) or [K,M] (rows of M). */
    int a_cols = trans_a ? M : K;
    int b_cols = trans_b ? K : N;
    if (lda < (a_cols > 1 ? a_cols : 1))
        return hs_cpu_fail(ctx, "cpu matmul: lda=%d below the %d columns of A%s", lda, a_cols,
                           trans_a ? " (transposed, stored [K,M])" : " (stored [M,K])");
    if (ldb < (b_cols > 1 ? b_cols : 1))
        return hs_cpu_fail(ctx, "cpu matmul: ldb=%d below the %d columns of B%s", ldb, b_cols,
                           trans_b ? " (transposed, stored [N,K])" : " (stored [K,N])");
    if (ldc < N)
        return hs_cpu_fail(ctx, "cpu matmul: ldc=%d below the N=%d columns of C", ldc, N);
    if (!c || (K > 0 && (!a || !b)))
        return hs_cpu_fail(ctx, "cpu matmul: %s is NULL", !c ? "C" : !a ? "A" : "B");

    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);

    if (bias) {
        /* one memory-bound pass, kept on this thread: a fork/join here costs more than the adds
         * save whenever the machine is busy, and little is gained otherwise */
        for (int i = 0; i < M; i++) {
            float *row = c + (size_t)i * ldc;
            for (int j = 0; j < N; j++)
                row[j] += bias[j];
        }
    }
    return 0;
}

int hs_cpu_bias_backward(hs_backend_ctx *ctx, float *db, const float *dout, int M, int N, int ld)
{
    if (!ctx)
        return -1;
    if (M < 0 || N < 0)
        return hs_cpu_fail(ctx, "cpu bias_backward: negative shape M=%d N=%d", M, N);
    if (M == 0 || N == 0)
        return 0;
    if (ld < N)
        return hs_cpu_fail(ctx, "cpu bias_backward: ld=%d below N=%d", ld, N);
    if (!db || !dout)
        return hs_cpu_fail(ctx, "cpu bias_backward: %s is NULL", !db ? "db" : "dout");

    int blocks = (N + BIAS_COLUMN_BLOCK - 1) / BIAS_COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)M * (size_t)N >= PARALLEL_MIN_ELEMENTS)
    for (int blk = 0; blk < blocks; blk++) {
        int j0 = blk * BIAS_COLUMN_BLOCK;
        int width = N - j0 < BIAS_COLUMN_BLOCK ? N - j0 : BIAS_COLUMN_BLOCK;
        double sums[BIAS_COLUMN_BLOCK] = {0};
        for (int i = 0; i < M; i++) {
            const float *row = dout + (size_t)i * ld + j0;
            for (int j = 0; j < width; j++)
                sums[j] += row[j];
        }
        for (int j = 0; j < width; j++)
            db[j0 + j] += (float)sums[j];
    }
    return 0;
}
