/* The device code of the tiled attention (cuda_attention_tiled.cu has the algorithm's
 * description and the launches): the forward kernel (PREP = true is the backward's first pass),
 * the dQ and dK/dV kernels and the per-head statistics mean. Included by
 * cuda_attention_tiled.cu, and by tests/gpu/tiled_attention_emulated.cpp, which runs these very
 * kernels on the CPU (one thread per CUDA thread) against a double-precision reference: that
 * build defines HS_CUDA_HOST_EMULATION and provides the CUDA built-ins itself. */
#ifndef HS_CUDA_ATTENTION_TILED_KERNELS_CUH
#define HS_CUDA_ATTENTION_TILED_KERNELS_CUH

#ifndef HS_CUDA_HOST_EMULATION
#include "cuda_common.cuh"
#endif

#include <math.h>

#define TILE 32                             /* query rows per tile = keys per tile */
#define TILE_THREADS 256                    /* 8 warps */
#define WARPS (TILE_THREADS / 32)
#define ROWS_PER_WARP (TILE / WARPS)        /* score rows each warp owns in a tile */
#define FULL_MASK 0xffffffffu
#define MAX_HEAD_DIM 256

__device__ __forceinline__ float warp_max(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, off));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}

/* dst[TILE][D+1] = rows 0..rows_valid−1, columns 0..d−1 of src (row r at src + r·stride),
 * zeros elsewhere (padding rows past T and columns past d must be 0, not garbage). */
template <int D>
__device__ void load_tile(float *dst, const float *src, size_t stride, int rows_valid, int d)
{
    for (int idx = threadIdx.x; idx < TILE * D; idx += TILE_THREADS) {
        int r = idx / D, c = idx % D;
        dst[r * (D + 1) + c] = r < rows_valid && c < d ? src[(size_t)r * stride + c] : 0.0f;
    }
}

/* Shared-memory floats of the forward kernel. */
template <int D>
constexpr size_t forward_smem_floats()
{
    return 3 * (size_t)TILE * (D + 1) + (size_t)TILE * (TILE + 1) + 3 * (size_t)TILE +
           (size_t)TILE * (D / 32);
}

/* Shared-memory floats of the two backward kernels (the same layout). */
template <int D>
constexpr size_t backward_smem_floats()
{
    return 4 * (size_t)TILE * (D + 1) + 2 * (size_t)TILE * (TILE + 1) + 2 * (size_t)TILE;
}

/* The end of the backward's first pass: delta_i = Σ_k O[i,k]·dO[i,k], summed per warp (a
 * warp's entries share a row since D is a multiple of 32), then over the row's warps in a fixed
 * order; and lse_i = m + ln l. */
template <int D>
__device__ __forceinline__ void prep_epilogue(float *row_lse, float *row_delta,
                                              const float *dout, const float *o,
                                              const float *l_s, const float *m_s, float *part_s,
                                              int b, int h, int t0, int T, int H, int d)
{
    constexpr int ACC = TILE * D / TILE_THREADS, WPR = D / 32;
    const size_t ld_out = (size_t)H * d;
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int a = 0; a < ACC; a++) {
        const int idx = threadIdx.x + a * TILE_THREADS, r = idx / D, k = idx % D;
        const int i = t0 + r;
        float v = 0.0f;
        if (i < T && k < d)
            v = o[a] / l_s[r] * dout[((size_t)b * T + i) * ld_out + (size_t)h * d + k];
        v = warp_sum(v);
        if (lane == 0)
            part_s[r * WPR + k / 32] = v;
    }
    __syncthreads();
    if (threadIdx.x < TILE) {
        const int r = threadIdx.x, i = t0 + r;
        if (i < T) {
            float sum = 0.0f;
            for (int q = 0; q < WPR; q++)
                sum += part_s[r * WPR + q];
            const size_t row = ((size_t)b * H + h) * T + i;
            row_delta[row] = sum;
            row_lse[row] = m_s[r] + logf(l_s[r]);
        }
    }
}

