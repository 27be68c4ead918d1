/* Optimizer-side ops of the CUDA backend: torch-style AdamW over a slice, the sum of squares
 * for the global gradient norm (accumulated in double), used by the surgery loop. */
#include "cuda_common.cuh"

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float lr,
                             float b1, float b2, float eps, float wd, float bc1, float bc2)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float param = p[i];
        param -= lr * wd * param;
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sqrtf(bc2) + eps;
        p[i] = param - (lr / bc1) * (mi / denom);
    }
}

int hs_cuda_adamw(hs_backend_ctx *ctx, float *param, const float *grad, float *m, float *v,
                  size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                  float bc1, float bc2)
{
    if (!n)
        return 0;
    adamw_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(param, grad, m, v, n, lr, beta1,
                                                                  beta2, eps, weight_decay, bc1,
                                                                  bc2);
    HS_LAUNCH_CHECK(ctx, "adamw_kernel");
    return 0;
}

__global__ void sum_squares_kernel(double *out, const float *x, size_t n)
{
    __shared__ double partial[256];
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        acc += (double)x[i] * (double)x[i];
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(out, partial[0]);
}

int hs_cuda_sum_squares(hs_backend_ctx *ctx, double *host_out, const float *x, size_t n)
{
    HS_CUDA_CHECK(ctx, cudaMemsetAsync(ctx->reduce, 0, sizeof(double), ctx->stream));
    if (n) {
        unsigned blocks = hs_blocks_for(n, 256);
        if (blocks > 1024)
            blocks = 1024;
        sum_squares_kernel<<<blocks, 256, 0, ctx->stream>>>(ctx->reduce, x, n);
        HS_LAUNCH_CHECK(ctx, "sum_squares_kernel");
    }
    HS_CUDA_CHECK(ctx, cudaMemcpyAsync(host_out, ctx->reduce, sizeof(double),
                                       cudaMemcpyDeviceToHost, ctx->stream));
    HS_CUDA_CHECK(ctx, cudaStreamSynchronize(ctx->stream));
    return 0;
}
