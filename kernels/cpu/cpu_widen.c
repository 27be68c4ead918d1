/* CPU backend: fp16/bf16 weight tables widened to fp32 — the widen() op, and the row access
 * the table ops (embedding, LM head) use to read a table kept in its file dtype one chunk at
 * a time. Widening is exact (kernels/half_float.h); on an x86 CPU with F16C (checked at run
 * time, so every build takes the same path on the same machine) fp16 goes eight values per
 * instruction — the only difference from the scalar definition is that a signalling NaN comes
 * out quiet. */
#include "cpu_ops.h"
#include "half_float.h"

#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HS_CPU_HAVE_F16C_PATH 1
#endif

/* Below this many values a parallel region costs more than it saves. */
#define PARALLEL_MIN_VALUES (1u << 18)

#ifdef HS_CPU_HAVE_F16C_PATH
/* Values 0 .. n−n%8−1 with F16C; returns how many it did. */
__attribute__((target("avx,f16c"))) static size_t widen_f16_f16c(float *dst,
                                                                 const unsigned char *src,
                                                                 size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i,
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    return i;
}

/* F16C from CPUID leaf 1 (ECX bit 29; compilers disagree on naming it to
 * __builtin_cpu_supports), with AVX usable by the OS. */
static bool cpu_has_f16c(void)
{
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) &&
           __builtin_cpu_supports("avx");
}
#endif

static void widen_f16(float *dst, const unsigned char *src, size_t n)
{
    size_t i = 0;
#ifdef HS_CPU_HAVE_F16C_PATH
    static _Atomic int f16c = -1; /* −1 until asked; every thread computes the same answer */
    int have = atomic_load_explicit(&f16c, memory_order_relaxed);
    if (have < 0) {
        have = cpu_has_f16c();
        atomic_store_explicit(&f16c, have, memory_order_relaxed);
    }
    if (have)
        i = widen_f16_f16c(dst, src, n);
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = hs_f16_to_f32(h);
    }
}

static void widen_bf16(float *dst, const unsigned char *src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, src + 2 * i, sizeof b);
        uint32_t u = (uint32_t)b << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

void hs_cpu_widen_serial(float *dst, const void *src, hs_table_dtype dtype, size_t n)
{
    switch (dtype) {
    case HS_TABLE_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case HS_TABLE_F16:
        widen_f16(dst, src, n);
        break;
    case HS_TABLE_BF16:
        widen_bf16(dst, src, n);
        break;
    }
}

size_t hs_cpu_table_elem_bytes(hs_table_dtype dtype)
{
    return dtype == HS_TABLE_F32 ? sizeof(float) : sizeof(uint16_t);
}

bool hs_cpu_table_dtype_valid(hs_table_dtype dtype)
{
    return dtype == HS_TABLE_F32 || dtype == HS_TABLE_F16 || dtype == HS_TABLE_BF16;
}

const float *hs_cpu_table_rows(hs_table table, size_t row0, size_t rows, int C, float *panel)
{
    const size_t first = row0 * (size_t)C;
    if (table.dtype == HS_TABLE_F32)
        return (const float *)table.data + first;
    const unsigned char *src = (const unsigned char *)table.data + first * sizeof(uint16_t);
    hs_cpu_widen_serial(panel, src, table.dtype, rows * (size_t)C);
    return panel;
}

int hs_cpu_widen(hs_backend_ctx *ctx, float *dst, const void *src, hs_table_dtype dtype,
                 size_t n)
{
    if (!ctx)
        return -1;
    if (!hs_cpu_table_dtype_valid(dtype))
        return hs_cpu_fail(ctx, "cpu widen: unknown table dtype %d", (int)dtype);
    if (n == 0)
        return 0;
    if (!dst || !src)
        return hs_cpu_fail(ctx, "cpu widen: %s is NULL", !dst ? "dst" : "src");
    const size_t elem = hs_cpu_table_elem_bytes(dtype);
    const int threads = ctx->threads > 1 && n >= PARALLEL_MIN_VALUES ? ctx->threads : 1;
    /* contiguous blocks of a multiple of 8 values, one per thread */
    const size_t block = (n / (size_t)threads + 7) / 8 * 8;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        size_t begin = (size_t)t * block;
        if (begin < n) {
            size_t count = n - begin < block ? n - begin : block;
            hs_cpu_widen_serial(dst + begin, (const unsigned char *)src + begin * elem, dtype,
                                count);
        }
    }
    return 0;
}