/* Forward over query tile (gridDim.x − 1 − blockIdx.x: the longest rows first) of head
 * blockIdx.y of sequence blockIdx.z. PREP = false: writes out and, when row_stats, the row
 * statistics. PREP = true (the backward's first pass): writes row_lse = m + ln l and
 * row_delta = dO·O instead, and skips heads whose head_mask entry is 0. */
template <int D, bool PREP>
__global__ void __launch_bounds__(TILE_THREADS)
    tiled_forward_kernel(float *out, double *row_stats, float *row_lse, float *row_delta,
                         const float *dout, const float *qkv, const float *slopes,
                         const uint8_t *head_mask, int T, int H, int d, float alpha)
{
    HS_DYNAMIC_SHARED(smem);
    constexpr int LD = D + 1, PLD = TILE + 1, ACC = TILE * D / TILE_THREADS;
    float *Qs = smem, *Ks = Qs + TILE * LD, *Vs = Ks + TILE * LD, *Ps = Vs + TILE * LD;
    float *corr_s = Ps + TILE * PLD, *l_s = corr_s + TILE, *m_s = l_s + TILE;
    float *part_s = m_s + TILE; /* [TILE][WPR] partial sums of delta */

    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    if (PREP && head_mask && !head_mask[h])
        return;
    const int t0 = qt * TILE, rows_valid = min(TILE, T - t0);
    const size_t ld_qkv = (size_t)3 * H * d, ld_out = (size_t)H * d;
    const float *head = qkv + (size_t)b * T * ld_qkv + (size_t)h * 3 * d;
    const float slope = slopes[h];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    load_tile<D>(Qs, head + (size_t)t0 * ld_qkv, ld_qkv, rows_valid, d);

    float m[ROWS_PER_WARP], l[ROWS_PER_WARP], w[ROWS_PER_WARP], s0[ROWS_PER_WARP];
    float sloc[ROWS_PER_WARP][3];
    float o[ACC];
#pragma unroll
    for (int e = 0; e < ROWS_PER_WARP; e++) {
        m[e] = -INFINITY;
        l[e] = 0.0f;
        w[e] = 0.0f;
        s0[e] = -INFINITY;
        sloc[e][0] = sloc[e][1] = sloc[e][2] = -INFINITY;
    }
#pragma unroll
    for (int a = 0; a < ACC; a++)
        o[a] = 0.0f;

    for (int kt = 0; kt <= qt; kt++) {
        const int j0 = kt * TILE, keys_valid = min(TILE, T - j0);
        __syncthreads(); /* the previous tile's readers of Ks, Vs, Ps are done */
        load_tile<D>(Ks, head + (size_t)j0 * ld_qkv + d, ld_qkv, keys_valid, d);
        load_tile<D>(Vs, head + (size_t)j0 * ld_qkv + 2 * d, ld_qkv, keys_valid, d);
        __syncthreads();
#pragma unroll
        for (int e = 0; e < ROWS_PER_WARP; e++) {
            const int r = warp + WARPS * e, i = t0 + r, j = j0 + lane;
            const bool valid = i < T && j <= i;
            float s = -INFINITY;
            if (valid) {
                float dot = 0.0f;
                for (int k = 0; k < d; k++)
                    dot += Qs[r * LD + k] * Ks[lane * LD + k];
                s = alpha * dot + slope * (float)j;
            }
            const float m_new = fmaxf(m[e], warp_max(s));
            const float p = valid ? expf(s - m_new) : 0.0f;
            const float tile_l = warp_sum(p);
            const float tile_w = warp_sum(valid ? p * (s - m_new) : 0.0f);
            float corr;
            if (m[e] == -INFINITY) { /* first keys of the row (or a padding row: all zero) */
                corr = 0.0f;
                l[e] = tile_l;
                w[e] = tile_w;
            } else {
                corr = expf(m[e] - m_new);
                w[e] = corr * (w[e] + (m[e] - m_new) * l[e]) + tile_w;
                l[e] = corr * l[e] + tile_l;
            }
            m[e] = m_new;
            if (!PREP) { /* raw scores of key 0 and keys i−2..i (uniform per warp) */
                if (j0 == 0)
                    s0[e] = __shfl_sync(FULL_MASK, s, 0);
#pragma unroll
                for (int q = 0; q < 3; q++) {
                    const int jl = i - 2 + q;
                    if (jl >= 0 && jl >= j0 && jl < j0 + TILE)
                        sloc[e][q] = __shfl_sync(FULL_MASK, s, jl - j0);
                }
            }
            Ps[r * PLD + lane] = p;
            if (lane == 0)
                corr_s[r] = corr;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < ACC; a++) {
            const int idx = threadIdx.x + a * TILE_THREADS, r = idx / D, k = idx % D;
            float acc = o[a] * corr_s[r];
            for (int c = 0; c < TILE; c++)
                acc += Ps[r * PLD + c] * Vs[c * LD + k];
            o[a] = acc;
        }
    }
#pragma unroll
    for (int e = 0; e < ROWS_PER_WARP; e++)
        if (lane == 0) {
            l_s[warp + WARPS * e] = l[e];
            m_s[warp + WARPS * e] = m[e];
        }
    __syncthreads();

    if constexpr (!PREP) {
#pragma unroll
        for (int a = 0; a < ACC; a++) {
            const int idx = threadIdx.x + a * TILE_THREADS, r = idx / D, k = idx % D;
            const int i = t0 + r;
            if (i < T && k < d)
                out[((size_t)b * T + i) * ld_out + (size_t)h * d + k] = o[a] / l_s[r];
        }
        if (row_stats) {
#pragma unroll
            for (int e = 0; e < ROWS_PER_WARP; e++) {
                const int i = t0 + warp + WARPS * e;
                if (i >= T || lane != 0)
                    continue;
                const double inv = 1.0 / (double)l[e];
                double local = 0.0;
                for (int q = 0; q < 3; q++)
                    if (sloc[e][q] != -INFINITY)
                        local += (double)expf(sloc[e][q] - m[e]) * inv;
                double *rs = row_stats + (((size_t)b * H + h) * T + i) * HS_STAT_COUNT;
                rs[HS_STAT_BOS] = (double)expf(s0[e] - m[e]) * inv;
                rs[HS_STAT_ENTROPY] = log((double)l[e]) - (double)w[e] * inv;
                rs[HS_STAT_LOCAL] = local;
            }
        }
    } else {
        prep_epilogue<D>(row_lse, row_delta, dout, o, l_s, m_s, part_s, b, h, t0, T, H, d);
    }
}

