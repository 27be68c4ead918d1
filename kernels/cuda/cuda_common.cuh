/* Shared internals of the CUDA backend: the context struct, checked-call macros and scratch
 * memory. Every CUDA runtime call, cuBLAS call and kernel launch goes through HS_CUDA_CHECK,
 * HS_CUBLAS_CHECK or HS_LAUNCH_CHECK, which record a reason in the context and make the op
 * return -1 — the backend never aborts the process. */
#ifndef HS_CUDA_COMMON_CUH
#define HS_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "ops.h"
}

/* Scratch pools: each grows on demand and is independent of the others, so an op may hold
 * memory of one pool while a GEMM it calls uses another. */
enum hs_cuda_scratch_pool {
    HS_SCRATCH_OP = 0,    /* the op's own buffers: attention rows, LM-head chunks, ... */
    HS_SCRATCH_GEMM = 1,  /* bf16 copies of GEMM operands (matmul in HS_PRECISION_BF16) */
    HS_SCRATCH_POOLS = 2,
};

/* One cached cuBLASLt heuristic answer: the algorithm for a problem (see cuda_matmul.cu). */
typedef struct hs_gemm_plan {
    bool used;
    bool no_algo;               /* the heuristic offered nothing: use the cuBLAS fallback */
    long long key[16];          /* the problem: types, transposes, sizes, strides, alignments */
    cublasLtMatmulAlgo_t algo;
} hs_gemm_plan;

#define HS_GEMM_PLANS 64

struct hs_backend_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *lt_workspace; /* cuBLASLt workspace, lt_workspace_bytes */
    size_t lt_workspace_bytes;
    void *scratch[HS_SCRATCH_POOLS]; /* see hs_cuda_scratch_pool; contents undefined */
    size_t scratch_bytes[HS_SCRATCH_POOLS];
    double *reduce;     /* small device buffer for double reductions (sum_squares, stats) */
    hs_precision precision; /* of the GEMMs that follow (set_precision), FP32 at init */
    size_t smem_optin;  /* the most dynamic shared memory one block may opt in to */
    hs_gemm_plan plans[HS_GEMM_PLANS]; /* heuristic answers, replaced round robin */
    int next_plan;
    /* Sticky-error state: set when a call reported an error after which every call on the
     * device fails (an illegal address in a kernel, ...); cleared by reset(). */
    bool sticky;
    unsigned epoch;     /* the device's reset count when this context's handles were made */
    char err[512];
    char description[256];
};

/* Records "cuda: WHAT failed: WHY (file:line)" and returns -1. Probes the device afterwards:
 * when it is in a sticky error state the context is marked (needs_reset()) and the reason
 * says so. */
int hs_cuda_fail(hs_backend_ctx *ctx, const char *what, const char *why, const char *file,
                 int line);
/* The same for a CUDA runtime error code; also clears the runtime's last (non-sticky) error so
 * it is not reported again by the next launch check. */
int hs_cuda_fail_code(hs_backend_ctx *ctx, const char *what, cudaError_t e, const char *file,
                      int line);
const char *hs_cublas_status_name(cublasStatus_t s);
/* cudaMalloc that fails with "cuda alloc: N bytes asked for PURPOSE, M free of T
 * (cudaMemGetInfo)" in the context; 0 or -1. */
int hs_cuda_malloc(hs_backend_ctx *ctx, void **ptr, size_t bytes, const char *purpose);
/* Returns scratch memory of pool HS_SCRATCH_OP of at least `bytes` (contents undefined), or
 * NULL after recording an error. Valid until the next request of the same pool. */
void *hs_cuda_scratch(hs_backend_ctx *ctx, size_t bytes);
void *hs_cuda_scratch_pool(hs_backend_ctx *ctx, int pool, size_t bytes);

