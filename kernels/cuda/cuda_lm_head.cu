/* The tied LM head fused with log-softmax NLL on CUDA, in vocabulary chunks: logits of one
 * chunk at a time through the GEMM core, an online logsumexp per row, so memory is
 * O(N × chunk). The backward recomputes each chunk's logits and accumulates dx with a GEMM.
 * In HS_PRECISION_BF16 the GEMMs take bf16 operands: x is rounded once per call, each chunk
 * of the embedding once per chunk (and the chunk's logit gradient before the dx GEMM). */
#include "cuda_common.cuh"

#include <math.h>
#include <string.h>

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

/* The operands of the chunked GEMMs: fp32 as given, or bf16 copies in scratch. */
typedef struct head_operands {
    bool bf16;
    const float *x, *emb; /* fp32 inputs */
    int C;
    __nv_bfloat16 *x16, *e16, *g16; /* bf16 copies (ld hs_bf16_ld(C), g16: hs_bf16_ld(chunk)) */
} head_operands;

/* Scratch bytes of the bf16 copies for N rows, C channels and the chunk size. */
static size_t bf16_bytes(int N, int C, int chunk, bool with_grad)
{
    size_t ldc16 = (size_t)hs_bf16_ld(C);
    size_t b = hs_align256((size_t)N * ldc16 * 2) + hs_align256((size_t)chunk * ldc16 * 2);
    if (with_grad)
        b += hs_align256((size_t)N * hs_bf16_ld(chunk) * 2);
    return b;
}

/* Carves the bf16 copies out of `at` (bf16_bytes() of it) and rounds x. */
static int operands_init(hs_backend_ctx *ctx, head_operands *o, const float *x,
                         const float *emb, int N, int C, int chunk, char *at, bool with_grad)
{
    memset(o, 0, sizeof *o);
    o->bf16 = ctx->precision == HS_PRECISION_BF16;
    o->x = x;
    o->emb = emb;
    o->C = C;
    if (!o->bf16)
        return 0;
    int ldc16 = hs_bf16_ld(C);
    o->x16 = (__nv_bfloat16 *)at;
    at += hs_align256((size_t)N * ldc16 * 2);
    o->e16 = (__nv_bfloat16 *)at;
    at += hs_align256((size_t)chunk * ldc16 * 2);
    if (with_grad)
        o->g16 = (__nv_bfloat16 *)at;
    return hs_cuda_to_bf16(ctx, o->x16, ldc16, x, C, N, C);
}

/* logits[N, cs] = x · emb[v0 .. v0+cs)ᵀ (rounds the embedding chunk first in bf16). */
static int chunk_logits(hs_backend_ctx *ctx, const head_operands *o, float *logits, int N, int v0,
                        int cs)
{
    int C = o->C;
    if (!o->bf16) {
        hs_gemm_operand a = {o->x, CUDA_R_32F, C, 0};
        hs_gemm_operand b = {o->emb + (size_t)v0 * C, CUDA_R_32F, C, 0};
        return hs_cuda_gemm(ctx, logits, a, b, NULL, N, cs, C, false, true, cs, 0, 1, 1.0f, 0.0f);
    }
    int ldc16 = hs_bf16_ld(C);
    if (hs_cuda_to_bf16(ctx, o->e16, ldc16, o->emb + (size_t)v0 * C, C, cs, C) != 0)
        return -1;
    hs_gemm_operand a = {o->x16, CUDA_R_16BF, ldc16, 0}, b = {o->e16, CUDA_R_16BF, ldc16, 0};
    return hs_cuda_gemm(ctx, logits, a, b, NULL, N, cs, C, false, true, cs, 0, 1, 1.0f, 0.0f);
}

/* dx[N, C] (= when first, else +=) grad[N, cs] · emb[v0 .. v0+cs); the chunk's bf16 copy is
 * the one chunk_logits() made. */