/* The score-gradient entries of rows r = warp + WARPS·e (query i = t0 + r) and key j0 + lane:
 * P = e^{s − lse} and dS = P∘(dP − delta), 0 outside the causal triangle. */
template <int D>
__device__ __forceinline__ void score_grads(const float *Qs, const float *Ks, const float *dOs,
                                            const float *Vs, const float *lse_s,
                                            const float *delta_s, int e, int t0, int j0, int T,
                                            int d, float alpha, float slope, float *p_out,
                                            float *ds_out)
{
    constexpr int LD = D + 1;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int r = warp + WARPS * e, i = t0 + r, j = j0 + lane;
    float p = 0.0f, ds = 0.0f;
    if (i < T && j <= i) {
        float dot = 0.0f, dp = 0.0f;
        for (int k = 0; k < d; k++) {
            dot += Qs[r * LD + k] * Ks[lane * LD + k];
            dp += dOs[r * LD + k] * Vs[lane * LD + k];
        }
        const float s = alpha * dot + slope * (float)j;
        p = expf(s - lse_s[r]);
        ds = p * (dp - delta_s[r]);
    }
    *p_out = p;
    *ds_out = ds;
}

/* lse and delta of query tile rows t0.. into shared memory (0 past T). */
__device__ __forceinline__ void load_row_terms(float *lse_s, float *delta_s, const float *row_lse,
                                               const float *row_delta, size_t head_row0, int t0,
                                               int T)
{
    if (threadIdx.x < TILE) {
        const int i = t0 + threadIdx.x;
        lse_s[threadIdx.x] = i < T ? row_lse[head_row0 + i] : 0.0f;
        delta_s[threadIdx.x] = i < T ? row_delta[head_row0 + i] : 0.0f;
    }
}

