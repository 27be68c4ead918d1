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
 * (kernels instantiated for 32, 64, 128, 256 columns; a smaller head_dim pads with zeros).
 * The kernels are in cuda_attention_tiled_kernels.cuh; this file launches them. */
#include "cuda_attention_tiled_kernels.cuh"
#include "cuda_common.cuh"

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
