/* Every GEMM of the CUDA backend goes through gemm_lt(), one cuBLASLt wrapper (fp32 inputs,
 * fp32 accumulation, optional bias epilogue, optional strided batch). Row-major operands are
 * handled by computing the column-major transpose: C^T = op(B)^T · op(A)^T. When cuBLASLt's
 * heuristic offers no algorithm for a shape/alignment, the wrapper falls back to cuBLAS's
 * strided-batched SGEMM plus a bias kernel. */
#include "cuda_common.cuh"

__global__ void add_bias_rows_kernel(float *c, const float *bias, int M, int N, int ldc,
                                     long long stride_c, int batch)
{
    size_t total = (size_t)batch * M * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t bidx = i / ((size_t)M * N), rem = i % ((size_t)M * N);
        int r = (int)(rem / N), col = (int)(rem % N);
        c[bidx * stride_c + (size_t)r * ldc + col] += bias[col];
    }
}

typedef struct lt_handles {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulPreference_t pref;
} lt_handles;

static void lt_release(lt_handles *h)
{
    if (h->pref) (void)cublasLtMatmulPreferenceDestroy(h->pref);
    if (h->c) (void)cublasLtMatrixLayoutDestroy(h->c);
    if (h->b) (void)cublasLtMatrixLayoutDestroy(h->b);
    if (h->a) (void)cublasLtMatrixLayoutDestroy(h->a);
    if (h->op) (void)cublasLtMatmulDescDestroy(h->op);
}

static int set_batch(hs_backend_ctx *ctx, cublasLtMatrixLayout_t l, int batch, long long stride)
{
    int32_t count = batch;
    int64_t offset = stride;
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                          &count, sizeof count));
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutSetAttribute(
                             l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &offset,
                             sizeof offset));
    return 0;
}

/* Column-major problem: D[m,n] = alpha·opX(X)·opY(Y) + beta·D (+ bias[m] per column). */
static int lt_try(hs_backend_ctx *ctx, lt_handles *h, float *d, const float *x, const float *y,
                  const float *bias, int m, int n, int k, cublasOperation_t tx,
                  cublasOperation_t ty, int ldx, long long sx, int ldy, long long sy, int ldd,
                  long long sd, int batch, float alpha, float beta, bool *no_algo)
{
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescCreate(&h->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_TRANSA, &tx,
                                                        sizeof tx));
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_TRANSB, &ty,
                                                        sizeof ty));
    if (bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                            &epi, sizeof epi));
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(
                                 h->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    int xr = tx == CUBLAS_OP_N ? m : k, xc = tx == CUBLAS_OP_N ? k : m;
    int yr = ty == CUBLAS_OP_N ? k : n, yc = ty == CUBLAS_OP_N ? n : k;
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->a, CUDA_R_32F, xr, xc, ldx));
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->b, CUDA_R_32F, yr, yc, ldy));
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->c, CUDA_R_32F, m, n, ldd));
    if (batch > 1) {
        if (set_batch(ctx, h->a, batch, sx) || set_batch(ctx, h->b, batch, sy) ||
            set_batch(ctx, h->c, batch, sd))
            return -1;
    }
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulPreferenceCreate(&h->pref));
    uint64_t ws = ctx->lt_workspace_bytes;
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulPreferenceSetAttribute(
                             h->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(ctx->lt, h->op, h->a, h->b, h->c, h->c,
                                                      h->pref, 1, &result, &found);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
        *no_algo = true;
        return 0;
    }
    HS_CUBLAS_CHECK(ctx, cublasLtMatmul(ctx->lt, h->op, &alpha, x, h->a, y, h->b, &beta, d, h->c,
                                        d, h->c, &result.algo, ctx->lt_workspace,
                                        ctx->lt_workspace_bytes, ctx->stream));
    return 0;
}

static int gemm_lt(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                   const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                   long long stride_a, int ldb, long long stride_b, int ldc, long long stride_c,
                   int batch, float alpha, float beta)
{
    if (M <= 0 || N <= 0 || batch <= 0)
        return 0;
    if (K <= 0) { /* C = beta·C (+ bias): scale via a degenerate path */
        if (beta != 1.0f) {
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < M; r++)
                    HS_CUBLAS_CHECK(ctx, cublasSscal(ctx->blas, N, &beta,
                                                     c + i * stride_c + (size_t)r * ldc, 1));
        }
        if (bias) {
            add_bias_rows_kernel<<<hs_blocks_for((size_t)batch * M * N, 256), 256, 0,
                                   ctx->stream>>>(c, bias, M, N, ldc, stride_c, batch);
            HS_LAUNCH_CHECK(ctx, "add_bias_rows_kernel");
        }
        return 0;
    }
    cublasOperation_t tx = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t ty = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    lt_handles h = {};
    bool no_algo = false;
    int rc = lt_try(ctx, &h, c, b, a, bias, N, M, K, tx, ty, ldb, stride_b, lda, stride_a, ldc,
                    stride_c, batch, alpha, beta, &no_algo);
    lt_release(&h);
    if (rc != 0)
        return -1;
    if (!no_algo)
        return 0;
    HS_CUBLAS_CHECK(ctx, cublasSgemmStridedBatched(ctx->blas, tx, ty, N, M, K, &alpha, b, ldb,
                                                   stride_b, a, lda, stride_a, &beta, c, ldc,
                                                   stride_c, batch));
    if (bias) {
        add_bias_rows_kernel<<<hs_blocks_for((size_t)batch * M * N, 256), 256, 0, ctx->stream>>>(
            c, bias, M, N, ldc, stride_c, batch);
        HS_LAUNCH_CHECK(ctx, "add_bias_rows_kernel");
    }
    return 0;
}

int hs_cuda_matmul(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                   const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                   int ldb, int ldc, float alpha, float beta)
{
    return gemm_lt(ctx, c, a, b, bias, M, N, K, trans_a, trans_b, lda, 0, ldb, 0, ldc, 0, 1,
                   alpha, beta);
}

int hs_cuda_strided_batched_gemm(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                                 int M, int N, int K, bool trans_a, bool trans_b, int lda,
                                 long long stride_a, int ldb, long long stride_b, int ldc,
                                 long long stride_c, int batch, float alpha, float beta)
{
    return gemm_lt(ctx, c, a, b, NULL, M, N, K, trans_a, trans_b, lda, stride_a, ldb, stride_b,
                   ldc, stride_c, batch, alpha, beta);
}
