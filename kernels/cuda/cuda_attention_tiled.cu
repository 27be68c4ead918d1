/* Tiled causal ALiBi attention on CUDA (flash-attention style), used when the caller keeps no
 * probabilities (probs == NULL): no T×T buffer exists per head, memory is O(B·H·T).
 *
 * Forward: one block per (query tile of TILE rows, head, sequence) walks the key tiles up to the
 * diagonal with an online softmax: per row the running max m, the sum l = Σ e^{s−m} and
 * w = Σ e^{s−m}·(s−m). When the max moves from m to m' every e^{s−m} is scaled by
 * c = e^{m−m'}, and s − m' = (s − m) + (m − m'), so l' = c·l and w' = c·(w + (m − m')·l)
 * before the new tile's terms are added. At the end p_j = e^{s_j−m}/l and
 *   entropy = −Σ p ln p = −Σ p·((s−m) − ln l) = ln l − w/l,
 * the BOS mass is e^{s_0−m}/l and the local mass Σ e^{s_j−m}/l over j = i−2..i, from the raw
 * scores s_0 and s_{i−2..i} kept while their tiles pass. Row statistics go to scratch in
 * double and are averaged per head in a fixed order (deterministic).
 *
 * Backward (flash-attention-2): the op table hands the backward no forward statistics, so a
 * first pass reruns the forward per query tile to get each row's logsumexp and
 * delta_i = dO_i·O_i (= Σ_j P_ij·dP_ij); then one kernel per query tile accumulates dQ and one
 * per key tile accumulates dK and dV, each recomputing P = e^{s − lse} and
 * dS = P∘(dP − delta) tile by tile. No atomics: results are deterministic.
 *
 * Scores are alpha·(q·k) + slope·j for j <= i (ops.h), fp32 throughout, head_dim up to 256
 * (kernels instantiated for 32, 64, 128, 256 columns; a smaller head_dim pads with zeros). */
#include "cuda_common.cuh"

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
    extern __shared__ float smem[];
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
    extern __shared__ float smem[];
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
    extern __shared__ float smem[];
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

/* Lets `kernel` use `bytes` of dynamic shared memory (above 48 KiB needs an opt-in). */
static int allow_smem(hs_backend_ctx *ctx, const void *kernel, size_t bytes, const char *name)
{
    if (bytes > ctx->smem_optin) {
        char why[160];
        snprintf(why, sizeof why,
                 "needs %zu bytes of shared memory per block, the device allows %zu", bytes,
                 ctx->smem_optin);
        return hs_cuda_fail(ctx, name, why, __FILE__, __LINE__);
    }
    HS_CUDA_CHECK(ctx, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)bytes));
    return 0;
}

/* The arguments every launch shares. */
typedef struct tiled_args {
    float *out, *dqkv;
    double *row_stats;
    float *row_lse, *row_delta;
    const float *dout, *qkv, *slopes;
    const uint8_t *head_mask; /* device memory or NULL */
    int B, T, H, d;
    float alpha;
} tiled_args;

template <int D, bool PREP>
static int launch_forward(hs_backend_ctx *ctx, const tiled_args *t)
{
    const size_t bytes = forward_smem_floats<D>() * sizeof(float);
    const void *kernel = (const void *)tiled_forward_kernel<D, PREP>;
    if (allow_smem(ctx, kernel, bytes, "tiled_forward_kernel") != 0)
        return -1;
    dim3 grid((t->T + TILE - 1) / TILE, t->H, t->B);
    tiled_forward_kernel<D, PREP><<<grid, TILE_THREADS, bytes, ctx->stream>>>(
        t->out, t->row_stats, t->row_lse, t->row_delta, t->dout, t->qkv, t->slopes, t->head_mask,
        t->T, t->H, t->d, t->alpha);
    HS_LAUNCH_CHECK(ctx, PREP ? "tiled_forward_kernel (backward pass 1)" : "tiled_forward_kernel");
    return 0;
}

template <int D>
static int launch_backward(hs_backend_ctx *ctx, const tiled_args *t)
{
    if (launch_forward<D, true>(ctx, t) != 0)
        return -1;
    const size_t bytes = backward_smem_floats<D>() * sizeof(float);
    const void *dq_kernel = (const void *)tiled_backward_dq_kernel<D>;
    const void *dkdv_kernel = (const void *)tiled_backward_dkdv_kernel<D>;
    if (allow_smem(ctx, dq_kernel, bytes, "tiled_backward_dq_kernel") != 0 ||
        allow_smem(ctx, dkdv_kernel, bytes, "tiled_backward_dkdv_kernel") != 0)
        return -1;
    dim3 grid((t->T + TILE - 1) / TILE, t->H, t->B);
    tiled_backward_dq_kernel<D><<<grid, TILE_THREADS, bytes, ctx->stream>>>(
        t->dqkv, t->dout, t->qkv, t->slopes, t->row_lse, t->row_delta, t->head_mask, t->T, t->H,
        t->d, t->alpha);
    HS_LAUNCH_CHECK(ctx, "tiled_backward_dq_kernel");
    tiled_backward_dkdv_kernel<D><<<grid, TILE_THREADS, bytes, ctx->stream>>>(
        t->dqkv, t->dout, t->qkv, t->slopes, t->row_lse, t->row_delta, t->head_mask, t->T, t->H,
        t->d, t->alpha);
    HS_LAUNCH_CHECK(ctx, "tiled_backward_dkdv_kernel");
    return 0;
}

