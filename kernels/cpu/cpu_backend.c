/* The CPU backend's op table (const hs_cpu_backend, labelled initialisers) plus what every op
 * shares: the context (thread count, last error, description), host memory management and plain
 * copies. The numerical ops live one family per file (cpu_matmul.c, cpu_attention.c, ...).
 * Memory of this backend is ordinary host memory, so upload/download are plain copies. */
#include "cpu_ops.h"

#include <cblas.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int hs_cpu_fail(hs_backend_ctx *ctx, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *hs_cpu_scratch(hs_backend_ctx *ctx, const char *op, const char *what, size_t count,
                     size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        hs_cpu_fail(ctx, "%s: scratch for %s overflows (%zu × %zu bytes)", op, what, count, size);
        return NULL;
    }
    size_t bytes = count * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        hs_cpu_fail(ctx, "%s: cannot allocate %zu bytes of host memory for %s", op, bytes, what);
    return p;
}

static pthread_mutex_t blas_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_single_users;  /* callers inside begin/end */
static int blas_saved_threads; /* OpenBLAS thread count to restore */

void hs_cpu_blas_single_thread_begin(void)
{
    pthread_mutex_lock(&blas_threads_lock);
    if (blas_single_users++ == 0) {
        blas_saved_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_threads_lock);
}

void hs_cpu_blas_single_thread_end(void)
{
    pthread_mutex_lock(&blas_threads_lock);
    if (--blas_single_users == 0)
        openblas_set_num_threads(blas_saved_threads);
    pthread_mutex_unlock(&blas_threads_lock);
}

hs_backend_ctx *hs_cpu_init(int device_index, char *err, size_t errlen)
{
    if (device_index != 0) {
        snprintf(err, errlen, "cpu backend: device index %d requested, only cpu (index 0) exists",
                device_index);
        return NULL;
    }
    hs_backend_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "cpu backend: cannot allocate its context (%zu bytes)", sizeof *ctx);
        return NULL;
    }
#ifdef _OPENMP
    ctx->threads = omp_get_max_threads();
#else
    ctx->threads = 1;
#endif
    const char *blas = openblas_get_config();
    snprintf(ctx->description, sizeof ctx->description, "cpu: %d threads, %s", ctx->threads,
             blas ? blas : "OpenBLAS");
    return ctx;
}

void hs_cpu_shutdown(hs_backend_ctx *ctx)
{
    if (ctx) {
        hs_cpu_lm_head_memo_free(ctx->lm_head_memo);
        hs_cpu_gemm_cache_free(ctx->gemm_cache);
    }
    free(ctx);
}

const char *hs_cpu_last_error(hs_backend_ctx *ctx)
{
    return ctx ? ctx->error : "cpu backend: no context";
}

const char *hs_cpu_describe(hs_backend_ctx *ctx)
{
    return ctx ? ctx->description : "cpu";
}

/* Allocations of this size and above ask for transparent huge pages. */
#define HUGE_PAGE_MIN_BYTES ((size_t)4 << 20)
#define HUGE_PAGE_BYTES ((uintptr_t)2 << 20)

/* Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with huge pages, where
 * transparent huge pages are enabled for madvise()d memory only (a common default). A decode
 * step streams every weight once, and with 4 KiB pages it pays a TLB miss every 4 KiB:
 * weights on huge pages made a batch-1 decode step at BLOOM-560m shape 4% faster (83.3 →
 * 80.0 ms). Advice only: a kernel without THP, or a failure, leaves ordinary pages. */
