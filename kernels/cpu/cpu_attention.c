/* CPU backend: causal ALiBi attention over the fused, per-head interleaved QKV rows
 * (docs/model-families.md "Attention"), forward with the per-head statistics of ops.h, and its backward.
 *
 * The B·H heads are shared out among OpenMP threads in one parallel region per call; inside a
 * head everything is sequential, with OpenBLAS held to one thread for the duration, so a call
 * costs one fork/join instead of one per block and per sgemm (which on a busy machine costs more
 * than the arithmetic). A head is processed in blocks of HS_CPU_ATTENTION_ROW_BLOCK query rows:
 * rows i0..i0+R−1 only see keys 0..i0+R−1, so the score block is one cblas_sgemm of
 * [R,d]·[d,i0+R] (the causal triangle is skipped block-wise), then the row softmax, then P·V as
 * a second sgemm. Score scratch is R×T per thread, never [B,H,T,T], unless the caller asks for
 * probs — then each block is computed directly in its rows of probs.
 *
 * score(i,j) = (q_i·k_j)·(1/sqrt(d)) + slope_h·j for j <= i (alpha applied to the dot product,
 * the bias by key position, as HF's baddbmm), softmax in fp32 after subtracting the row max. */
#include "cpu_ops.h"
#include "cpu_vecmath.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Where one head of one sequence lives inside the fused qkv tensor [B,T,H·3·d]. */
typedef struct {
    const float *q, *k, *v; /* row t of q is q + t·ld (likewise k, v) */
    int ld;                 /* 3·H·d */
    int d;
    float alpha; /* 1/sqrt(d) */
    float slope;
} head_view;

static head_view head_at(const float *qkv, int b, int h, int T, int H, int d, const float *slopes)
{
    head_view hv;
    hv.ld = 3 * H * d;
    const float *base = qkv + (size_t)b * T * hv.ld + (size_t)h * 3 * d;
    hv.q = base;
    hv.k = base + d;
    hv.v = base + 2 * (size_t)d;
    hv.d = d;
    hv.alpha = (float)(1.0 / sqrt((double)d)); /* HF: Python 1/math.sqrt(d), as an fp32 scalar */
    hv.slope = slopes[h];
    return hv;
}

/* Softmax probabilities of query rows i0..i0+rows−1 over keys 0..i0+rows−1 into P (leading
 * dimension ldp), columns j > i set to 0 up to column zero_to−1. When stat_sums is not NULL the
 * per-row statistics (bos mass, entropy, local mass) are added to stat_sums[HS_STAT_COUNT]. */
static void softmax_block(const head_view *hv, int i0, int rows, float *P, int ldp, int zero_to,
                          double *stat_sums)
{
    int n = i0 + rows;
    /* as HF's alibi.baddbmm(q, kᵀ, beta=1, alpha=1/sqrt(d)): start from the bias slope·j and
     * let the sgemm add alpha·q·kᵀ to it */
    float slope = hv->slope;
    for (int r = 0; r < rows; r++) {
        float *row = P + (size_t)r * ldp;
#pragma omp simd
        for (int j = 0; j < n; j++)
            row[j] = slope * (float)j;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hv->d, hv->alpha,
                hv->q + (size_t)i0 * hv->ld, hv->ld, hv->k, hv->ld, 1.0f, P, ldp);

    for (int r = 0; r < rows; r++) {
        int i = i0 + r;
        float *row = P + (size_t)r * ldp;
        float max = -INFINITY;
#pragma omp simd reduction(max : max)
        for (int j = 0; j <= i; j++)
            max = row[j] > max ? row[j] : max;
        double sum = 0.0, weighted_shift = 0.0;
#pragma omp simd reduction(+ : sum, weighted_shift)
        for (int j = 0; j <= i; j++) {
            float shifted = row[j] - max;
            float e = hs_cpu_expf_nonpos(shifted);
            row[j] = e;
            sum += e;
            weighted_shift += (double)e * shifted;
        }
        double inv = 1.0 / sum;
#pragma omp simd
        for (int j = 0; j <= i; j++)
            row[j] = (float)(row[j] * inv);
        if (zero_to > i + 1)
            memset(row + i + 1, 0, (size_t)(zero_to - i - 1) * sizeof(float));
        if (stat_sums) {
            /* −Σ p·ln p with ln p = (s − max) − ln sum, so no logarithm per entry. */
            stat_sums[HS_STAT_BOS] += row[0];
            stat_sums[HS_STAT_ENTROPY] += log(sum) - weighted_shift * inv;
            double local = 0.0;
            for (int j = i >= 2 ? i - 2 : 0; j <= i; j++)
                local += row[j];
            stat_sums[HS_STAT_LOCAL] += local;
        }
    }
}

