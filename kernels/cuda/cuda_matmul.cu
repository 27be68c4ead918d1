/* Every GEMM of the CUDA backend goes through hs_cuda_gemm(), one cuBLASLt wrapper: fp32 or
 * bf16 operands, fp32 accumulation (CUBLAS_COMPUTE_32F, never TF32) and fp32 output, optional
 * bias epilogue, optional strided batch. Row-major operands are handled by computing the
 * column-major transpose: C^T = op(B)^T · op(A)^T. The heuristic's algorithm is cached per
 * problem (types, transposes, sizes, leading dimensions, strides and pointer alignments) in
 * the context. When cuBLASLt offers no algorithm, or rejects the one it offered, the wrapper
 * falls back to cuBLAS's strided-batched GemmEx plus a bias kernel.
 *
 * matmul() follows the context's precision: in HS_PRECISION_BF16 both fp32 operands are first
 * rounded to bf16 (round to nearest even) into packed copies in the GEMM scratch pool. */
#include "cuda_common.cuh"

#include <stdint.h>
#include <string.h>

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

__global__ void to_bf16_kernel(__nv_bfloat16 *dst, int ldd, const float *src, int lds, int rows,
                               int cols)
{
    size_t total = (size_t)rows * ldd;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / ldd;
        int col = (int)(i % ldd);
        dst[i] = col < cols ? __float2bfloat16_rn(src[r * lds + col]) : __float2bfloat16_rn(0.0f);
    }
}

int hs_cuda_to_bf16(hs_backend_ctx *ctx, __nv_bfloat16 *dst, int ldd, const float *src, int lds,
                    int rows, int cols)
{
    if (rows <= 0 || ldd <= 0)
        return 0;
    to_bf16_kernel<<<hs_blocks_for((size_t)rows * ldd, 256), 256, 0, ctx->stream>>>(
        dst, ldd, src, lds, rows, cols);
    HS_LAUNCH_CHECK(ctx, "to_bf16_kernel");
    return 0;
}

static int add_bias(hs_backend_ctx *ctx, float *c, const float *bias, int M, int N, int ldc,
                    long long stride_c, int batch)
{
    add_bias_rows_kernel<<<hs_blocks_for((size_t)batch * M * N, 256), 256, 0, ctx->stream>>>(
        c, bias, M, N, ldc, stride_c, batch);
    HS_LAUNCH_CHECK(ctx, "add_bias_rows_kernel");
    return 0;
}

/* The largest power of two <= 256 that divides the address. */
static unsigned ptr_alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al > 1 && a % al != 0)
        al >>= 1;
    return al;
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

static int set_alignment(hs_backend_ctx *ctx, cublasLtMatmulPreference_t pref,
                         cublasLtMatmulPreferenceAttributes_t attr, const void *p)
{
    uint32_t al = ptr_alignment(p);
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulPreferenceSetAttribute(pref, attr, &al, sizeof al));
    return 0;
}

/* A column-major problem D[m,n] = alpha·opX(X)·opY(Y) + beta·D (+ bias[m] per column). */
typedef struct lt_problem {
    float *d;
    hs_gemm_operand x, y;
    const float *bias; /* used as the epilogue, or NULL */
    int m, n, k;
    cublasOperation_t tx, ty;
    int ldd;
    long long sd;
    int batch;
    float alpha, beta;
} lt_problem;

static void plan_key(const lt_problem *p, long long key[16])
{
    memset(key, 0, 16 * sizeof key[0]);
    key[0] = (long long)p->x.type << 8 | (long long)p->y.type;
    key[1] = (long long)p->tx << 8 | (long long)p->ty;
    key[2] = p->m;
    key[3] = p->n;
    key[4] = p->k;
    key[5] = p->x.ld;
    key[6] = p->y.ld;
    key[7] = p->ldd;
    key[8] = p->x.stride;
    key[9] = p->y.stride;
    key[10] = p->sd;
    key[11] = p->batch;
    key[12] = p->bias != NULL;
    key[13] = (long long)ptr_alignment(p->x.ptr) << 18 | (long long)ptr_alignment(p->y.ptr) << 9 |
              (long long)ptr_alignment(p->d);
}

static hs_gemm_plan *plan_find(hs_backend_ctx *ctx, const long long key[16])
{
    for (int i = 0; i < HS_GEMM_PLANS; i++)
        if (ctx->plans[i].used && memcmp(ctx->plans[i].key, key, 16 * sizeof key[0]) == 0)
            return &ctx->plans[i];
    return NULL;
}