/* Shape checks shared by forward and backward: H, d positive, d <= MAX_HEAD_DIM, grid limits. */
static int check_shape(hs_backend_ctx *ctx, const char *op, int B, int T, int H, int d)
{
    if (B < 0 || T < 0 || H <= 0 || d <= 0 || d > MAX_HEAD_DIM || H > 65535 || B > 65535) {
        char why[160];
        snprintf(why, sizeof why, "shape B=%d T=%d H=%d d=%d not supported (head_dim 1..%d)", B,
                 T, H, d, MAX_HEAD_DIM);
        return hs_cuda_fail(ctx, op, why, __FILE__, __LINE__);
    }
    return 0;
}

static float alpha_of(int d) { return (float)(1.0 / sqrt((double)d)); }

int hs_cuda_attention_tiled(hs_backend_ctx *ctx, float *out, float *stats, const float *qkv,
                            const float *slopes, int B, int T, int H, int d)
{
    if (check_shape(ctx, "attention (tiled)", B, T, H, d) != 0)
        return -1;
    if (B == 0 || T == 0)
        return 0;
    tiled_args t = {};
    t.out = out;
    t.qkv = qkv;
    t.slopes = slopes;
    t.B = B;
    t.T = T;
    t.H = H;
    t.d = d;
    t.alpha = alpha_of(d);
    if (stats) {
        t.row_stats = (double *)hs_cuda_scratch(
            ctx, (size_t)B * H * T * HS_STAT_COUNT * sizeof(double));
        if (!t.row_stats)
            return -1;
    }
    int rc = d <= 32    ? launch_forward<32, false>(ctx, &t)
             : d <= 64  ? launch_forward<64, false>(ctx, &t)
             : d <= 128 ? launch_forward<128, false>(ctx, &t)
                        : launch_forward<256, false>(ctx, &t);
    if (rc != 0)
        return -1;
    if (stats) {
        tiled_row_stats_mean_kernel<<<(unsigned)((size_t)B * H), TILE_THREADS, 0, ctx->stream>>>(
            stats, t.row_stats, T);
        HS_LAUNCH_CHECK(ctx, "tiled_row_stats_mean_kernel");
    }
    return 0;
}

int hs_cuda_attention_backward_tiled(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                                     const float *qkv, const float *slopes,
                                     const uint8_t *head_mask, int B, int T, int H, int d)
{
    if (check_shape(ctx, "attention_backward (tiled)", B, T, H, d) != 0)
        return -1;
    if (B == 0 || T == 0)
        return 0;
    /* masked heads keep these zeros; the kernels overwrite every other entry */
    HS_CUDA_CHECK(ctx, cudaMemsetAsync(dqkv, 0, (size_t)B * T * 3 * H * d * sizeof(float),
                                       ctx->stream));
    const size_t rows = (size_t)B * H * T;
    const size_t row_bytes = hs_align256(rows * sizeof(float));
    char *scratch = (char *)hs_cuda_scratch(ctx, 2 * row_bytes + (size_t)H);
    if (!scratch)
        return -1;
    tiled_args t = {};
    t.dqkv = dqkv;
    t.dout = dout;
    t.qkv = qkv;
    t.slopes = slopes;
    t.row_lse = (float *)scratch;
    t.row_delta = (float *)(scratch + row_bytes);
    t.B = B;
    t.T = T;
    t.H = H;
    t.d = d;
    t.alpha = alpha_of(d);
    if (head_mask) {
        uint8_t *mask_dev = (uint8_t *)(scratch + 2 * row_bytes);
        /* from pageable host memory: returns once the bytes are staged, so the caller may
         * reuse head_mask right away */
        HS_CUDA_CHECK(ctx, cudaMemcpyAsync(mask_dev, head_mask, (size_t)H,
                                           cudaMemcpyHostToDevice, ctx->stream));
        t.head_mask = mask_dev;
    }
    return d <= 32    ? launch_backward<32>(ctx, &t)
           : d <= 64  ? launch_backward<64>(ctx, &t)
           : d <= 128 ? launch_backward<128>(ctx, &t)
                      : launch_backward<256>(ctx, &t);
}
