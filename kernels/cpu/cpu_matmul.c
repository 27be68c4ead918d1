/* CPU backend: the GEMM of the op table (OpenBLAS cblas_sgemm, row-major, with an optional
 * per-column bias) and its bias gradient (column sums of dout), plus hs_cpu_gemm, the one
 * function every GEMM of matmul() and the LM head goes through: OpenBLAS in fp32, oneDNN
 * (cpu_gemm_bf16.c) when set_precision() chose bf16. The attention ops keep their own fp32
 * sgemms in either precision (scores and softmax stay fp32, see docs/architecture.md).
 *
 * Threading: the backend has one pool of threads, OpenMP's. OpenBLAS runs every sgemm of the
 * backend on the calling thread (hs_cpu_blas_single_thread_begin/end around each call), and a
 * large GEMM is cut here into one panel of C per OpenMP thread (columns when C is at least as
 * wide as it is tall, rows otherwise), each panel one single-threaded sgemm. OpenBLAS's own
 * pthread pool thus stays asleep instead of spinning against the OpenMP threads of the ops
 * before and after each GEMM (with Debian's pthread OpenBLAS on two cores that contention made
 * a BLOOM-560m diagnosis forward take 3.0 s instead of 2.0 s).
 * The bias is written into each panel before its sgemm, which then adds the product with
 * beta = 1 (as torch's addmm does), so no separate pass over C is needed. A panel of at most
 * HS_CPU_FEW_ROWS_MAX rows against a transposed B (every linear layer and the LM head of a
 * decode step) goes to cpu_gemm_few_rows.c, which reads B once without sgemm's packing copy;
 * any other panel of one row is an sgemv (no packing either).
 * In bf16 the GEMM is not cut into panels: oneDNN threads it over the OpenMP threads. */
#include "cpu_ops.h"

#include <cblas.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PARALLEL_MIN_ELEMENTS 32768
/* Below this many multiply-adds (M·N·K) a GEMM runs on one thread: the fork/join would cost
 * more than the second core saves. */
#define GEMM_PARALLEL_MIN_MACS ((long long)1 << 21)
/* Panels are multiples of this many rows/columns (OpenBLAS's microkernel tiles divide it). */
#define GEMM_PANEL_ALIGN 64
/* Columns one thread sums at a time in bias_backward (a double accumulator row in L1). */
#define BIAS_COLUMN_BLOCK 256

/* One panel of C: rows m0..m0+rows−1, columns n0..n0+cols−1. */
typedef struct {
    int m0, rows, n0, cols;
} gemm_panel;

int hs_cpu_gemm(hs_backend_ctx *ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (M <= 0 || N <= 0)
        return 0;
    if (K == 0) { /* nothing to multiply: C = beta·C, which OpenBLAS may not do */
        for (int i = 0; i < M; i++) {
            float *row = c + (size_t)i * ldc;
            for (int j = 0; j < N; j++)
                row[j] = beta == 0.0f ? 0.0f : beta * row[j];
        }
        return 0;
    }
    if (ctx->precision == HS_PRECISION_BF16)
        return hs_cpu_gemm_bf16(ctx, trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c,
                                ldc);
    if (trans_b && !trans_a && M <= HS_CPU_FEW_ROWS_MAX &&
        hs_cpu_gemm_few_rows(M, N, K, alpha, a, lda, b, ldb, beta, c, ldc))
        return 0;
    if (M == 1) {
        /* one row (a decode step at batch 1): sgemv reads B once, where sgemm would first
         * pack it — for the LM head that is the whole vocabulary × hidden matrix */
        if (beta == 0.0f)
            for (int j = 0; j < N; j++) /* C may hold NaN, which a scaling by 0 keeps */
                c[j] = 0.0f;
        cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? N : K,
                    trans_b ? K : N, alpha, b, ldb, a, trans_a ? lda : 1, beta, c, 1);
        return 0;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda, b, ldb, beta, c,
                ldc);
    return 0;
}