static hs_gemm_plan *plan_store(hs_backend_ctx *ctx, const long long key[16])
{
    hs_gemm_plan *pl = &ctx->plans[ctx->next_plan];
    ctx->next_plan = (ctx->next_plan + 1) % HS_GEMM_PLANS;
    memset(pl, 0, sizeof *pl);
    pl->used = true;
    memcpy(pl->key, key, 16 * sizeof key[0]);
    return pl;
}

/* Describes the problem to cuBLASLt, finds (or reuses) an algorithm and runs it. *fallback is
 * set, with nothing run, when cuBLASLt has no algorithm for it. */
static int lt_run(hs_backend_ctx *ctx, lt_handles *h, const lt_problem *p, bool *fallback)
{
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescCreate(&h->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                        &p->tx, sizeof p->tx));
    HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_TRANSB,
                                                        &p->ty, sizeof p->ty));
    if (p->bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(h->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                            &epi, sizeof epi));
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulDescSetAttribute(
                                 h->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p->bias,
                                 sizeof p->bias));
    }
    int xr = p->tx == CUBLAS_OP_N ? p->m : p->k, xc = p->tx == CUBLAS_OP_N ? p->k : p->m;
    int yr = p->ty == CUBLAS_OP_N ? p->k : p->n, yc = p->ty == CUBLAS_OP_N ? p->n : p->k;
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->a, p->x.type, xr, xc, p->x.ld));
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->b, p->y.type, yr, yc, p->y.ld));
    HS_CUBLAS_CHECK(ctx, cublasLtMatrixLayoutCreate(&h->c, CUDA_R_32F, p->m, p->n, p->ldd));
    if (p->batch > 1) {
        if (set_batch(ctx, h->a, p->batch, p->x.stride) ||
            set_batch(ctx, h->b, p->batch, p->y.stride) || set_batch(ctx, h->c, p->batch, p->sd))
            return -1;
    }
    long long key[16];
    plan_key(p, key);
    hs_gemm_plan *plan = plan_find(ctx, key);
    if (!plan) {
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulPreferenceCreate(&h->pref));
        uint64_t ws = ctx->lt_workspace_bytes;
        HS_CUBLAS_CHECK(ctx, cublasLtMatmulPreferenceSetAttribute(
                                 h->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                 sizeof ws));
        /* The default assumes 256-byte aligned buffers; ours may start mid-allocation (a
         * head's columns of qkv), so state the real alignment. */
        if (set_alignment(ctx, h->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, p->x.ptr) ||
            set_alignment(ctx, h->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, p->y.ptr) ||
            set_alignment(ctx, h->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, p->d) ||
            set_alignment(ctx, h->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, p->d))
            return -1;
        cublasLtMatmulHeuristicResult_t result;
        memset(&result, 0, sizeof result);
        int found = 0;
        cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(ctx->lt, h->op, h->a, h->b, h->c, h->c,
                                                          h->pref, 1, &result, &found);
        plan = plan_store(ctx, key);
        if (s != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS) {
            plan->no_algo = true;
        } else {
            plan->algo = result.algo;
        }
    }
    if (plan->no_algo) {
        *fallback = true;
        return 0;
    }
    cublasStatus_t s = cublasLtMatmul(ctx->lt, h->op, &p->alpha, p->x.ptr, h->a, p->y.ptr, h->b,
                                      &p->beta, p->d, h->c, p->d, h->c, &plan->algo,
                                      ctx->lt_workspace, ctx->lt_workspace_bytes, ctx->stream);
    if (s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE) {
        /* the algorithm does not take this problem after all: remember, use the fallback */
        plan->no_algo = true;
        *fallback = true;
        return 0;
    }
    HS_CUBLAS_CHECK(ctx, s);
    return 0;
}

