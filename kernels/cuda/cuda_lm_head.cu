/* The tied LM head fused with log-softmax NLL on CUDA, in vocabulary chunks: logits of one
 * chunk at a time through the cuBLASLt wrapper, an online logsumexp per row, so memory is
 * O(N × chunk). The backward recomputes each chunk's logits and accumulates dx with a GEMM. */
#include "cuda_common.cuh"

#include <math.h>

#define VOCAB_CHUNK 8192

__global__ void lse_init_kernel(float *run_max, float *run_sum, float *target_logit, int N)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n < N) {
        run_max[n] = -INFINITY;
        run_sum[n] = 0.0f;
        target_logit[n] = 0.0f;
    }
}

/* One block per row: folds logits[n, 0..cs) (vocab ids v0..v0+cs) into the running max/sum. */
__global__ void lse_update_kernel(const float *logits, float *run_max, float *run_sum,
                                  float *target_logit, const int32_t *targets, int cs, int v0)
{
    __shared__ float smax[256];
    __shared__ float ssum[256];
    int n = blockIdx.x;
    const float *row = logits + (size_t)n * cs;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < cs; j += blockDim.x)
        m = fmaxf(m, row[j]);
    smax[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + s]);
        __syncthreads();
    }
    float chunk_max = smax[0];
    float new_max = fmaxf(chunk_max, run_max[n]);
    float acc = 0.0f;
    for (int j = threadIdx.x; j < cs; j += blockDim.x)
        acc += expf(row[j] - new_max);
    ssum[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            ssum[threadIdx.x] += ssum[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        float old = run_max[n] == -INFINITY ? 0.0f : run_sum[n] * expf(run_max[n] - new_max);
        run_sum[n] = old + ssum[0];
        run_max[n] = new_max;
        int t = targets[n];
        if (t >= v0 && t < v0 + cs)
            target_logit[n] = row[t - v0];
    }
}

__global__ void nll_finish_kernel(float *nll, float *lse, const float *run_max,
                                  const float *run_sum, const float *target_logit,
                                  const int32_t *targets, int N)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    float l = run_max[n] + logf(run_sum[n]);
    if (lse)
        lse[n] = l;
    nll[n] = targets[n] >= 0 ? l - target_logit[n] : 0.0f;
}

int hs_cuda_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                        hs_table table, const int32_t *targets, int N, int C, int V)
{
    if (N <= 0)
        return 0;
    const float *emb = hs_cuda_table_f32(ctx, table, "cuda lm_head_nll");
    if (!emb)
        return -1;
    int chunk = V < VOCAB_CHUNK ? V : VOCAB_CHUNK;
    float *scratch = (float *)hs_cuda_scratch(ctx, ((size_t)N * chunk + 3 * (size_t)N) * sizeof(float));
    if (!scratch)
        return -1;
    float *logits = scratch, *run_max = logits + (size_t)N * chunk, *run_sum = run_max + N,
          *target_logit = run_sum + N;
    lse_init_kernel<<<(N + 255) / 256, 256, 0, ctx->stream>>>(run_max, run_sum, target_logit, N);
    HS_LAUNCH_CHECK(ctx, "lse_init_kernel");
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cs = V - v0 < chunk ? V - v0 : chunk;
        if (hs_cuda_matmul(ctx, logits, x, emb + (size_t)v0 * C, NULL, N, cs, C, false, true, C,
                           C, cs, 1.0f, 0.0f) != 0)
            return -1;
        lse_update_kernel<<<N, 256, 0, ctx->stream>>>(logits, run_max, run_sum, target_logit,
                                                      targets, cs, v0);
        HS_LAUNCH_CHECK(ctx, "lse_update_kernel");
    }
    nll_finish_kernel<<<(N + 255) / 256, 256, 0, ctx->stream>>>(nll, lse, run_max, run_sum,
                                                                target_logit, targets, N);
    HS_LAUNCH_CHECK(ctx, "nll_finish_kernel");
    return 0;
}

/* logits[n, j] ← scale·(softmax − onehot) for vocab id v0 + j; zero for ignored rows. */
__global__ void nll_grad_kernel(float *logits, const float *lse, const int32_t *targets,
                                float scale, int N, int cs, int v0)
{
    size_t total = (size_t)N * cs;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int n = (int)(i / cs), j = (int)(i % cs);
        int t = targets[n];
        float g = 0.0f;
        if (t >= 0) {
            g = expf(logits[i] - lse[n]);
            if (t == v0 + j)
                g -= 1.0f;
            g *= scale;
        }
        logits[i] = g;
    }
}

int hs_cuda_lm_head_logits(hs_backend_ctx *ctx, float *logits, const float *x, hs_table table,
                           int N, int C, int V)
{
    if (N <= 0)
        return 0;
    const float *emb = hs_cuda_table_f32(ctx, table, "cuda lm_head_logits");
    if (!emb)
        return -1;
    return hs_cuda_matmul(ctx, logits, x, emb, NULL, N, V, C, false, true, C, C, V, 1.0f, 0.0f);
}

int hs_cuda_lm_head_nll_backward(hs_backend_ctx *ctx, float *dx, const float *x,
                                 hs_table table, const int32_t *targets, const float *lse,
                                 float scale, int N, int C, int V)
{
    if (N <= 0)
        return 0;
    const float *emb = hs_cuda_table_f32(ctx, table, "cuda lm_head_nll_backward");
    if (!emb)
        return -1;
    int chunk = V < VOCAB_CHUNK ? V : VOCAB_CHUNK;
    float *logits = (float *)hs_cuda_scratch(ctx, (size_t)N * chunk * sizeof(float));
    if (!logits)
        return -1;
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cs = V - v0 < chunk ? V - v0 : chunk;
        if (hs_cuda_matmul(ctx, logits, x, emb + (size_t)v0 * C, NULL, N, cs, C, false, true, C,
                           C, cs, 1.0f, 0.0f) != 0)
            return -1;
        nll_grad_kernel<<<hs_blocks_for((size_t)N * cs, 256), 256, 0, ctx->stream>>>(
            logits, lse, targets, scale, N, cs, v0);
        HS_LAUNCH_CHECK(ctx, "nll_grad_kernel");
        /* dx (=, then +=) [N,C] = G [N,cs] · emb_chunk [cs,C] */
        if (hs_cuda_matmul(ctx, dx, logits, emb + (size_t)v0 * C, NULL, N, C, cs, false, false, cs,
                           C, C, 1.0f, v0 == 0 ? 0.0f : 1.0f) != 0)
            return -1;
    }
    return 0;
}