/* dQ of query tile (gridDim.x − 1 − blockIdx.x) = alpha·Σ_key tiles dS·K. */
template <int D>
__global__ void __launch_bounds__(TILE_THREADS)
    tiled_backward_dq_kernel(float *dqkv, const float *dout, const float *qkv,
                             const float *slopes, const float *row_lse, const float *row_delta,
                             const uint8_t *head_mask, int T, int H, int d, float alpha)
{
    HS_DYNAMIC_SHARED(smem);
    constexpr int LD = D + 1, PLD = TILE + 1, ACC = TILE * D / TILE_THREADS;
    float *Qs = smem, *dOs = Qs + TILE * LD, *Ks = dOs + TILE * LD, *Vs = Ks + TILE * LD;
    float *dSs = Vs + TILE * LD, *lse_s = dSs + 2 * TILE * PLD, *delta_s = lse_s + TILE;

    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    if (head_mask && !head_mask[h])
        return;
    const int t0 = qt * TILE, rows_valid = min(TILE, T - t0);
    const size_t ld_qkv = (size_t)3 * H * d, ld_out = (size_t)H * d;
    const float *head = qkv + (size_t)b * T * ld_qkv + (size_t)h * 3 * d;
    const float slope = slopes[h];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    load_tile<D>(Qs, head + (size_t)t0 * ld_qkv, ld_qkv, rows_valid, d);
    load_tile<D>(dOs, dout + ((size_t)b * T + t0) * ld_out + (size_t)h * d, ld_out, rows_valid,
                 d);
    load_row_terms(lse_s, delta_s, row_lse, row_delta, ((size_t)b * H + h) * T, t0, T);
    float dq[ACC];
#pragma unroll
    for (int a = 0; a < ACC; a++)
        dq[a] = 0.0f;

    for (int kt = 0; kt <= qt; kt++) {
        const int j0 = kt * TILE, keys_valid = min(TILE, T - j0);
        __syncthreads();
        load_tile<D>(Ks, head + (size_t)j0 * ld_qkv + d, ld_qkv, keys_valid, d);
        load_tile<D>(Vs, head + (size_t)j0 * ld_qkv + 2 * d, ld_qkv, keys_valid, d);
        __syncthreads();
#pragma unroll
        for (int e = 0; e < ROWS_PER_WARP; e++) {
            float p, ds;
            score_grads<D>(Qs, Ks, dOs, Vs, lse_s, delta_s, e, t0, j0, T, d, alpha, slope, &p,
                           &ds);
            dSs[(warp + WARPS * e) * PLD + lane] = ds;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < ACC; a++) {
            const int idx = threadIdx.x + a * TILE_THREADS, r = idx / D, k = idx % D;
            float acc = 0.0f;
            for (int c = 0; c < TILE; c++)
                acc += dSs[r * PLD + c] * Ks[c * LD + k];
            dq[a] += acc;
        }
    }
#pragma unroll
    for (int a = 0; a < ACC; a++) {
        const int idx = threadIdx.x + a * TILE_THREADS, r = idx / D, k = idx % D;
        const int i = t0 + r;
        if (i < T && k < d)
            dqkv[((size_t)b * T + i) * ld_qkv + (size_t)h * 3 * d + k] = alpha * dq[a];
    }
}

/* dK = alpha·Σ_query tiles dSᵀ·Q and dV = Σ Pᵀ·dO of key tile blockIdx.x (tile 0, the one with
 * the most query tiles after it, first). */
