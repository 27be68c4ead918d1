/* Causal ALiBi attention on CUDA: the op entry points, the [H,T,T] path for callers that
 * keep the probabilities (probs != NULL: forward with the fused per-head statistics, and its
 * backward), and the KV-cached decode of generation (one block per new query row and head:
 * append, scores, softmax and P·V in one kernel, probabilities in a scratch row). Callers
 * without probs get the tiled kernels of cuda_attention_tiled.cu, which never hold T×T.
 * In the [H,T,T] path, scores and context products run as strided-batched fp32 GEMMs over the
 * heads of one sequence; the ALiBi bias, causal mask, fp32 softmax and the statistics (BOS
 * mass, entropy, local mass per query row, then averaged over rows in double) are one kernel
 * per row. */
#include "cuda_common.cuh"

#include <math.h>

#define ROW_THREADS 256
/* Bound on the probability rows one attention_decode launch keeps in scratch. */
#define DECODE_SCRATCH_BYTES ((size_t)256 << 20)

__device__ float block_reduce_max(float v, float *shared)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, off));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int n_warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < n_warps ? shared[threadIdx.x] : -INFINITY;
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1)
            v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, off));
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}

__device__ double block_reduce_sum_d(double v, double *shared)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int n_warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < n_warps ? shared[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, off);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    double r = shared[0];
    __syncthreads();
    return r;
}

/* scores [H,T,T] holds alpha·q·k; turns row (h,i) into probabilities in place and, when
 * row_stats != NULL, writes (bos, entropy, local) of the row to row_stats[(h·T + i)·3]. */
__global__ void alibi_softmax_rows_kernel(float *scores, double *row_stats, const float *slopes,
                                          int T)
{
    __shared__ float fshared[32];
    __shared__ double dshared[32];
    int h = blockIdx.y, i = blockIdx.x;
    float *row = scores + ((size_t)h * T + i) * T;
    float slope = slopes[h];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= i; j += blockDim.x) {
        float s = row[j] + slope * (float)j;
        row[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_reduce_max(mx, fshared);
    double sum = 0.0;
    for (int j = threadIdx.x; j <= i; j += blockDim.x) {
        float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / block_reduce_sum_d(sum, dshared));
    double ent = 0.0, local = 0.0;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        if (j <= i) {
            float p = row[j] * inv;
            row[j] = p;
            if (p > 0.0f)
                ent -= (double)p * log((double)p);
            if (j >= i - 2)
                local += p;
        } else {
            row[j] = 0.0f;
        }
    }
    if (row_stats) {
        ent = block_reduce_sum_d(ent, dshared);
        local = block_reduce_sum_d(local, dshared);
        if (threadIdx.x == 0) {
            double *rs = row_stats + ((size_t)h * T + i) * 3;
            rs[0] = row[0];
            rs[1] = ent;
            rs[2] = local;
        }
    }
}

/* stats[b,h,s] = mean over rows of row_stats[h,i,s] (fixed order: deterministic). */
__global__ void reduce_row_stats_kernel(float *stats, const double *row_stats, int H, int T)
{
    int h = blockIdx.x, s = threadIdx.x;
    if (s >= 3)
        return;
    double acc = 0.0;
    for (int i = 0; i < T; i++)
        acc += row_stats[((size_t)h * T + i) * 3 + s];
    stats[h * 3 + s] = (float)(acc / T);
}

/* dS = P∘(dP − rowsum(P∘dP)) in place over dp, for heads [h0, h0 + gridDim.y). */
__global__ void softmax_backward_rows_kernel(float *dp, const float *p, int T)
{
    __shared__ double dshared[32];
    int h = blockIdx.y, i = blockIdx.x;
    float *drow = dp + ((size_t)h * T + i) * T;
    const float *prow = p + ((size_t)h * T + i) * T;
    double dot = 0.0;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        dot += (double)prow[j] * drow[j];
    float total = (float)block_reduce_sum_d(dot, dshared);
    for (int j = threadIdx.x; j < T; j += blockDim.x)
        drow[j] = j <= i ? prow[j] * (drow[j] - total) : 0.0f;
}

