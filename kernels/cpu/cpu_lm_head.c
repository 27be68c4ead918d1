/* CPU backend: the LM head tied to the embeddings fused with the log-softmax NLL, and its
 * gradient with respect to the hidden states. The vocabulary is walked in chunks of
 * HS_CPU_LM_HEAD_CHUNK rows of emb (fewer for very many rows, see chunk_rows); the [N, V]
 * logits never exist.
 *
 * Forward: each chunk's logits [N, chunk] come from one cblas_sgemm and are folded into a
 * per-row online logsumexp (running max, double running sum). Chunks are shared out among
 * OpenMP threads in one parallel region (OpenBLAS held to one thread meanwhile), each thread
 * with its own logit scratch and running (max, sum) per row; the partial logsumexps are merged
 * at the end (static schedule and a fixed merge order, so results are the same on every run).
 * Memory is O(threads × N × chunk).
 * Backward: each chunk's logits are recomputed, turned into scale·(softmax − onehot) in place
 * and multiplied into the thread's own dx partial [N, C] by a second sgemm; the partials are
 * summed at the end. */
#include "cpu_ops.h"
#include "cpu_vecmath.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PARALLEL_MIN_ELEMENTS 32768

static int check_args(hs_backend_ctx *ctx, const char *op, const int32_t *targets, int N, int C,
                      int V)
{
    if (N < 0 || C <= 0 || V <= 0)
        return hs_cpu_fail(ctx, "%s: bad shape N=%d C=%d V=%d (C and V must be positive)", op, N,
                           C, V);
    for (int n = 0; n < N; n++)
        if (targets[n] >= V)
            return hs_cpu_fail(ctx, "%s: target %d at row %d is outside the vocabulary of %d",
                               op, targets[n], n, V);
    return 0;
}

static int thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Threads for a call over `chunks` chunks: no more than the context's, no more than chunks. */
static int chunk_threads(const hs_backend_ctx *ctx, int chunks)
{
    int t = ctx->threads > 0 ? ctx->threads : 1;
    return chunks < t ? chunks : t;
}

/* Vocabulary rows per chunk: HS_CPU_LM_HEAD_CHUNK, fewer (a multiple of 64, at least 256) when
 * N rows of that many logits would pass HS_CPU_LM_HEAD_SCRATCH_FLOATS, never more than V. */
static int chunk_rows(int N, int V)
{
    long long chunk = HS_CPU_LM_HEAD_CHUNK;
    long long cap = (long long)HS_CPU_LM_HEAD_SCRATCH_FLOATS / (N > 0 ? N : 1);
    if (chunk > cap)
        chunk = cap / 64 * 64 > 256 ? cap / 64 * 64 : 256;
    return chunk < V ? (int)chunk : V;
}

/* logits[N, width] = x · emb[v0 : v0+width]ᵀ */
static void chunk_logits(float *logits, const float *x, const float *emb, int N, int C, int v0,
                         int width)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, width, C, 1.0f, x, C,
                emb + (size_t)v0 * C, C, 0.0f, logits, width);
}

/* One thread's running logsumexp state over the chunks it has seen, per row. */
typedef struct {
    float *logits;  /* [N, chunk] scratch */
    float *max;     /* [N], −inf before the first chunk */
    double *sum;    /* [N], Σ exp(logit − max) */
} lse_partial;

static void fold_chunk(lse_partial *part, const float *x, const float *emb,
                       const int32_t *targets, float *target_logit, int N, int C, int v0,
                       int width)
{
    chunk_logits(part->logits, x, emb, N, C, v0, width);
    for (int n = 0; n < N; n++) {
        const float *row = part->logits + (size_t)n * width;
        float chunk_max = row[0];
#pragma omp simd reduction(max : chunk_max)
        for (int j = 1; j < width; j++)
            chunk_max = row[j] > chunk_max ? row[j] : chunk_max;
        if (chunk_max > part->max[n]) {
            /* rescale what was summed against the old maximum (nothing before the first) */
            if (part->sum[n] != 0.0)
                part->sum[n] *= exp((double)part->max[n] - chunk_max);
            part->max[n] = chunk_max;
        }
        float m = part->max[n];
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < width; j++)
            s += hs_cpu_expf_nonpos(row[j] - m);
        part->sum[n] += s;
        int t = targets[n];
        if (t >= v0 && t < v0 + width)
            target_logit[n] = row[t - v0]; /* each target lies in exactly one chunk */
    }
}