#define HS_CUDA_CHECK(ctx, call)                                                              \
    do {                                                                                      \
        cudaError_t hs_e_ = (call);                                                           \
        if (hs_e_ != cudaSuccess)                                                             \
            return hs_cuda_fail_code((ctx), #call, hs_e_, __FILE__, __LINE__);               \
    } while (0)

#define HS_CUBLAS_CHECK(ctx, call)                                                            \
    do {                                                                                      \
        cublasStatus_t hs_s_ = (call);                                                        \
        if (hs_s_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return hs_cuda_fail((ctx), #call, hs_cublas_status_name(hs_s_), __FILE__,         \
                                __LINE__);                                                    \
    } while (0)

/* After a <<<>>> launch: reports launch-configuration errors without synchronising. */
#define HS_LAUNCH_CHECK(ctx, name)                                                            \
    do {                                                                                      \
        cudaError_t hs_e_ = cudaGetLastError();                                               \
        if (hs_e_ != cudaSuccess)                                                             \
            return hs_cuda_fail_code((ctx), name, hs_e_, __FILE__, __LINE__);                 \
    } while (0)

/* The dynamic shared memory of a kernel, as floats (the launch gives its size). */
#define HS_DYNAMIC_SHARED(name) extern __shared__ float name[]

static inline unsigned hs_blocks_for(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535u * 64u ? 65535u * 64u : b);
}

/* One GEMM operand as stored: fp32 or bf16 (CUDA_R_32F, CUDA_R_16BF), its leading dimension
 * and, for strided batches, the elements between consecutive matrices. */
typedef struct hs_gemm_operand {
    const void *ptr;
    cudaDataType_t type;
    int ld;
    long long stride;
} hs_gemm_operand;

/* The GEMM core (cuda_matmul.cu): the row-major C[M,N] (fp32, ldc, stride_c) = alpha·op(A)·op(B)
 * + beta·C (+ bias[N] per row), batch times, with the conventions of ops.h matmul; the
 * operands are fp32 or bf16 (both of one type), accumulation and output fp32. */
int hs_cuda_gemm(hs_backend_ctx *ctx, float *c, hs_gemm_operand a, hs_gemm_operand b,
                 const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int ldc,
                 long long stride_c, int batch, float alpha, float beta);
/* dst[r·ldd + col] = bf16(src[r·lds + col]) rounded to nearest even for col < cols, and 0 for
 * cols <= col < ldd (padding), r < rows. */
int hs_cuda_to_bf16(hs_backend_ctx *ctx, __nv_bfloat16 *dst, int ldd, const float *src, int lds,
                    int rows, int cols);
/* The leading dimension of a packed bf16 copy of `cols` columns: a multiple of 8 elements
 * (16 bytes), which cuBLASLt's tensor-core kernels want. */
static inline int hs_bf16_ld(int cols) { return (cols + 7) / 8 * 8; }
/* Bytes rounded up to 256, so consecutive buffers carved from one scratch block stay aligned. */
static inline size_t hs_align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

/* Ops implemented in the other .cu files (the table is in cuda_backend.cu). */
int hs_cuda_matmul(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                   const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                   int ldb, int ldc, float alpha, float beta);
int hs_cuda_strided_batched_gemm(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                                 int M, int N, int K, bool trans_a, bool trans_b, int lda,
                                 long long stride_a, int ldb, long long stride_b, int ldc,
                                 long long stride_c, int batch, float alpha, float beta);
int hs_cuda_embedding(hs_backend_ctx *ctx, float *out, const int32_t *ids, hs_table table,
                      int N, int C);
int hs_cuda_widen(hs_backend_ctx *ctx, float *dst, const void *src, hs_table_dtype dtype,
                  size_t n);
/* The fp32 data of a table the LM-head ops read, or NULL after recording that this backend
 * keeps its tables in fp32 only (caps.storage_dtypes). */
const float *hs_cuda_table_f32(hs_backend_ctx *ctx, hs_table table, const char *op);
int hs_cuda_gelu(hs_backend_ctx *ctx, float *out, const float *in, size_t n, hs_gelu_kind kind);
int hs_cuda_gelu_backward(hs_backend_ctx *ctx, float *din, const float *in, const float *dout,
                          size_t n, hs_gelu_kind kind);
int hs_cuda_add(hs_backend_ctx *ctx, float *out, const float *a, const float *b, size_t n);
int hs_cuda_scale(hs_backend_ctx *ctx, float *x, float s, size_t n);
int hs_cuda_bias_backward(hs_backend_ctx *ctx, float *db, const float *dout, int M, int N,
                          int ld);
int hs_cuda_copy_2d(hs_backend_ctx *ctx, float *dst, int ldd, const float *src, int lds,
                    int rows, int cols);
int hs_cuda_layernorm(hs_backend_ctx *ctx, float *out, float *mean, float *rstd,
                      const float *in, const float *w, const float *b, int N, int C, float eps);
int hs_cuda_layernorm_backward(hs_backend_ctx *ctx, float *din, float *dw, float *db,
                               const float *dout, const float *in, const float *mean,
                               const float *rstd, const float *w, int N, int C);
int hs_cuda_attention(hs_backend_ctx *ctx, float *out, float *probs, float *stats,
                      const float *qkv, const float *slopes, int B, int T, int H, int d);
/* The tiled (flash-style) attention of cuda_attention_tiled.cu, for callers without probs. */
int hs_cuda_attention_tiled(hs_backend_ctx *ctx, float *out, float *stats, const float *qkv,
                            const float *slopes, int B, int T, int H, int d);
int hs_cuda_attention_backward_tiled(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                                     const float *qkv, const float *slopes,
                                     const uint8_t *head_mask, int B, int T, int H, int d);
int hs_cuda_attention_decode(hs_backend_ctx *ctx, float *out, float *k_cache, float *v_cache,
                             const float *qkv, const int32_t *past, const float *slopes, int B,
                             int T_new, int H, int d, int T_max);
int hs_cuda_attention_backward(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                               const float *qkv, const float *probs, const float *slopes,
                               const uint8_t *head_mask, int B, int T, int H, int d);
int hs_cuda_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                        hs_table emb, const int32_t *targets, int N, int C, int V);
int hs_cuda_lm_head_logits(hs_backend_ctx *ctx, float *logits, const float *x, hs_table emb,
                           int N, int C, int V);
int hs_cuda_lm_head_nll_backward(hs_backend_ctx *ctx, float *dx, const float *x,
                                 hs_table emb, const int32_t *targets, const float *lse,
                                 float scale, int N, int C, int V);
int hs_cuda_adamw(hs_backend_ctx *ctx, float *param, const float *grad, float *m, float *v,
                  size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                  float bc1, float bc2);
int hs_cuda_sum_squares(hs_backend_ctx *ctx, double *host_out, const float *x, size_t n);

#endif
