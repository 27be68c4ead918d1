/* Element-wise and gather/scatter ops of the CUDA backend: widening of fp16/bf16 tables,
 * embedding lookup, BLOOM's tanh GELU
 * (forward and backward exactly as docs/model-families.md "GELU"), add, scale, bias gradient (column sums),
 * strided 2-D copy. */
#include "cuda_common.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define GRID_STRIDE(i, n)                                                                      \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                    \
         i += (size_t)gridDim.x * blockDim.x)

__global__ void embedding_kernel(float *out, const int32_t *ids, const float *table, int N, int C)
{
    GRID_STRIDE(i, (size_t)N * C) {
        size_t row = i / C, col = i % C;
        out[i] = table[(size_t)ids[row] * C + col];
    }
}

const float *hs_cuda_table_f32(hs_backend_ctx *ctx, hs_table table, const char *op)
{
    if (table.dtype == HS_TABLE_F32)
        return (const float *)table.data;
    snprintf(ctx->err, sizeof ctx->err,
             "%s: the cuda backend keeps weight tables in fp32 only (table dtype %d)", op,
             (int)table.dtype);
    return NULL;
}

int hs_cuda_embedding(hs_backend_ctx *ctx, float *out, const int32_t *ids, hs_table table,
                      int N, int C)
{
    if (N <= 0)
        return 0;
    const float *rows = hs_cuda_table_f32(ctx, table, "cuda embedding");
    if (!rows)
        return -1;
    embedding_kernel<<<hs_blocks_for((size_t)N * C, 256), 256, 0, ctx->stream>>>(out, ids, rows,
                                                                                  N, C);
    HS_LAUNCH_CHECK(ctx, "embedding_kernel");
    return 0;
}

__global__ void widen_f16_kernel(float *dst, const __half *src, size_t n)
{
    GRID_STRIDE(i, n) dst[i] = __half2float(src[i]);
}

__global__ void widen_bf16_kernel(float *dst, const __nv_bfloat16 *src, size_t n)
{
    GRID_STRIDE(i, n) dst[i] = __bfloat162float(src[i]);
}

int hs_cuda_widen(hs_backend_ctx *ctx, float *dst, const void *src, hs_table_dtype dtype,
                  size_t n)
{
    if (n == 0)
        return 0;
    switch (dtype) {
    case HS_TABLE_F32:
        HS_CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                           ctx->stream));
        return 0;
    case HS_TABLE_F16:
        widen_f16_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(
            dst, (const __half *)src, n);
        HS_LAUNCH_CHECK(ctx, "widen_f16_kernel");
        return 0;
    case HS_TABLE_BF16:
        widen_bf16_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(
            dst, (const __nv_bfloat16 *)src, n);
        HS_LAUNCH_CHECK(ctx, "widen_bf16_kernel");
        return 0;
    }
    snprintf(ctx->err, sizeof ctx->err, "cuda widen: unknown table dtype %d", (int)dtype);
    return -1;
}

/* HS_GELU_TANH, evaluated op by op like transformers' bloom_gelu_forward so fp32 rounding
 * matches the CPU oracle. */
__global__ void gelu_tanh_kernel(float *out, const float *in, size_t n)
{
    GRID_STRIDE(i, n) {
        float x = in[i];
        float t1 = x * 0.5f;
        float t2 = 0.79788456f * x;
        float t3 = (0.044715f * x) * x;
        float t4 = 1.0f + t3;
        float t5 = t2 * t4;
        float t6 = tanhf(t5);
        out[i] = t1 * (1.0f + t6);
    }
}

__global__ void gelu_tanh_backward_kernel(float *din, const float *in, const float *dout,
                                          size_t n)
{
    GRID_STRIDE(i, n) {
        float x = in[i];
        float t = tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x));
        float ff = 0.5f * x * ((1.0f - t * t) * (0.79788456f + 0.1070322243f * x * x)) +
                   0.5f * (1.0f + t);
        din[i] = ff * dout[i];
    }
}

/* HS_GELU_ERF in double, rounded once, like the CPU oracle. */
__global__ void gelu_erf_kernel(float *out, const float *in, size_t n)
{
    GRID_STRIDE(i, n) {
        double x = in[i];
        out[i] = (float)(x * 0.5 * erfc(-x * 0.70710678118654752440));
    }
}

