/* The CUDA backend's op table, lifecycle (device selection, stream, cuBLAS/cuBLASLt handles),
 * memory operations, error recording (sticky device errors included) and recovery (reset),
 * and scratch memory. The ops live in one file per op family beside this one. fp32 storage;
 * the GEMMs take fp32 or bf16 operands (set_precision), accumulation is fp32. */
#include "cuda_common.cuh"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The reset count of each device in this process (reset() bumps it), so every context of a
 * device learns that its handles and memory went with another context's reset. */
#define MAX_DEVICES 64
static unsigned device_epoch[MAX_DEVICES];

static unsigned epoch_of(int device)
{
    return device >= 0 && device < MAX_DEVICES ? __atomic_load_n(&device_epoch[device],
                                                                 __ATOMIC_ACQUIRE)
                                               : 0u;
}

/* Errors after which the CUDA context is unusable: every later call fails with them. */
static bool is_sticky(cudaError_t e)
{
    switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorTensorMemoryLeak:
        return true;
    default:
        return false;
    }
}

static int record_failure(hs_backend_ctx *ctx, const char *what, const char *why,
                          cudaError_t code, const char *file, int line)
{
    if (!ctx)
        return -1;
    /* A sticky error may surface as another error (a cuBLAS "execution failed"); the stream
     * then reports the sticky one. cudaErrorNotReady (work still queued) is no error. */
    cudaError_t probe = ctx->stream ? cudaStreamQuery(ctx->stream) : cudaSuccess;
    if (is_sticky(code) || is_sticky(probe))
        ctx->sticky = true;
    else
        (void)cudaGetLastError(); /* clear a non-sticky error so later checks do not see it */
    if (ctx->sticky)
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda:%d needs reset (unrecoverable device error; its memory is lost): %s "
                 "failed: %s (%s:%d)",
                 ctx->device, what, why, file, line);
    else
        snprintf(ctx->err, sizeof ctx->err, "cuda: %s failed: %s (%s:%d)", what, why, file, line);
    return -1;
}

int hs_cuda_fail(hs_backend_ctx *ctx, const char *what, const char *why, const char *file,
                 int line)
{
    return record_failure(ctx, what, why, cudaSuccess, file, line);
}

int hs_cuda_fail_code(hs_backend_ctx *ctx, const char *what, cudaError_t e, const char *file,
                      int line)
{
    return record_failure(ctx, what, cudaGetErrorString(e), e, file, line);
}

int hs_cuda_malloc(hs_backend_ctx *ctx, void **ptr, size_t bytes, const char *purpose)
{
    *ptr = NULL;
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1);
    if (e == cudaSuccess)
        return 0;
    *ptr = NULL;
    if (e != cudaErrorMemoryAllocation)
        return hs_cuda_fail_code(ctx, "cudaMalloc", e, __FILE__, __LINE__);
    (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    size_t free_b = 0, total_b = 0;
    cudaError_t qe = cudaMemGetInfo(&free_b, &total_b);
    if (qe != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda alloc: %zu bytes asked for %s, free memory unknown (cudaMemGetInfo: %s)",
                 bytes, purpose, cudaGetErrorString(qe));
    } else {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda alloc: %zu bytes asked for %s, %zu free of %zu (cudaMemGetInfo)", bytes,
                 purpose, free_b, total_b);
    }
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

void *hs_cuda_scratch_pool(hs_backend_ctx *ctx, int pool, size_t bytes)
{
    if (bytes <= ctx->scratch_bytes[pool])
        return ctx->scratch[pool];
    if (ctx->scratch[pool]) {
        cudaError_t e = cudaFree(ctx->scratch[pool]);
        ctx->scratch[pool] = NULL;
        ctx->scratch_bytes[pool] = 0;
        if (e != cudaSuccess) {
            hs_cuda_fail_code(ctx, "cudaFree(scratch)", e, __FILE__, __LINE__);
            return NULL;
        }
    }
    if (hs_cuda_malloc(ctx, &ctx->scratch[pool], bytes,
                       pool == HS_SCRATCH_GEMM ? "scratch (bf16 GEMM operands)" : "scratch") != 0)
        return NULL;
    ctx->scratch_bytes[pool] = bytes;
    return ctx->scratch[pool];
}

void *hs_cuda_scratch(hs_backend_ctx *ctx, size_t bytes)
{
    return hs_cuda_scratch_pool(ctx, HS_SCRATCH_OP, bytes);
}

/* Forgets the device resources without touching them: after another context's
 * cudaDeviceReset they belong to a destroyed CUDA context. */
static void forget_device_state(hs_backend_ctx *ctx)
{
    for (int i = 0; i < HS_SCRATCH_POOLS; i++) {
        ctx->scratch[i] = NULL;
        ctx->scratch_bytes[i] = 0;
    }
    ctx->reduce = NULL;
    ctx->lt_workspace = NULL;
    ctx->lt = NULL;
    ctx->blas = NULL;
    ctx->stream = NULL;
    memset(ctx->plans, 0, sizeof ctx->plans);
    ctx->next_plan = 0;
}

/* Releases the context's device resources (errors ignored: nobody could act on them) and
 * forgets them. */
static void release_device_state(hs_backend_ctx *ctx)
{
    for (int i = 0; i < HS_SCRATCH_POOLS; i++)
        if (ctx->scratch[i])
            (void)cudaFree(ctx->scratch[i]);
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
    forget_device_state(ctx);
    (void)cudaGetLastError();
}

