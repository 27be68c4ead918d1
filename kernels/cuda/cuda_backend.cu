/* The CUDA backend's op table, lifecycle (device selection, stream, cuBLAS/cuBLASLt handles),
 * memory operations, error recording and scratch memory. The ops live in one file per op
 * family beside this one. fp32 storage and math with fp32 accumulation. */
#include "cuda_common.cuh"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int hs_cuda_fail(hs_backend_ctx *ctx, const char *what, const char *why, const char *file,
                 int line)
{
    if (ctx)
        snprintf(ctx->err, sizeof ctx->err, "cuda: %s failed: %s (%s:%d)", what, why, file, line);
    return -1;
}

const char *hs_cublas_status_name(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS allocation failed (out of memory)";
    case CUBLAS_STATUS_INVALID_VALUE: return "cuBLAS invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "cuBLAS architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "cuBLAS mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "cuBLAS execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "cuBLAS internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "cuBLAS operation not supported";
    default: return "cuBLAS error";
    }
}

void *hs_cuda_scratch(hs_backend_ctx *ctx, size_t bytes)
{
    if (bytes <= ctx->scratch_bytes)
        return ctx->scratch;
    if (ctx->scratch) {
        cudaError_t e = cudaFree(ctx->scratch);
        ctx->scratch = NULL;
        ctx->scratch_bytes = 0;
        if (e != cudaSuccess) {
            hs_cuda_fail(ctx, "cudaFree(scratch)", cudaGetErrorString(e), __FILE__, __LINE__);
            return NULL;
        }
    }
    cudaError_t e = cudaMalloc(&ctx->scratch, bytes);
    if (e != cudaSuccess) {
        ctx->scratch = NULL;
        char what[96];
        snprintf(what, sizeof what, "cudaMalloc of %zu bytes of scratch", bytes);
        hs_cuda_fail(ctx, what, cudaGetErrorString(e), __FILE__, __LINE__);
        return NULL;
    }
    ctx->scratch_bytes = bytes;
    return ctx->scratch;
}

static void cuda_shutdown(hs_backend_ctx *ctx)
{
    if (!ctx)
        return;
    /* Teardown errors cannot be reported to anyone; they are ignored deliberately. */
    (void)cudaSetDevice(ctx->device);
    if (ctx->stream)
        (void)cudaStreamSynchronize(ctx->stream);
    if (ctx->scratch)
        (void)cudaFree(ctx->scratch);
    if (ctx->reduce)
        (void)cudaFree(ctx->reduce);
    if (ctx->lt_workspace)
        (void)cudaFree(ctx->lt_workspace);
    if (ctx->lt)
        (void)cublasLtDestroy(ctx->lt);
    if (ctx->blas)
        (void)cublasDestroy(ctx->blas);
    if (ctx->stream)
        (void)cudaStreamDestroy(ctx->stream);
    free(ctx);
}

static hs_backend_ctx *init_fail(hs_backend_ctx *ctx, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", ctx->err);
    cuda_shutdown(ctx);
    return NULL;
}

static int init_steps(hs_backend_ctx *ctx, int device_index)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(ctx->err, sizeof ctx->err, "cuda:%d unavailable: %s (no usable NVIDIA GPU or driver)",
                 device_index, cudaGetErrorString(e));
        return -1;
    }
    if (device_index < 0 || device_index >= count) {
        snprintf(ctx->err, sizeof ctx->err, "cuda:%d does not exist: %d GPU(s) visible",
                 device_index, count);
        return -1;
    }
    HS_CUDA_CHECK(ctx, cudaSetDevice(device_index));
    HS_CUDA_CHECK(ctx, cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    HS_CUBLAS_CHECK(ctx, cublasCreate(&ctx->blas));
    HS_CUBLAS_CHECK(ctx, cublasSetStream(ctx->blas, ctx->stream));
    /* fp32 mode: no TF32 so results stay comparable with the CPU oracle. */
    HS_CUBLAS_CHECK(ctx, cublasSetMathMode(ctx->blas, CUBLAS_PEDANTIC_MATH));
    HS_CUBLAS_CHECK(ctx, cublasLtCreate(&ctx->lt));
    ctx->lt_workspace_bytes = 32u << 20;
    HS_CUDA_CHECK(ctx, cudaMalloc(&ctx->lt_workspace, ctx->lt_workspace_bytes));
    HS_CUDA_CHECK(ctx, cudaMalloc((void **)&ctx->reduce, 64 * sizeof(double)));
    cudaDeviceProp prop;
    HS_CUDA_CHECK(ctx, cudaGetDeviceProperties(&prop, device_index));
    snprintf(ctx->description, sizeof ctx->description, "cuda:%d %.160s (%.1f GiB, sm_%d%d)",
             device_index, prop.name, (double)prop.totalGlobalMem / (1024.0 * 1024 * 1024),
             prop.major, prop.minor);
    return 0;
}