/* Forward of one head: out rows (leading dimension ldo), probs [T,T] or NULL (then scratch
 * [R,T] is used), statistics [HS_STAT_COUNT] or NULL. */
static void forward_head(const head_view *hv, int T, float *out, int ldo, float *head_probs,
                         float *stats, float *scratch)
{
    int R = HS_CPU_ATTENTION_ROW_BLOCK < T ? HS_CPU_ATTENTION_ROW_BLOCK : T;
    double sums[HS_STAT_COUNT] = {0};
    for (int i0 = 0; i0 < T; i0 += R) {
        int rows = T - i0 < R ? T - i0 : R;
        int n = i0 + rows;
        float *P = head_probs ? head_probs + (size_t)i0 * T : scratch;
        softmax_block(hv, i0, rows, P, T, head_probs ? T : n, stats ? sums : NULL);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hv->d, n, 1.0f, P, T, hv->v,
                    hv->ld, 0.0f, out + (size_t)i0 * ldo, ldo);
    }
    if (stats)
        for (int s = 0; s < HS_STAT_COUNT; s++)
            stats[s] = (float)(sums[s] / T);
}

/* Backward of one head into dq/dk/dv (rows of leading dimension hv->ld, zero on entry): dO rows
 * of leading dimension ldo, probs [T,T] or NULL (then recomputed into prob_scratch [R,T]),
 * dscores scratch [R,T]. */
static void backward_head(const head_view *hv, int T, const float *dout, int ldo,
                          const float *head_probs, float *dq, float *dk, float *dv,
                          float *prob_scratch, float *dscores)
{
    int R = HS_CPU_ATTENTION_ROW_BLOCK < T ? HS_CPU_ATTENTION_ROW_BLOCK : T;
    int d = hv->d, ld = hv->ld;
    for (int i0 = 0; i0 < T; i0 += R) {
        int rows = T - i0 < R ? T - i0 : R;
        int n = i0 + rows;
        const float *P;
        if (head_probs) {
            P = head_probs + (size_t)i0 * T;
        } else {
            softmax_block(hv, i0, rows, prob_scratch, T, n, NULL);
            P = prob_scratch;
        }
        const float *dO = dout + (size_t)i0 * ldo;
        /* dV[0:n] += Pᵀ·dO */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, rows, 1.0f, P, T, dO, ldo, 1.0f,
                    dv, ld);
        /* dP = dO·V[0:n]ᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, d, 1.0f, dO, ldo, hv->v, ld,
                    0.0f, dscores, T);
        /* dS = P∘(dP − rowsum(dP∘P)), zero above the diagonal */
        for (int r = 0; r < rows; r++) {
            int i = i0 + r;
            const float *p = P + (size_t)r * T;
            float *ds = dscores + (size_t)r * T;
            double dot = 0.0;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j <= i; j++)
                dot += (double)ds[j] * p[j];
            float dot_f = (float)dot;
#pragma omp simd
            for (int j = 0; j <= i; j++)
                ds[j] = p[j] * (ds[j] - dot_f);
            for (int j = i + 1; j < n; j++)
                ds[j] = 0.0f;
        }
        /* dQ = alpha·dS·K[0:n]; dK[0:n] += alpha·dSᵀ·Q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, n, hv->alpha, dscores, T,
                    hv->k, ld, 0.0f, dq + (size_t)i0 * ld, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, rows, hv->alpha, dscores, T,
                    hv->q + (size_t)i0 * ld, ld, 1.0f, dk, ld);
    }
}

/* Shared argument checks of forward and backward; sets *empty when there is nothing to do. */
static int check_shape(hs_backend_ctx *ctx, const char *op, int B, int T, int H, int d,
                       bool *empty)
{
    if (B < 0 || T < 0 || H <= 0 || d <= 0)
        return hs_cpu_fail(ctx, "%s: bad shape B=%d T=%d H=%d d=%d (H and d must be positive)",
                           op, B, T, H, d);
    if ((long long)3 * H * d > INT32_MAX)
        return hs_cpu_fail(ctx, "%s: shape B=%d T=%d H=%d d=%d too large", op, B, T, H, d);
    *empty = B == 0 || T == 0;
    return 0;
}