static void cuda_shutdown(hs_backend_ctx *ctx)
{
    if (!ctx)
        return;
    /* Teardown errors cannot be reported to anyone; they are ignored deliberately. */
    (void)cudaSetDevice(ctx->device);
    if (ctx->epoch != epoch_of(ctx->device)) {
        forget_device_state(ctx); /* another context reset the device: nothing left to free */
    } else {
        if (ctx->stream)
            (void)cudaStreamSynchronize(ctx->stream);
        release_device_state(ctx);
    }
    free(ctx);
}

static hs_backend_ctx *init_fail(hs_backend_ctx *ctx, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", ctx->err);
    cuda_shutdown(ctx);
    return NULL;
}

/* Stream, cuBLAS and cuBLASLt handles, workspace and reduction buffer of a context on the
 * current device (at init and after reset). */
static int create_device_state(hs_backend_ctx *ctx)
{
    ctx->epoch = epoch_of(ctx->device);
    HS_CUDA_CHECK(ctx, cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    HS_CUBLAS_CHECK(ctx, cublasCreate(&ctx->blas));
    HS_CUBLAS_CHECK(ctx, cublasSetStream(ctx->blas, ctx->stream));
    /* fp32 mode: no TF32 so results stay comparable with the CPU oracle. */
    HS_CUBLAS_CHECK(ctx, cublasSetMathMode(ctx->blas, CUBLAS_PEDANTIC_MATH));
    HS_CUBLAS_CHECK(ctx, cublasLtCreate(&ctx->lt));
    ctx->lt_workspace_bytes = 32u << 20;
    if (hs_cuda_malloc(ctx, &ctx->lt_workspace, ctx->lt_workspace_bytes, "cuBLASLt workspace") ||
        hs_cuda_malloc(ctx, (void **)&ctx->reduce, 64 * sizeof(double), "reduction buffer"))
        return -1;
    return 0;
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
    if (create_device_state(ctx) != 0)
        return -1;
    cudaDeviceProp prop;
    HS_CUDA_CHECK(ctx, cudaGetDeviceProperties(&prop, device_index));
    snprintf(ctx->description, sizeof ctx->description, "cuda:%d %.160s (%.1f GiB, sm_%d%d)",
             device_index, prop.name, (double)prop.totalGlobalMem / (1024.0 * 1024 * 1024),
             prop.major, prop.minor);
    ctx->smem_optin = prop.sharedMemPerBlockOptin;
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
    if (hs_cuda_malloc(ctx, &p, bytes, "a tensor") != 0)
        return NULL;
    cudaError_t e = cudaMemsetAsync(p, 0, bytes, ctx->stream);
    if (e != cudaSuccess) {
        hs_cuda_fail_code(ctx, "cudaMemsetAsync", e, __FILE__, __LINE__);
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
        hs_cuda_fail_code(ctx, "cudaFree", e, __FILE__, __LINE__);
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

static bool cuda_needs_reset(hs_backend_ctx *ctx)
{
    return ctx->sticky || ctx->epoch != epoch_of(ctx->device);
}

/* After a sticky error: handles are destroyed, the device is reset (cudaDeviceReset: every
 * allocation of every context of the device in this process is gone), the epoch bumped so the
 * other contexts of the device report needs_reset(), and fresh handles made. A context whose
 * device another context already reset only makes fresh handles. */
static int cuda_reset(hs_backend_ctx *ctx)
{
    if (!cuda_needs_reset(ctx))
        return 0;
    (void)cudaSetDevice(ctx->device); /* may report the sticky error itself */
    if (ctx->epoch != epoch_of(ctx->device)) {
        forget_device_state(ctx);
    } else {
        release_device_state(ctx);
        cudaError_t e = cudaDeviceReset();
        if (e != cudaSuccess) {
            snprintf(ctx->err, sizeof ctx->err, "cuda:%d reset failed: cudaDeviceReset: %s",
                     ctx->device, cudaGetErrorString(e));
            return -1;
        }
        if (ctx->device >= 0 && ctx->device < MAX_DEVICES)
            __atomic_add_fetch(&device_epoch[ctx->device], 1u, __ATOMIC_ACQ_REL);
    }
    (void)cudaGetLastError();
    ctx->sticky = false;
    HS_CUDA_CHECK(ctx, cudaSetDevice(ctx->device));
    if (create_device_state(ctx) != 0) {
        release_device_state(ctx);
        return -1;
    }
    return 0;
}

#ifdef HS_TEST_HOOKS
/* Writes through the pointer it is given: an invalid one faults the device. */
__global__ void fault_kernel(int *where) { *(volatile int *)where = 1; }

/* Test builds only: a kernel writes through an invalid device pointer, so the device is left
 * in the sticky cudaErrorIllegalAddress state that reset() must recover from. */
static int cuda_inject_fault(hs_backend_ctx *ctx)
{
    int *invalid = (int *)(uintptr_t)0x10;
    fault_kernel<<<1, 1, 0, ctx->stream>>>(invalid);
    HS_LAUNCH_CHECK(ctx, "fault_kernel");
    HS_CUDA_CHECK(ctx, cudaStreamSynchronize(ctx->stream));
    return 0;
}
#endif

extern "C" const hs_backend hs_cuda_backend = {
    .name = "cuda",
    .caps = {.host_memory = false, .fused_head_stats = true, .training = true,
             .kv_cache = true, .batch_accumulation = true, .storage_dtypes = HS_STORAGE_F32,
             .precisions = 1u << HS_PRECISION_FP32 | 1u << HS_PRECISION_BF16},
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
    .needs_reset = cuda_needs_reset,
    .reset = cuda_reset,
#ifdef HS_TEST_HOOKS
    .inject_fault = cuda_inject_fault,
#else
    .inject_fault = NULL,
#endif
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