/* Scores and probabilities of sequence b into p [H,T,T]; row statistics when row_stats. */
static int probs_for_sequence(hs_backend_ctx *ctx, float *p, double *row_stats,
                              const float *qkv_b, const float *slopes, int T, int H, int d)
{
    int C3 = 3 * H * d;
    float alpha = 1.0f / sqrtf((float)d);
    if (hs_cuda_strided_batched_gemm(ctx, p, qkv_b, qkv_b + d, T, T, d, false, true, C3, 3 * d,
                                     C3, 3 * d, T, (long long)T * T, H, alpha, 0.0f) != 0)
        return -1;
    dim3 grid(T, H);
    alibi_softmax_rows_kernel<<<grid, ROW_THREADS, 0, ctx->stream>>>(p, row_stats, slopes, T);
    HS_LAUNCH_CHECK(ctx, "alibi_softmax_rows_kernel");
    return 0;
}

int hs_cuda_attention(hs_backend_ctx *ctx, float *out, float *probs, float *stats,
                      const float *qkv, const float *slopes, int B, int T, int H, int d)
{
    if (!probs)
        return hs_cuda_attention_tiled(ctx, out, stats, qkv, slopes, B, T, H, d);
    if (B <= 0 || T <= 0)
        return 0;
    size_t tt = (size_t)T * T * H;
    size_t need = (probs ? 0 : tt * sizeof(float)) + (stats ? (size_t)H * T * 3 * sizeof(double) : 0);
    char *scratch = need ? (char *)hs_cuda_scratch(ctx, need) : NULL;
    if (need && !scratch)
        return -1;
    double *row_stats = stats ? (double *)(scratch + (probs ? 0 : tt * sizeof(float))) : NULL;
    int C = H * d, C3 = 3 * C;
    for (int b = 0; b < B; b++) {
        const float *qkv_b = qkv + (size_t)b * T * C3;
        float *p = probs ? probs + (size_t)b * tt : (float *)scratch;
        if (probs_for_sequence(ctx, p, row_stats, qkv_b, slopes, T, H, d) != 0)
            return -1;
        if (stats) {
            reduce_row_stats_kernel<<<H, 32, 0, ctx->stream>>>(stats + (size_t)b * H * 3,
                                                               row_stats, H, T);
            HS_LAUNCH_CHECK(ctx, "reduce_row_stats_kernel");
        }
        /* out_h [T,d] (ld C) = P_h [T,T] · V_h [T,d] (ld 3C) */
        if (hs_cuda_strided_batched_gemm(ctx, out + (size_t)b * T * C, p, qkv_b + 2 * d, T, d, T,
                                         false, false, T, (long long)T * T, C3, 3 * d, C, d, H,
                                         1.0f, 0.0f) != 0)
            return -1;
    }
    return 0;
}

/* Backward of the heads [h0, h0+nh) of sequence b (P and dS blocks start at head h0). */
static int backward_heads(hs_backend_ctx *ctx, float *dqkv_b, const float *dout_b,
                          const float *qkv_b, const float *p, float *ds, int h0, int nh, int T,
                          int H, int d)
{
    int C = H * d, C3 = 3 * C;
    float alpha = 1.0f / sqrtf((float)d);
    long long tt = (long long)T * T;
    const float *q = qkv_b + (size_t)h0 * 3 * d, *k = q + d, *v = q + 2 * d;
    const float *dO = dout_b + (size_t)h0 * d;
    float *dq = dqkv_b + (size_t)h0 * 3 * d, *dk = dq + d, *dv = dq + 2 * d;
    /* dP = dO · Vᵀ */
    if (hs_cuda_strided_batched_gemm(ctx, ds, dO, v, T, T, d, false, true, C, d, C3, 3 * d, T, tt,
                                     nh, 1.0f, 0.0f) != 0)
        return -1;
    dim3 grid(T, nh);
    softmax_backward_rows_kernel<<<grid, ROW_THREADS, 0, ctx->stream>>>(ds, p, T);
    HS_LAUNCH_CHECK(ctx, "softmax_backward_rows_kernel");
    /* dQ = dS · K · α;  dK = dSᵀ · Q · α;  dV = Pᵀ · dO */
    if (hs_cuda_strided_batched_gemm(ctx, dq, ds, k, T, d, T, false, false, T, tt, C3, 3 * d, C3,
                                     3 * d, nh, alpha, 0.0f) != 0 ||
        hs_cuda_strided_batched_gemm(ctx, dk, ds, q, T, d, T, true, false, T, tt, C3, 3 * d, C3,
                                     3 * d, nh, alpha, 0.0f) != 0 ||
        hs_cuda_strided_batched_gemm(ctx, dv, p, dO, T, d, T, true, false, T, tt, C, d, C3,
                                     3 * d, nh, 1.0f, 0.0f) != 0)
        return -1;
    return 0;
}