int hs_cuda_gemm(hs_backend_ctx *ctx, float *c, hs_gemm_operand a, hs_gemm_operand b,
                 const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int ldc,
                 long long stride_c, int batch, float alpha, float beta)
{
    if (M <= 0 || N <= 0 || batch <= 0)
        return 0;
    if (a.type != b.type || (a.type != CUDA_R_32F && a.type != CUDA_R_16BF))
        return hs_cuda_fail(ctx, "gemm", "operands must both be fp32 or both bf16", __FILE__,
                            __LINE__);
    if (K <= 0) { /* C = beta·C (+ bias) */
        if (beta != 1.0f) {
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < M; r++)
                    HS_CUBLAS_CHECK(ctx, cublasSscal(ctx->blas, N, &beta,
                                                     c + i * stride_c + (size_t)r * ldc, 1));
        }
        return bias ? add_bias(ctx, c, bias, M, N, ldc, stride_c, batch) : 0;
    }
    /* the bias epilogue wants an aligned vector; otherwise the bias kernel adds it */
    bool epilogue_bias = bias && ptr_alignment(bias) >= 16;
    lt_problem p = {c, b, a, epilogue_bias ? bias : NULL, N, M, K,
                    trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    ldc, stride_c, batch, alpha, beta};
    lt_handles h = {};
    bool fallback = false;
    int rc = lt_run(ctx, &h, &p, &fallback);
    lt_release(&h);
    if (rc != 0)
        return -1;
    if (fallback) {
        HS_CUBLAS_CHECK(ctx, cublasGemmStridedBatchedEx(
                                 ctx->blas, p.tx, p.ty, N, M, K, &alpha, b.ptr, b.type, b.ld,
                                 b.stride, a.ptr, a.type, a.ld, a.stride, &beta, c, CUDA_R_32F,
                                 ldc, stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        epilogue_bias = false;
    }
    if (bias && !epilogue_bias)
        return add_bias(ctx, c, bias, M, N, ldc, stride_c, batch);
    return 0;
}

static hs_gemm_operand fp32_operand(const float *p, int ld, long long stride)
{
    hs_gemm_operand o = {p, CUDA_R_32F, ld, stride};
    return o;
}

/* matmul in HS_PRECISION_BF16: packed bf16 copies of A and B in the GEMM scratch pool. */
static int matmul_bf16(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                       const float *bias, int M, int N, int K, bool trans_a, bool trans_b,
                       int lda, int ldb, int ldc, float alpha, float beta)
{
    int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K; /* A as stored */
    int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    int lda16 = hs_bf16_ld(a_cols), ldb16 = hs_bf16_ld(b_cols);
    size_t a_bytes = hs_align256((size_t)a_rows * lda16 * sizeof(__nv_bfloat16));
    size_t b_bytes = (size_t)b_rows * ldb16 * sizeof(__nv_bfloat16);
    char *s = (char *)hs_cuda_scratch_pool(ctx, HS_SCRATCH_GEMM, a_bytes + b_bytes);
    if (!s)
        return -1;
    __nv_bfloat16 *a16 = (__nv_bfloat16 *)s, *b16 = (__nv_bfloat16 *)(s + a_bytes);
    if (hs_cuda_to_bf16(ctx, a16, lda16, a, lda, a_rows, a_cols) != 0 ||
        hs_cuda_to_bf16(ctx, b16, ldb16, b, ldb, b_rows, b_cols) != 0)
        return -1;
    hs_gemm_operand oa = {a16, CUDA_R_16BF, lda16, 0}, ob = {b16, CUDA_R_16BF, ldb16, 0};
    return hs_cuda_gemm(ctx, c, oa, ob, bias, M, N, K, trans_a, trans_b, ldc, 0, 1, alpha, beta);
}

int hs_cuda_matmul(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                   const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                   int ldb, int ldc, float alpha, float beta)
{
    if (ctx->precision == HS_PRECISION_BF16 && M > 0 && N > 0 && K > 0)
        return matmul_bf16(ctx, c, a, b, bias, M, N, K, trans_a, trans_b, lda, ldb, ldc, alpha,
                           beta);
    return hs_cuda_gemm(ctx, c, fp32_operand(a, lda, 0), fp32_operand(b, ldb, 0), bias, M, N, K,
                        trans_a, trans_b, ldc, 0, 1, alpha, beta);
}

int hs_cuda_strided_batched_gemm(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                                 int M, int N, int K, bool trans_a, bool trans_b, int lda,
                                 long long stride_a, int ldb, long long stride_b, int ldc,
                                 long long stride_c, int batch, float alpha, float beta)
{
    return hs_cuda_gemm(ctx, c, fp32_operand(a, lda, stride_a), fp32_operand(b, ldb, stride_b),
                        NULL, M, N, K, trans_a, trans_b, ldc, stride_c, batch, alpha, beta);
}