template <int D>
__global__ void __launch_bounds__(TILE_THREADS)
    tiled_backward_dkdv_kernel(float *dqkv, const float *dout, const float *qkv,
                               const float *slopes, const float *row_lse,
                               const float *row_delta, const uint8_t *head_mask, int T, int H,
                               int d, float alpha)
{
    HS_DYNAMIC_SHARED(smem);
    constexpr int LD = D + 1, PLD = TILE + 1, ACC = TILE * D / TILE_THREADS;
    float *Qs = smem, *dOs = Qs + TILE * LD, *Ks = dOs + TILE * LD, *Vs = Ks + TILE * LD;
    float *Ps = Vs + TILE * LD, *dSs = Ps + TILE * PLD, *lse_s = dSs + TILE * PLD,
          *delta_s = lse_s + TILE;

    const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, n_tiles = gridDim.x;
    if (head_mask && !head_mask[h])
        return;
    const int j0 = kt * TILE, keys_valid = min(TILE, T - j0);
    const size_t ld_qkv = (size_t)3 * H * d, ld_out = (size_t)H * d;
    const float *head = qkv + (size_t)b * T * ld_qkv + (size_t)h * 3 * d;
    const float slope = slopes[h];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    load_tile<D>(Ks, head + (size_t)j0 * ld_qkv + d, ld_qkv, keys_valid, d);
    load_tile<D>(Vs, head + (size_t)j0 * ld_qkv + 2 * d, ld_qkv, keys_valid, d);
    float dk[ACC], dv[ACC];
#pragma unroll
    for (int a = 0; a < ACC; a++)
        dk[a] = dv[a] = 0.0f;

    for (int qt = kt; qt < n_tiles; qt++) {
        const int t0 = qt * TILE, rows_valid = min(TILE, T - t0);
        __syncthreads();
        load_tile<D>(Qs, head + (size_t)t0 * ld_qkv, ld_qkv, rows_valid, d);
        load_tile<D>(dOs, dout + ((size_t)b * T + t0) * ld_out + (size_t)h * d, ld_out,
                     rows_valid, d);
        load_row_terms(lse_s, delta_s, row_lse, row_delta, ((size_t)b * H + h) * T, t0, T);
        __syncthreads();
#pragma unroll
        for (int e = 0; e < ROWS_PER_WARP; e++) {
            float p, ds;
            score_grads<D>(Qs, Ks, dOs, Vs, lse_s, delta_s, e, t0, j0, T, d, alpha, slope, &p,
                           &ds);
            Ps[(warp + WARPS * e) * PLD + lane] = p;
            dSs[(warp + WARPS * e) * PLD + lane] = ds;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < ACC; a++) {
            const int idx = threadIdx.x + a * TILE_THREADS, c = idx / D, k = idx % D;
            float sv = 0.0f, sk = 0.0f;
            for (int r = 0; r < TILE; r++) {
                sv += Ps[r * PLD + c] * dOs[r * LD + k];
                sk += dSs[r * PLD + c] * Qs[r * LD + k];
            }
            dv[a] += sv;
            dk[a] += sk;
        }
    }
#pragma unroll
    for (int a = 0; a < ACC; a++) {
        const int idx = threadIdx.x + a * TILE_THREADS, c = idx / D, k = idx % D;
        const int j = j0 + c;
        if (j < T && k < d) {
            float *row = dqkv + ((size_t)b * T + j) * ld_qkv + (size_t)h * 3 * d;
            row[d + k] = alpha * dk[a];
            row[2 * d + k] = dv[a];
        }
    }
}

/* stats[b,h,s] = mean over the T rows of row_stats[b,h,i,s]: one block per (b,h), a fixed
 * assignment of rows to threads and a fixed reduction tree (deterministic). */
__global__ void tiled_row_stats_mean_kernel(float *stats, const double *row_stats, int T)
{
    __shared__ double part[HS_STAT_COUNT][TILE_THREADS];
    const size_t bh = blockIdx.x;
    double acc[HS_STAT_COUNT] = {0.0, 0.0, 0.0};
    for (int i = threadIdx.x; i < T; i += TILE_THREADS)
        for (int s = 0; s < HS_STAT_COUNT; s++)
            acc[s] += row_stats[(bh * T + i) * HS_STAT_COUNT + s];
    for (int s = 0; s < HS_STAT_COUNT; s++)
        part[s][threadIdx.x] = acc[s];
    __syncthreads();
    for (int half = TILE_THREADS / 2; half > 0; half >>= 1) {
        if ((int)threadIdx.x < half)
            for (int s = 0; s < HS_STAT_COUNT; s++)
                part[s][threadIdx.x] += part[s][threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x < HS_STAT_COUNT)
        stats[bh * HS_STAT_COUNT + threadIdx.x] = (float)(part[threadIdx.x][0] / T);
}

#endif
