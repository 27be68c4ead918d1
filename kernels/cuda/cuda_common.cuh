/* Shared internals of the CUDA backend: the context struct, checked-call macros and scratch
 * memory. Every CUDA runtime call, cuBLAS call and kernel launch goes through HS_CUDA_CHECK,
 * HS_CUBLAS_CHECK or HS_LAUNCH_CHECK, which record a reason in the context and make the op
 * return -1 — the backend never aborts the process. */
#ifndef HS_CUDA_COMMON_CUH
#define HS_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "ops.h"
}

struct hs_backend_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *lt_workspace; /* cuBLASLt workspace, lt_workspace_bytes */
    size_t lt_workspace_bytes;
    void *scratch;      /* grows on demand: attention score/probability buffers, LM-head chunks */
    size_t scratch_bytes;
    double *reduce;     /* small device buffer for double reductions (sum_squares, stats) */
    hs_precision precision; /* of the GEMMs that follow (set_precision), FP32 at init */
    char err[512];
    char description[256];
};

int hs_cuda_fail(hs_backend_ctx *ctx, const char *what, const char *why, const char *file,
                 int line);
const char *hs_cublas_status_name(cublasStatus_t s);
/* Returns scratch memory of at least `bytes` (contents undefined), or NULL after recording an
 * error. Valid until the next call that requests scratch. */
void *hs_cuda_scratch(hs_backend_ctx *ctx, size_t bytes);

#define HS_CUDA_CHECK(ctx, call)                                                              \
    do {                                                                                      \
        cudaError_t hs_e_ = (call);                                                           \
        if (hs_e_ != cudaSuccess)                                                             \
            return hs_cuda_fail((ctx), #call, cudaGetErrorString(hs_e_), __FILE__, __LINE__); \
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
            return hs_cuda_fail((ctx), name, cudaGetErrorString(hs_e_), __FILE__, __LINE__);  \
    } while (0)

static inline unsigned hs_blocks_for(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535u * 64u ? 65535u * 64u : b);
}

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