static void advise_huge_pages(void *p, size_t bytes)
{
    if (bytes < HUGE_PAGE_MIN_BYTES)
        return;
    uintptr_t begin = ((uintptr_t)p + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~(HUGE_PAGE_BYTES - 1);
    if (end > begin)
        (void)madvise((void *)begin, end - begin, MADV_HUGEPAGE);
}

void *hs_cpu_alloc(hs_backend_ctx *ctx, size_t bytes)
{
    /* calloc hands out zeroed pages lazily, which is what makes it the cheap zero-fill. */
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        hs_cpu_fail(ctx, "cpu alloc: cannot allocate %zu bytes of host memory", bytes);
    else
        advise_huge_pages(p, bytes);
    return p;
}

void hs_cpu_free(hs_backend_ctx *ctx, void *ptr)
{
    free(ptr);
}

/* The three copies differ only in their direction's name; host memory on both sides. */
static int copy_bytes(hs_backend_ctx *ctx, const char *op, void *dst, const void *src,
                      size_t bytes)
{
    if (!ctx)
        return -1;
    if (bytes == 0)
        return 0;
    if (!dst || !src)
        return hs_cpu_fail(ctx, "%s: %s pointer is NULL for %zu bytes", op,
                           dst ? "source" : "destination", bytes);
    memmove(dst, src, bytes);
    return 0;
}

int hs_cpu_upload(hs_backend_ctx *ctx, void *dst, const void *host_src, size_t bytes)
{
    return copy_bytes(ctx, "cpu upload", dst, host_src, bytes);
}

int hs_cpu_download(hs_backend_ctx *ctx, void *host_dst, const void *src, size_t bytes)
{
    return copy_bytes(ctx, "cpu download", host_dst, src, bytes);
}

int hs_cpu_copy(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    return copy_bytes(ctx, "cpu copy", dst, src, bytes);
}

int hs_cpu_fill_zero(hs_backend_ctx *ctx, void *dst, size_t bytes)
{
    if (!ctx)
        return -1;
    if (bytes == 0)
        return 0;
    if (!dst)
        return hs_cpu_fail(ctx, "cpu fill_zero: destination is NULL for %zu bytes", bytes);
    memset(dst, 0, bytes);
    return 0;
}

int hs_cpu_synchronize(hs_backend_ctx *ctx)
{
    return ctx ? 0 : -1; /* every CPU op has finished when it returns */
}

int hs_cpu_set_precision(hs_backend_ctx *ctx, hs_precision precision)
{
    if (!ctx)
        return -1;
    if (precision == HS_PRECISION_BF16 && !(hs_cpu_backend.caps.precisions & (1u << precision)))
        return hs_cpu_fail(ctx, "cpu set_precision: precision bf16 is not supported by this "
                                "build (built without oneDNN)");
    if ((unsigned)precision >= 32 || !(hs_cpu_backend.caps.precisions & (1u << precision)))
        return hs_cpu_fail(ctx, "cpu set_precision: unknown precision %d", (int)precision);
    if (precision == HS_PRECISION_BF16 && hs_cpu_gemm_cache_create(ctx) != 0)
        return -1;
    ctx->precision = precision;
    return 0;
}

int hs_cpu_copy_2d(hs_backend_ctx *ctx, float *dst, int ldd, const float *src, int lds, int rows,
                   int cols)
{
    if (!ctx)
        return -1;
    if (rows < 0 || cols < 0)
        return hs_cpu_fail(ctx, "cpu copy_2d: negative shape rows=%d cols=%d", rows, cols);
    if (rows == 0 || cols == 0)
        return 0;
    if (ldd < cols || lds < cols)
        return hs_cpu_fail(ctx, "cpu copy_2d: leading dimensions ldd=%d lds=%d below cols=%d", ldd,
                           lds, cols);
    if (!dst || !src)
        return hs_cpu_fail(ctx, "cpu copy_2d: %s is NULL", dst ? "src" : "dst");
    for (int r = 0; r < rows; r++)
        memmove(dst + (size_t)r * ldd, src + (size_t)r * lds, (size_t)cols * sizeof(float));
    return 0;
}

/* Host memory has no sticky fault state: never needs a reset, and reset() is a no-op. */
static bool cpu_needs_reset(hs_backend_ctx *ctx)
{
    (void)ctx;
    return false;
}

static int cpu_reset(hs_backend_ctx *ctx)
{
    return ctx ? 0 : -1;
}

const hs_backend hs_cpu_backend = {
    .name = "cpu",
    .caps = {.host_memory = true, .fused_head_stats = true, .training = true,
             .kv_cache = true, .batch_accumulation = false,
             .storage_dtypes = HS_STORAGE_F32 | HS_STORAGE_F16 | HS_STORAGE_BF16,
#ifdef HS_HAVE_ONEDNN
             .precisions = 1u << HS_PRECISION_FP32 | 1u << HS_PRECISION_BF16},
#else
             .precisions = 1u << HS_PRECISION_FP32},
#endif
    .init = hs_cpu_init,
    .shutdown = hs_cpu_shutdown,
    .last_error = hs_cpu_last_error,
    .describe = hs_cpu_describe,
    .alloc = hs_cpu_alloc,
    .free = hs_cpu_free,
    .upload = hs_cpu_upload,
    .download = hs_cpu_download,
    .copy = hs_cpu_copy,
    .fill_zero = hs_cpu_fill_zero,
    .synchronize = hs_cpu_synchronize,
    .set_precision = hs_cpu_set_precision,
    .copy_2d = hs_cpu_copy_2d,
    .needs_reset = cpu_needs_reset,
    .reset = cpu_reset,
    .inject_fault = NULL,
    .widen = hs_cpu_widen,
    .embedding = hs_cpu_embedding,
    .layernorm = hs_cpu_layernorm,
    .matmul = hs_cpu_matmul,
    .gelu = hs_cpu_gelu,
    .add = hs_cpu_add,
    .attention = hs_cpu_attention,
    .attention_decode = hs_cpu_attention_decode,
    .lm_head_nll = hs_cpu_lm_head_nll,
    .lm_head_logits = hs_cpu_lm_head_logits,
    .layernorm_backward = hs_cpu_layernorm_backward,
    .gelu_backward = hs_cpu_gelu_backward,
    .bias_backward = hs_cpu_bias_backward,
    .attention_backward = hs_cpu_attention_backward,
    .lm_head_nll_backward = hs_cpu_lm_head_nll_backward,
    .adamw = hs_cpu_adamw,
    .sum_squares = hs_cpu_sum_squares,
    .scale = hs_cpu_scale,
};