__global__ void gelu_erf_backward_kernel(float *din, const float *in, const float *dout,
                                         size_t n)
{
    GRID_STRIDE(i, n) {
        double x = in[i];
        double ff = 0.5 * erfc(-x * 0.70710678118654752440) +
                    x * 0.39894228040143267794 * exp(-0.5 * x * x);
        din[i] = (float)ff * dout[i];
    }
}

int hs_cuda_gelu(hs_backend_ctx *ctx, float *out, const float *in, size_t n, hs_gelu_kind kind)
{
    if (kind != HS_GELU_TANH && kind != HS_GELU_ERF)
        return hs_cuda_fail(ctx, "gelu", "unknown GELU variant", __FILE__, __LINE__);
    if (!n)
        return 0;
    if (kind == HS_GELU_TANH) {
        gelu_tanh_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(out, in, n);
        HS_LAUNCH_CHECK(ctx, "gelu_tanh_kernel");
    } else {
        gelu_erf_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(out, in, n);
        HS_LAUNCH_CHECK(ctx, "gelu_erf_kernel");
    }
    return 0;
}

int hs_cuda_gelu_backward(hs_backend_ctx *ctx, float *din, const float *in, const float *dout,
                          size_t n, hs_gelu_kind kind)
{
    if (kind != HS_GELU_TANH && kind != HS_GELU_ERF)
        return hs_cuda_fail(ctx, "gelu_backward", "unknown GELU variant", __FILE__, __LINE__);
    if (!n)
        return 0;
    if (kind == HS_GELU_TANH) {
        gelu_tanh_backward_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(din, in, dout,
                                                                                   n);
        HS_LAUNCH_CHECK(ctx, "gelu_tanh_backward_kernel");
    } else {
        gelu_erf_backward_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(din, in, dout,
                                                                                  n);
        HS_LAUNCH_CHECK(ctx, "gelu_erf_backward_kernel");
    }
    return 0;
}

__global__ void add_kernel(float *out, const float *a, const float *b, size_t n)
{
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

__global__ void scale_kernel(float *x, float s, size_t n)
{
    GRID_STRIDE(i, n) x[i] *= s;
}

int hs_cuda_add(hs_backend_ctx *ctx, float *out, const float *a, const float *b, size_t n)
{
    if (!n)
        return 0;
    add_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(out, a, b, n);
    HS_LAUNCH_CHECK(ctx, "add_kernel");
    return 0;
}

int hs_cuda_scale(hs_backend_ctx *ctx, float *x, float s, size_t n)
{
    if (!n)
        return 0;
    scale_kernel<<<hs_blocks_for(n, 256), 256, 0, ctx->stream>>>(x, s, n);
    HS_LAUNCH_CHECK(ctx, "scale_kernel");
    return 0;
}

/* One thread per column; rows summed in a fixed order (deterministic). */
__global__ void bias_backward_kernel(float *db, const float *dout, int M, int N, int ld)
{
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= N)
        return;
    float acc = 0.0f;
    for (int r = 0; r < M; r++)
        acc += dout[(size_t)r * ld + col];
    db[col] += acc;
}

int hs_cuda_bias_backward(hs_backend_ctx *ctx, float *db, const float *dout, int M, int N,
                          int ld)
{
    if (N <= 0)
        return 0;
    bias_backward_kernel<<<(N + 255) / 256, 256, 0, ctx->stream>>>(db, dout, M, N, ld);
    HS_LAUNCH_CHECK(ctx, "bias_backward_kernel");
    return 0;
}

int hs_cuda_copy_2d(hs_backend_ctx *ctx, float *dst, int ldd, const float *src, int lds,
                    int rows, int cols)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    HS_CUDA_CHECK(ctx, cudaMemcpy2DAsync(dst, (size_t)ldd * sizeof(float), src,
                                         (size_t)lds * sizeof(float), (size_t)cols * sizeof(float),
                                         (size_t)rows, cudaMemcpyDeviceToDevice, ctx->stream));
    return 0;
}