/* C[panel] = alpha·op(A)[panel rows]·op(B)[panel columns] + beta·C[panel] (+ bias). */
static int gemm_panel_run(hs_backend_ctx *ctx, gemm_panel p, float *c, const float *a,
                          const float *b, const float *bias, int K, bool trans_a, bool trans_b,
                          int lda, int ldb, int ldc, float alpha, float beta)
{
    if (p.rows <= 0 || p.cols <= 0)
        return 0;
    float *c_panel = c + (size_t)p.m0 * ldc + p.n0;
    float gemm_beta = beta;
    if (bias) {
        const float *bias_panel = bias + p.n0;
        for (int i = 0; i < p.rows; i++) {
            float *row = c_panel + (size_t)i * ldc;
            if (beta == 0.0f) { /* C is not read when beta is 0 (it may hold NaN) */
                for (int j = 0; j < p.cols; j++)
                    row[j] = bias_panel[j];
            } else {
                for (int j = 0; j < p.cols; j++)
                    row[j] = beta * row[j] + bias_panel[j];
            }
        }
        gemm_beta = 1.0f;
        if (K == 0) /* C = beta·C + bias is all there is */
            return 0;
    }
    /* op(A) rows m0.. : A stored [M,K] → row m0; stored [K,M] (transposed) → column m0 */
    const float *a_panel = trans_a ? a + p.m0 : a + (size_t)p.m0 * lda;
    /* op(B) columns n0.. : B stored [K,N] → column n0; stored [N,K] (transposed) → row n0 */
    const float *b_panel = trans_b ? b + (size_t)p.n0 * ldb : b + p.n0;
    return hs_cpu_gemm(ctx, trans_a, trans_b, p.rows, p.cols, K, alpha, a_panel, lda, b_panel,
                       ldb, gemm_beta, c_panel, ldc);
}

/* How many panels a GEMM is cut into: one per thread when it is large enough to pay for the
 * fork/join, one when called from inside a parallel region or in bf16 (oneDNN shares the
 * work out among the OpenMP threads itself). */
static int gemm_parts(const hs_backend_ctx *ctx, int M, int N, int K)
{
    int threads = ctx->threads > 0 ? ctx->threads : 1;
    if (ctx->precision != HS_PRECISION_FP32)
        return 1;
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    if (threads < 2 || (long long)M * N * (K > 0 ? K : 1) < GEMM_PARALLEL_MIN_MACS)
        return 1;
    /* panels no thinner than the alignment along the dimension that is cut */
    int longest = M > N ? M : N;
    int max_parts = (longest + GEMM_PANEL_ALIGN - 1) / GEMM_PANEL_ALIGN;
    return threads < max_parts ? threads : max_parts;
}

/* Panel `index` of `parts`: cut the columns when C is at least as wide as it is tall, else
 * the rows, in aligned pieces as even as possible (the last one takes the remainder). */
static gemm_panel gemm_panel_of(int M, int N, int parts, int index)
{
    bool cut_columns = N >= M;
    int extent = cut_columns ? N : M;
    int units = (extent + GEMM_PANEL_ALIGN - 1) / GEMM_PANEL_ALIGN;
    int begin = (int)((long long)units * index / parts) * GEMM_PANEL_ALIGN;
    int end = (int)((long long)units * (index + 1) / parts) * GEMM_PANEL_ALIGN;
    if (end > extent)
        end = extent;
    if (begin > extent)
        begin = extent;
    if (cut_columns)
        return (gemm_panel){0, M, begin, end - begin};
    return (gemm_panel){begin, end - begin, 0, N};
}

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

    int parts = gemm_parts(ctx, M, N, K);
    int failed = 0;
    hs_cpu_blas_single_thread_begin();
    if (parts == 1) {
        failed = gemm_panel_run(ctx, (gemm_panel){0, M, 0, N}, c, a, b, bias, K, trans_a,
                                trans_b, lda, ldb, ldc, alpha, beta) != 0;
    } else {
#pragma omp parallel for num_threads(parts) schedule(static, 1) reduction(| : failed)
        for (int part = 0; part < parts; part++)
            failed |= gemm_panel_run(ctx, gemm_panel_of(M, N, parts, part), c, a, b, bias, K,
                                     trans_a, trans_b, lda, ldb, ldc, alpha, beta) != 0;
    }
    hs_cpu_blas_single_thread_end();
    return failed ? -1 : 0;
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
