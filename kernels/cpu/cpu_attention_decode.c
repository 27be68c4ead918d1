/* CPU backend: KV-cached causal ALiBi attention for generation (ops.h attention_decode). The
 * new rows' keys and values are appended to the caches [B, H, T_max, d], then each new query
 * row at position p attends to cached positions 0..p with the arithmetic of cpu_attention.c:
 * the bias slope·j first, the sgemm adding (1/sqrt(d))·q·kᵀ onto it (HF's baddbmm order),
 * fp32 softmax after subtracting the row max (exp in double, one rounding), then P·V as a
 * second sgemm. The B·H heads are shared out among OpenMP threads, OpenBLAS single-threaded
 * inside, with a score block of HS_CPU_ATTENTION_ROW_BLOCK rows × (past + T_new) per thread. */
#include "cpu_ops.h"
#include "cpu_vecmath.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One (sequence, head) of a decode call. */
typedef struct {
    const float *q; /* first new query row; row t at q + t·ld */
    int ld;         /* 3·H·d */
    float *kc, *vc; /* the head's caches [T_max, d] */
    int past, T_new, d;
    float alpha, slope;
} decode_head;

/* Copies the new rows' k and v into the head's caches at positions past..past+T_new−1. */
static void append_kv(const decode_head *dh)
{
    const float *k = dh->q + dh->d, *v = dh->q + 2 * (size_t)dh->d;
    for (int t = 0; t < dh->T_new; t++) {
        size_t row = (size_t)(dh->past + t) * dh->d;
        memcpy(dh->kc + row, k + (size_t)t * dh->ld, (size_t)dh->d * sizeof(float));
        memcpy(dh->vc + row, v + (size_t)t * dh->ld, (size_t)dh->d * sizeof(float));
    }
}

/* Softmax row r of the score block P (leading dimension n): keys 0..past+r, zeros after. */
static void softmax_row(float *row, int visible, int n)
{
    float max = -INFINITY;
    for (int j = 0; j < visible; j++)
        max = row[j] > max ? row[j] : max;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < visible; j++) {
        float e = hs_cpu_expf_nonpos(row[j] - max);
        row[j] = e;
        sum += e;
    }
    double inv = 1.0 / sum;
#pragma omp simd
    for (int j = 0; j < visible; j++)
        row[j] = (float)(row[j] * inv);
    for (int j = visible; j < n; j++)
        row[j] = 0.0f;
}

/* Attention of the head's new rows into out (row t at out + t·ldo), in blocks of
 * HS_CPU_ATTENTION_ROW_BLOCK rows: P is [R, past + T_new] scratch. */
static void decode_one_head(const decode_head *dh, float *out, int ldo, float *P)
{
    append_kv(dh);
    const int R = HS_CPU_ATTENTION_ROW_BLOCK;
    for (int r0 = 0; r0 < dh->T_new; r0 += R) {
        const int rows = dh->T_new - r0 < R ? dh->T_new - r0 : R;
        const int n = dh->past + r0 + rows; /* keys the block's last row sees */
        for (int r = 0; r < rows; r++) {
            float *row = P + (size_t)r * n;
#pragma omp simd
            for (int j = 0; j < n; j++)
                row[j] = dh->slope * (float)j;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, dh->d, dh->alpha,
                    dh->q + (size_t)r0 * dh->ld, dh->ld, dh->kc, dh->d, 1.0f, P, n);
        for (int r = 0; r < rows; r++)
            softmax_row(P + (size_t)r * n, dh->past + r0 + r + 1, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dh->d, n, 1.0f, P, n,
                    dh->vc, dh->d, 0.0f, out + (size_t)r0 * ldo, ldo);
    }
}

static int check_decode_args(hs_backend_ctx *ctx, const char *op, const float *out,
                             const float *k_cache, const float *v_cache, const float *qkv,
                             const int32_t *past, const float *slopes, int B, int T_new, int H,
                             int d, int T_max)
{
    if (B < 0 || T_new < 0 || H <= 0 || d <= 0 || T_max < 0)
        return hs_cpu_fail(ctx, "%s: bad shape B=%d T_new=%d H=%d d=%d T_max=%d", op, B, T_new,
                           H, d, T_max);
    if ((long long)3 * H * d > INT32_MAX)
        return hs_cpu_fail(ctx, "%s: shape H=%d d=%d too large", op, H, d);
    if (B == 0 || T_new == 0)
        return 0;
    if (!out || !k_cache || !v_cache || !qkv || !past || !slopes)
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !out ? "out" : !k_cache ? "k_cache" : !v_cache ? "v_cache"
                                        : !qkv ? "qkv" : !past ? "past" : "slopes");
    for (int b = 0; b < B; b++)
        if (past[b] < 0 || (long long)past[b] + T_new > T_max)
            return hs_cpu_fail(ctx,
                               "%s: sequence %d: past %d + %d new rows exceed the cache of %d "
                               "positions",
                               op, b, (int)past[b], T_new, T_max);
    return 0;
}

int hs_cpu_attention_decode(hs_backend_ctx *ctx, float *out, float *k_cache, float *v_cache,
                            const float *qkv, const int32_t *past, const float *slopes, int B,
                            int T_new, int H, int d, int T_max)
{
    if (!ctx)
        return -1;
    const char *op = "cpu attention_decode";
    if (check_decode_args(ctx, op, out, k_cache, v_cache, qkv, past, slopes, B, T_new, H, d,
                          T_max) != 0)
        return -1;
    if (B == 0 || T_new == 0)
        return 0;
    int longest = 0;
    for (int b = 0; b < B; b++)
        longest = past[b] > longest ? past[b] : longest;
    long long heads = (long long)B * H;
    int threads = ctx->threads > 0 ? ctx->threads : 1;
    if (heads < threads)
        threads = (int)heads;
    int R = T_new < HS_CPU_ATTENTION_ROW_BLOCK ? T_new : HS_CPU_ATTENTION_ROW_BLOCK;
    size_t block = (size_t)R * (size_t)(longest + T_new);
    float *scratch = hs_cpu_scratch(ctx, op, "blocks of scores", block * (size_t)threads,
                                    sizeof(float));
    if (!scratch)
        return -1;
    const int ld = 3 * H * d, ldo = H * d;
    const float alpha = (float)(1.0 / sqrt((double)d)); /* as attention(): HF's 1/math.sqrt(d) */
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long long item = 0; item < heads; item++) {
        int b = (int)(item / H), h = (int)(item % H);
        size_t cache_off = (size_t)item * (size_t)T_max * (size_t)d;
        decode_head dh = {.q = qkv + (size_t)b * T_new * ld + (size_t)h * 3 * d, .ld = ld,
                          .kc = k_cache + cache_off, .vc = v_cache + cache_off,
                          .past = past[b], .T_new = T_new, .d = d, .alpha = alpha,
                          .slope = slopes[h]};
        decode_one_head(&dh, out + (size_t)b * T_new * ldo + (size_t)h * d, ldo,
                        scratch + block * (size_t)hs_cpu_thread_index());
    }
    hs_cpu_blas_single_thread_end();
    free(scratch);
    return 0;
}