int hs_cpu_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                       const float *emb, const int32_t *targets, int N, int C, int V)
{
    if (!ctx)
        return -1;
    const char *op = "cpu lm_head_nll";
    if (N > 0 && (!nll || !x || !emb || !targets))
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !nll ? "nll" : !x ? "x" : !emb ? "emb" : "targets");
    if (check_args(ctx, op, targets, N, C, V) != 0)
        return -1;
    if (N == 0)
        return 0;

    int chunk = chunk_rows(N, V);
    int chunks = (V + chunk - 1) / chunk;
    int threads = chunk_threads(ctx, chunks);
    float *logits = hs_cpu_scratch(ctx, op, "vocabulary chunks of logits",
                                   (size_t)threads * N * chunk, sizeof(float));
    float *maxes = hs_cpu_scratch(ctx, op, "running maxima", (size_t)threads * N, sizeof(float));
    double *sums = hs_cpu_scratch(ctx, op, "running sums", (size_t)threads * N, sizeof(double));
    float *target_logit = hs_cpu_scratch(ctx, op, "target logits", (size_t)N, sizeof(float));
    if (!logits || !maxes || !sums || !target_logit) {
        free(logits);
        free(maxes);
        free(sums);
        free(target_logit);
        return -1;
    }
    for (size_t i = 0; i < (size_t)threads * N; i++) {
        maxes[i] = -INFINITY;
        sums[i] = 0.0;
    }
    memset(target_logit, 0, (size_t)N * sizeof(float));

    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < chunks; c++) {
        int tid = thread_index();
        lse_partial part = {logits + (size_t)tid * N * chunk, maxes + (size_t)tid * N,
                            sums + (size_t)tid * N};
        int v0 = c * chunk;
        int width = V - v0 < chunk ? V - v0 : chunk;
        fold_chunk(&part, x, emb, targets, target_logit, N, C, v0, width);
    }
    hs_cpu_blas_single_thread_end();

    /* merge the threads' partial logsumexps: lse = M + ln Σ_t sum_t·exp(max_t − M) */
    for (int n = 0; n < N; n++) {
        float m = -INFINITY;
        for (int t = 0; t < threads; t++)
            m = maxes[(size_t)t * N + n] > m ? maxes[(size_t)t * N + n] : m;
        double total = 0.0;
        for (int t = 0; t < threads; t++)
            if (sums[(size_t)t * N + n] != 0.0)
                total += sums[(size_t)t * N + n] * exp((double)maxes[(size_t)t * N + n] - m);
        float row_lse = (float)((double)m + log(total));
        if (lse)
            lse[n] = row_lse;
        nll[n] = targets[n] >= 0 ? row_lse - target_logit[n] : 0.0f;
    }
    free(logits);
    free(maxes);
    free(sums);
    free(target_logit);
    return 0;
}

int hs_cpu_lm_head_nll_backward(hs_backend_ctx *ctx, float *dx, const float *x, const float *emb,
                                const int32_t *targets, const float *lse, float scale, int N,
                                int C, int V)
{
    if (!ctx)
        return -1;
    const char *op = "cpu lm_head_nll_backward";
    if (N > 0 && (!dx || !x || !emb || !targets || !lse))
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !dx    ? "dx"
                           : !x   ? "x"
                           : !emb ? "emb"
                           : !targets ? "targets"
                                      : "lse (from lm_head_nll())");
    if (check_args(ctx, op, targets, N, C, V) != 0)
        return -1;
    if (N == 0)
        return 0;

    size_t NC = (size_t)N * C;
    memset(dx, 0, NC * sizeof(float));
    bool any_target = false;
    for (int n = 0; n < N; n++)
        any_target |= targets[n] >= 0;
    if (!any_target)
        return 0;

    int chunk = chunk_rows(N, V);
    int chunks = (V + chunk - 1) / chunk;
    int threads = chunk_threads(ctx, chunks);
    float *grad = hs_cpu_scratch(ctx, op, "vocabulary chunks of logit gradients",
                                 (size_t)threads * N * chunk, sizeof(float));
    /* thread 0 accumulates into dx itself, the others into zeroed partials */
    float *partials = threads > 1 ? hs_cpu_scratch(ctx, op, "per-thread dx partials",
                                                   (size_t)(threads - 1) * NC, sizeof(float))
                                  : NULL;
    if (!grad || (threads > 1 && !partials)) {
        free(grad);
        free(partials);
        return -1;
    }
    if (partials)
        memset(partials, 0, (size_t)(threads - 1) * NC * sizeof(float));

    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < chunks; c++) {
        int tid = thread_index();
        float *g = grad + (size_t)tid * N * chunk;
        float *acc = tid == 0 ? dx : partials + (size_t)(tid - 1) * NC;
        int v0 = c * chunk;
        int width = V - v0 < chunk ? V - v0 : chunk;
        chunk_logits(g, x, emb, N, C, v0, width);
        /* ∂(scale·nll_n)/∂logit_v = scale·(softmax_v − [v == target_n]) */
        for (int n = 0; n < N; n++) {
            float *row = g + (size_t)n * width;
            int t = targets[n];
            if (t < 0) {
                memset(row, 0, (size_t)width * sizeof(float));
                continue;
            }
            float row_lse = lse[n];
#pragma omp simd
            for (int j = 0; j < width; j++)
                row[j] = scale * hs_cpu_expf_nonpos(row[j] - row_lse);
            if (t >= v0 && t < v0 + width)
                row[t - v0] -= scale;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, width, 1.0f, g, width,
                    emb + (size_t)v0 * C, C, 1.0f, acc, C);
    }
    hs_cpu_blas_single_thread_end();

    if (partials) {
#pragma omp parallel for schedule(static) if (NC >= PARALLEL_MIN_ELEMENTS)
        for (size_t i = 0; i < NC; i++) {
            float s = dx[i];
            for (int t = 0; t < threads - 1; t++)
                s += partials[(size_t)t * NC + i];
            dx[i] = s;
        }
    }
    free(grad);
    free(partials);
    return 0;
}
