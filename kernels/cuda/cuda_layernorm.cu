/* LayerNorm forward and backward on CUDA: one block per row, biased variance, statistics in
 * fp32 with a two-pass mean/variance like the CPU oracle; dw/db accumulated with atomics. */
#include "cuda_common.cuh"

#define LN_THREADS 256

__device__ float block_sum(float v, float *shared)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    int n_warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < n_warps ? shared[threadIdx.x] : 0.0f;
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, off);
    if (threadIdx.x == 0)
        shared[0] = v;
    __syncthreads();
    float total = shared[0];
    __syncthreads();
    return total;
}

__global__ void layernorm_kernel(float *out, float *mean_out, float *rstd_out, const float *in,
                                 const float *w, const float *b, int C, float eps)
{
    __shared__ float shared[32];
    const float *x = in + (size_t)blockIdx.x * C;
    float *y = out + (size_t)blockIdx.x * C;
    float s = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        s += x[i];
    float mean = block_sum(s, shared) / C;
    float v = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float dx = x[i] - mean;
        v += dx * dx;
    }
    float var = block_sum(v, shared) / C;
    float rstd = rsqrtf(var + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        y[i] = (x[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
    if (threadIdx.x == 0) {
        if (mean_out) mean_out[blockIdx.x] = mean;
        if (rstd_out) rstd_out[blockIdx.x] = rstd;
    }
}

int hs_cuda_layernorm(hs_backend_ctx *ctx, float *out, float *mean, float *rstd,
                      const float *in, const float *w, const float *b, int N, int C, float eps)
{
    if (N <= 0)
        return 0;
    layernorm_kernel<<<N, LN_THREADS, 0, ctx->stream>>>(out, mean, rstd, in, w, b, C, eps);
    HS_LAUNCH_CHECK(ctx, "layernorm_kernel");
    return 0;
}

/* din += rstd·(g − mean(g) − xhat·mean(g·xhat)) with g = dout·w; dw += dout·xhat; db += dout. */
__global__ void layernorm_backward_kernel(float *din, float *dw, float *db, const float *dout,
                                          const float *in, const float *mean,
                                          const float *rstd, const float *w, int C)
{
    __shared__ float shared[32];
    size_t row = blockIdx.x;
    const float *x = in + row * C, *dy = dout + row * C;
    float mu = mean[row], rs = rstd[row];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float xhat = (x[i] - mu) * rs;
        float g = dy[i] * w[i];
        sum_g += g;
        sum_gx += g * xhat;
    }
    float mean_g = block_sum(sum_g, shared) / C;
    float mean_gx = block_sum(sum_gx, shared) / C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float xhat = (x[i] - mu) * rs;
        float g = dy[i] * w[i];
        if (din)
            din[row * C + i] += rs * (g - mean_g - xhat * mean_gx);
        if (dw)
            atomicAdd(&dw[i], dy[i] * xhat);
        if (db)
            atomicAdd(&db[i], dy[i]);
    }
}

int hs_cuda_layernorm_backward(hs_backend_ctx *ctx, float *din, float *dw, float *db,
                               const float *dout, const float *in, const float *mean,
                               const float *rstd, const float *w, int N, int C)
{
    if (N <= 0)
        return 0;
    layernorm_backward_kernel<<<N, LN_THREADS, 0, ctx->stream>>>(din, dw, db, dout, in, mean,
                                                                 rstd, w, C);
    HS_LAUNCH_CHECK(ctx, "layernorm_backward_kernel");
    return 0;
}