/* Threads for a call over `heads` heads: no more than the context's, no more than heads. */
static int head_threads(const hs_backend_ctx *ctx, long long heads)
{
    int t = ctx->threads > 0 ? ctx->threads : 1;
    return heads < t ? (int)heads : t;
}


int hs_cpu_attention(hs_backend_ctx *ctx, float *out, float *probs, float *stats,
                     const float *qkv, const float *slopes, int B, int T, int H, int d)
{
    if (!ctx)
        return -1;
    const char *op = "cpu attention";
    bool empty = false;
    if (check_shape(ctx, op, B, T, H, d, &empty) != 0)
        return -1;
    if (empty)
        return 0;
    if (!out || !qkv || !slopes)
        return hs_cpu_fail(ctx, "%s: %s is NULL", op, !out ? "out" : !qkv ? "qkv" : "slopes");

    long long heads = (long long)B * H;
    int threads = head_threads(ctx, heads);
    size_t block = (size_t)(HS_CPU_ATTENTION_ROW_BLOCK < T ? HS_CPU_ATTENTION_ROW_BLOCK : T) * T;
    float *scratch = NULL;
    if (!probs) {
        scratch = hs_cpu_scratch(ctx, op, "blocks of scores", block * threads, sizeof(float));
        if (!scratch)
            return -1;
    }
    int ldo = H * d;
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long long item = 0; item < heads; item++) {
        int b = (int)(item / H), h = (int)(item % H);
        head_view hv = head_at(qkv, b, h, T, H, d, slopes);
        forward_head(&hv, T, out + (size_t)b * T * ldo + (size_t)h * d, ldo,
                     probs ? probs + (size_t)item * T * T : NULL,
                     stats ? stats + (size_t)item * HS_STAT_COUNT : NULL,
                     scratch ? scratch + block * hs_cpu_thread_index() : NULL);
    }
    hs_cpu_blas_single_thread_end();
    free(scratch);
    return 0;
}

int hs_cpu_attention_backward(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                              const float *qkv, const float *probs, const float *slopes,
                              const uint8_t *head_mask, int B, int T, int H, int d)
{
    if (!ctx)
        return -1;
    const char *op = "cpu attention_backward";
    bool empty = false;
    if (check_shape(ctx, op, B, T, H, d, &empty) != 0)
        return -1;
    if (empty)
        return 0;
    if (!dqkv || !dout || !qkv || !slopes)
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !dqkv ? "dqkv" : !dout ? "dout" : !qkv ? "qkv" : "slopes");

    long long heads = (long long)B * H;
    int threads = head_threads(ctx, heads);
    size_t block = (size_t)(HS_CPU_ATTENTION_ROW_BLOCK < T ? HS_CPU_ATTENTION_ROW_BLOCK : T) * T;
    size_t per_thread = block * (probs ? 1 : 2); /* dscores, and recomputed probs */
    float *scratch = hs_cpu_scratch(ctx, op, "blocks of score gradients and probabilities",
                                    per_thread * threads, sizeof(float));
    if (!scratch)
        return -1;

    /* dq is written block by block; dk and dv accumulate over blocks, so start from zero
     * (which is also the answer for every masked head). */
    memset(dqkv, 0, (size_t)B * T * 3 * H * d * sizeof(float));
    int ldo = H * d;
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long long item = 0; item < heads; item++) {
        int b = (int)(item / H), h = (int)(item % H);
        if (head_mask && !head_mask[h])
            continue;
        head_view hv = head_at(qkv, b, h, T, H, d, slopes);
        float *dq = dqkv + (size_t)b * T * hv.ld + (size_t)h * 3 * d;
        float *mine = scratch + per_thread * hs_cpu_thread_index();
        backward_head(&hv, T, dout + (size_t)b * T * ldo + (size_t)h * d, ldo,
                      probs ? probs + (size_t)item * T * T : NULL, dq, dq + d,
                      dq + 2 * (size_t)d, probs ? NULL : mine + block, mine);
    }
    hs_cpu_blas_single_thread_end();
    free(scratch);
    return 0;
}