static int chunk_dx(hs_backend_ctx *ctx, const head_operands *o, float *dx, const float *grad,
                    int N, int v0, int cs, bool first)
{
    int C = o->C;
    float beta = first ? 0.0f : 1.0f;
    if (!o->bf16) {
        hs_gemm_operand a = {grad, CUDA_R_32F, cs, 0};
        hs_gemm_operand b = {o->emb + (size_t)v0 * C, CUDA_R_32F, C, 0};
        return hs_cuda_gemm(ctx, dx, a, b, NULL, N, C, cs, false, false, C, 0, 1, 1.0f, beta);
    }
    int ldg16 = hs_bf16_ld(cs), ldc16 = hs_bf16_ld(C);
    if (hs_cuda_to_bf16(ctx, o->g16, ldg16, grad, cs, N, cs) != 0)
        return -1;
    hs_gemm_operand a = {o->g16, CUDA_R_16BF, ldg16, 0}, b = {o->e16, CUDA_R_16BF, ldc16, 0};
    return hs_cuda_gemm(ctx, dx, a, b, NULL, N, C, cs, false, false, C, 0, 1, 1.0f, beta);
}

int hs_cuda_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                        hs_table table, const int32_t *targets, int N, int C, int V)
{
    if (N <= 0)
        return 0;
    if (C <= 0 || V <= 0)
        return hs_cuda_fail(ctx, "lm_head_nll", "C and V must be positive", __FILE__, __LINE__);
    const float *emb = hs_cuda_table_f32(ctx, table, "cuda lm_head_nll");
    if (!emb)
        return -1;
    int chunk = V < VOCAB_CHUNK ? V : VOCAB_CHUNK;
    bool bf16 = ctx->precision == HS_PRECISION_BF16;
    size_t fp32_bytes = hs_align256(((size_t)N * chunk + 3 * (size_t)N) * sizeof(float));
    char *scratch = (char *)hs_cuda_scratch(
        ctx, fp32_bytes + (bf16 ? bf16_bytes(N, C, chunk, false) : 0));
    if (!scratch)
        return -1;
    float *logits = (float *)scratch, *run_max = logits + (size_t)N * chunk, *run_sum = run_max + N,
          *target_logit = run_sum + N;
    head_operands ops;
    if (operands_init(ctx, &ops, x, emb, N, C, chunk, scratch + fp32_bytes, false) != 0)
        return -1;
    lse_init_kernel<<<(N + 255) / 256, 256, 0, ctx->stream>>>(run_max, run_sum, target_logit, N);
    HS_LAUNCH_CHECK(ctx, "lse_init_kernel");
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cs = V - v0 < chunk ? V - v0 : chunk;
        if (chunk_logits(ctx, &ops, logits, N, v0, cs) != 0)
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
    if (C <= 0 || V <= 0)
        return hs_cuda_fail(ctx, "lm_head_nll_backward", "C and V must be positive", __FILE__,
                            __LINE__);
    const float *emb = hs_cuda_table_f32(ctx, table, "cuda lm_head_nll_backward");
    if (!emb)
        return -1;
    int chunk = V < VOCAB_CHUNK ? V : VOCAB_CHUNK;
    bool bf16 = ctx->precision == HS_PRECISION_BF16;
    size_t fp32_bytes = hs_align256((size_t)N * chunk * sizeof(float));
    char *scratch = (char *)hs_cuda_scratch(
        ctx, fp32_bytes + (bf16 ? bf16_bytes(N, C, chunk, true) : 0));
    if (!scratch)
        return -1;
    float *logits = (float *)scratch;
    head_operands ops;
    if (operands_init(ctx, &ops, x, emb, N, C, chunk, scratch + fp32_bytes, true) != 0)
        return -1;
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cs = V - v0 < chunk ? V - v0 : chunk;
        if (chunk_logits(ctx, &ops, logits, N, v0, cs) != 0)
            return -1;
        nll_grad_kernel<<<hs_blocks_for((size_t)N * cs, 256), 256, 0, ctx->stream>>>(
            logits, lse, targets, scale, N, cs, v0);
        HS_LAUNCH_CHECK(ctx, "nll_grad_kernel");
        /* dx (=, then +=) [N,C] = G [N,cs] · emb_chunk [cs,C] */
        if (chunk_dx(ctx, &ops, dx, logits, N, v0, cs, v0 == 0) != 0)
            return -1;
    }
    return 0;
}