int hs_cuda_attention_backward(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                               const float *qkv, const float *probs, const float *slopes,
                               const uint8_t *head_mask, int B, int T, int H, int d)
{
    if (!probs)
        return hs_cuda_attention_backward_tiled(ctx, dqkv, dout, qkv, slopes, head_mask, B, T, H,
                                                d);
    if (B <= 0 || T <= 0)
        return 0;
    int C = H * d, C3 = 3 * C;
    HS_CUDA_CHECK(ctx, cudaMemsetAsync(dqkv, 0, (size_t)B * T * C3 * sizeof(float), ctx->stream));
    size_t tt = (size_t)T * T * H;
    size_t need = tt * sizeof(float) * (probs ? 1 : 2);
    float *scratch = (float *)hs_cuda_scratch(ctx, need);
    if (!scratch)
        return -1;
    float *ds = scratch;
    for (int b = 0; b < B; b++) {
        const float *qkv_b = qkv + (size_t)b * T * C3;
        const float *p = probs ? probs + (size_t)b * tt : scratch + tt;
        if (!probs && probs_for_sequence(ctx, (float *)p, NULL, qkv_b, slopes, T, H, d) != 0)
            return -1;
        float *dqkv_b = dqkv + (size_t)b * T * C3;
        const float *dout_b = dout + (size_t)b * T * C;
        if (!head_mask) {
            if (backward_heads(ctx, dqkv_b, dout_b, qkv_b, p, ds, 0, H, T, H, d) != 0)
                return -1;
            continue;
        }
        for (int h = 0; h < H; h++) {
            if (!head_mask[h])
                continue;
            size_t off = (size_t)h * T * T;
            if (backward_heads(ctx, dqkv_b, dout_b, qkv_b, p + off, ds + off, h, 1, T, H, d) != 0)
                return -1;
        }
    }
    return 0;
}

/* k and v of new row t of (b, h) into the caches at position past[b] + t. */
__global__ void append_kv_kernel(float *k_cache, float *v_cache, const float *qkv,
                                 const int32_t *past, int T_new, int H, int d, int T_max)
{
    int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const float *src = qkv + ((size_t)b * T_new + t) * 3 * H * d + (size_t)h * 3 * d;
    size_t dst = (((size_t)b * H + h) * T_max + past[b] + t) * d;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        k_cache[dst + c] = src[d + c];
        v_cache[dst + c] = src[2 * d + c];
    }
}

/* Query row t = t0 + blockIdx.x of (b, h) at position p = past[b] + t over cached keys 0..p:
 * score slope·j + alpha·(q·k_j) (the order of attention()), fp32 softmax with the sum in
 * double, probabilities in prob_rows (row (b, h, blockIdx.x) of length T_max), then
 * out = P·V. */