static hs_backend_ctx *cuda_init(int device_index, char *err, size_t errlen)
{
    hs_backend_ctx *ctx = (hs_backend_ctx *)calloc(1, sizeof *ctx);
    if (!ctx) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: out of host memory");
        return NULL;
    }
    ctx->device = device_index;
    if (init_steps(ctx, device_index) != 0)
        return init_fail(ctx, err, errlen);
    return ctx;
}

static const char *cuda_last_error(hs_backend_ctx *ctx) { return ctx->err; }
static const char *cuda_describe(hs_backend_ctx *ctx) { return ctx->description; }

static void *cuda_alloc(hs_backend_ctx *ctx, size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        char what[96];
        snprintf(what, sizeof what, "cudaMalloc of %zu bytes", bytes);
        hs_cuda_fail(ctx, what, cudaGetErrorString(e), __FILE__, __LINE__);
        (void)cudaGetLastError(); /* clear the sticky-free allocation error */
        return NULL;
    }
    e = cudaMemsetAsync(p, 0, bytes, ctx->stream);
    if (e != cudaSuccess) {
        hs_cuda_fail(ctx, "cudaMemsetAsync", cudaGetErrorString(e), __FILE__, __LINE__);
        (void)cudaFree(p);
        return NULL;
    }
    return p;
}

static void cuda_free(hs_backend_ctx *ctx, void *ptr)
{
    if (!ptr)
        return;
    /* Let queued work that may still read ptr finish first. */
    cudaError_t e = cudaStreamSynchronize(ctx->stream);
    if (e == cudaSuccess)
        e = cudaFree(ptr);
    if (e != cudaSuccess)
        hs_cuda_fail(ctx, "cudaFree", cudaGetErrorString(e), __FILE__, __LINE__);
}

static int cuda_upload(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    HS_CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream));
    /* The host buffer may be reused by the caller right after return. */
    HS_CUDA_CHECK(ctx, cudaStreamSynchronize(ctx->stream));
    return 0;
}

static int cuda_download(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    HS_CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    HS_CUDA_CHECK(ctx, cudaStreamSynchronize(ctx->stream));
    return 0;
}

static int cuda_copy(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    HS_CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    return 0;
}

static int cuda_fill_zero(hs_backend_ctx *ctx, void *dst, size_t bytes)
{
    HS_CUDA_CHECK(ctx, cudaMemsetAsync(dst, 0, bytes, ctx->stream));
    return 0;
}

static int cuda_synchronize(hs_backend_ctx *ctx)
{
    HS_CUDA_CHECK(ctx, cudaStreamSynchronize(ctx->stream));
    return 0;
}

extern "C" const hs_backend hs_cuda_backend;

static int cuda_set_precision(hs_backend_ctx *ctx, hs_precision precision)
{
    if ((unsigned)precision >= 32 || !(hs_cuda_backend.caps.precisions & (1u << precision))) {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda set_precision: precision %d is not supported by this build",
                 (int)precision);
        return -1;
    }
    ctx->precision = precision;
    return 0;
}

extern "C" const hs_backend hs_cuda_backend = {
    .name = "cuda",
    .caps = {.host_memory = false, .fused_head_stats = true, .training = true,
             .kv_cache = true, .batch_accumulation = true, .storage_dtypes = HS_STORAGE_F32,
             .precisions = 1u << HS_PRECISION_FP32},
    .init = cuda_init,
    .shutdown = cuda_shutdown,
    .last_error = cuda_last_error,
    .describe = cuda_describe,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .fill_zero = cuda_fill_zero,
    .synchronize = cuda_synchronize,
    .set_precision = cuda_set_precision,
    .copy_2d = hs_cuda_copy_2d,
    .widen = hs_cuda_widen,
    .embedding = hs_cuda_embedding,
    .layernorm = hs_cuda_layernorm,
    .matmul = hs_cuda_matmul,
    .gelu = hs_cuda_gelu,
    .add = hs_cuda_add,
    .attention = hs_cuda_attention,
    .attention_decode = hs_cuda_attention_decode,
    .lm_head_nll = hs_cuda_lm_head_nll,
    .lm_head_logits = hs_cuda_lm_head_logits,
    .layernorm_backward = hs_cuda_layernorm_backward,
    .gelu_backward = hs_cuda_gelu_backward,
    .bias_backward = hs_cuda_bias_backward,
    .attention_backward = hs_cuda_attention_backward,
    .lm_head_nll_backward = hs_cuda_lm_head_nll_backward,
    .adamw = hs_cuda_adamw,
    .sum_squares = hs_cuda_sum_squares,
    .scale = hs_cuda_scale,
};