__global__ void decode_rows_kernel(float *out, float *prob_rows, const float *k_cache,
                                   const float *v_cache, const float *qkv, const int32_t *past,
                                   const float *slopes, int T_new, int H, int d, int T_max,
                                   float alpha, int t0)
{
    __shared__ float fshared[32];
    __shared__ double dshared[32];
    int t = t0 + blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int visible = past[b] + t + 1;
    const float *q = qkv + ((size_t)b * T_new + t) * 3 * H * d + (size_t)h * 3 * d;
    const float *kc = k_cache + ((size_t)b * H + h) * T_max * d;
    const float *vc = v_cache + ((size_t)b * H + h) * T_max * d;
    float *row = prob_rows + (((size_t)b * H + h) * gridDim.x + blockIdx.x) * T_max;
    float slope = slopes[h];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        float dot = 0.0f;
        for (int c = 0; c < d; c++)
            dot += q[c] * kc[(size_t)j * d + c];
        float s = slope * (float)j + alpha * dot;
        row[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_reduce_max(mx, fshared);
    double sum = 0.0;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / block_reduce_sum_d(sum, dshared));
    for (int j = threadIdx.x; j < visible; j += blockDim.x)
        row[j] *= inv;
    __syncthreads();
    float *o = out + ((size_t)b * T_new + t) * H * d + (size_t)h * d;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < visible; j++)
            acc += row[j] * vc[(size_t)j * d + c];
        o[c] = acc;
    }
}

int hs_cuda_attention_decode(hs_backend_ctx *ctx, float *out, float *k_cache, float *v_cache,
                             const float *qkv, const int32_t *past, const float *slopes, int B,
                             int T_new, int H, int d, int T_max)
{
    if (B < 0 || T_new < 0 || H <= 0 || d <= 0 || T_max < 0) {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda attention_decode: bad shape B=%d T_new=%d H=%d d=%d T_max=%d", B, T_new,
                 H, d, T_max);
        return -1;
    }
    if (B == 0 || T_new == 0)
        return 0;
    for (int b = 0; b < B; b++)
        if (past[b] < 0 || (long long)past[b] + T_new > T_max) {
            snprintf(ctx->err, sizeof ctx->err,
                     "cuda attention_decode: sequence %d: past %d + %d new rows exceed the "
                     "cache of %d positions",
                     b, (int)past[b], T_new, T_max);
            return -1;
        }
    /* query rows go in chunks whose probability rows stay within DECODE_SCRATCH_BYTES */
    size_t per_row = (size_t)B * H * (size_t)T_max * sizeof(float);
    size_t chunk = per_row > 0 ? DECODE_SCRATCH_BYTES / per_row : (size_t)T_new;
    if (chunk < 1)
        chunk = 1;
    if (chunk > (size_t)T_new)
        chunk = (size_t)T_new;
    size_t past_bytes = ((size_t)B * sizeof(int32_t) + 255) / 256 * 256;
    char *scratch = (char *)hs_cuda_scratch(ctx, past_bytes + chunk * per_row);
    if (!scratch)
        return -1;
    int32_t *past_dev = (int32_t *)scratch;
    float *prob_rows = (float *)(scratch + past_bytes);
    HS_CUDA_CHECK(ctx, cudaMemcpyAsync(past_dev, past, (size_t)B * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, ctx->stream));
    dim3 grid(T_new, H, B);
    append_kv_kernel<<<grid, 64, 0, ctx->stream>>>(k_cache, v_cache, qkv, past_dev, T_new, H, d,
                                                  T_max);
    HS_LAUNCH_CHECK(ctx, "append_kv_kernel");
    float alpha = (float)(1.0 / sqrt((double)d));
    for (int t0 = 0; t0 < T_new; t0 += (int)chunk) {
        int rows = T_new - t0 < (int)chunk ? T_new - t0 : (int)chunk;
        dim3 rows_grid(rows, H, B);
        decode_rows_kernel<<<rows_grid, 128, 0, ctx->stream>>>(out, prob_rows, k_cache, v_cache,
                                                               qkv, past_dev, slopes, T_new, H,
                                                               d, T_max, alpha, t0);
        HS_LAUNCH_CHECK(ctx, "decode_rows_kernel");
    }
    return 0;
}
