/* CPU backend: the LM head tied to the embeddings fused with the log-softmax NLL, its
 * gradient with respect to the hidden states, and the plain logits. The vocabulary is walked
 * in chunks of emb rows (a table kept in fp16/bf16 is widened chunk by chunk into a per-thread
 * panel, so it is never widened whole; chunk_rows: the N × chunk logits of a chunk stay in
 * one core's L2 cache); in the NLL and its gradient the [N, V] logits never exist.
 *
 * Chunks are shared out among OpenMP threads in one parallel region (OpenBLAS on the calling
 * thread), each thread with its own logit scratch and running state per row; the partial
 * results are merged at the end in a fixed order with a static schedule, so every run gives
 * the same bits.
 *
 * Forward without lse (perplexity): one sgemm per chunk folded into a per-row online
 * logsumexp (running max, double running sum).
 * Forward with lse (a training step, whose backward follows): the same pass also accumulates,
 * per row n, E[n] = Σ_v softmax_v·emb[v] — per chunk the logits are turned into
 * exp(logit − running max) in place and one more sgemm adds them times the chunk's emb rows
 * into the thread's [N, C] accumulator, rescaled whenever the running max grows. E is kept
 * in the context (the "LM-head memo") with copies of x, targets and the lse it produced.
 * Backward: ∂(scale·nll_n)/∂x_n = scale·(E[n] − emb[target_n]). When the memo matches the call
 * (same emb, bit-identical x, targets and lse — the op table already requires lse to come from
 * lm_head_nll() on the same x and emb), that is all the backward does: the training step costs
 * two vocabulary-sized sgemms instead of three. Otherwise the logits are recomputed chunk by
 * chunk, turned into scale·(softmax − onehot) and multiplied into dx by a second sgemm. */
#include "cpu_ops.h"
#include "cpu_vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PARALLEL_MIN_ELEMENTS 32768

/* The forward's result kept for the backward of the same training step (see above). */
struct hs_cpu_lm_head_memo {
    bool valid;
    const void *emb;  /* the embedding table it was computed with (compared by address) */
    hs_table_dtype emb_dtype;
    int N, C, V;
    size_t capacity_nc, capacity_n; /* floats allocated in x/expect and x-row arrays */
    float *x;          /* [N, C] copy of the forward's input */
    int32_t *targets;  /* [N]    copy of its targets */
    float *lse;        /* [N]    the logsumexp it returned */
    float *expect;     /* [N, C] Σ_v softmax_v·emb[v] per row */
};

void hs_cpu_lm_head_memo_free(hs_cpu_lm_head_memo *memo)
{
    if (!memo)
        return;
    free(memo->x);
    free(memo->targets);
    free(memo->lse);
    free(memo->expect);
    free(memo);
}

/* The context's memo with room for N rows of C, invalidated; NULL (and ctx->error set) when
 * memory runs out. */
static hs_cpu_lm_head_memo *memo_reserve(hs_backend_ctx *ctx, const char *op, int N, int C)
{
    if (!ctx->lm_head_memo) {
        ctx->lm_head_memo = calloc(1, sizeof *ctx->lm_head_memo);
        if (!ctx->lm_head_memo) {
            hs_cpu_fail(ctx, "%s: cannot allocate the LM-head memo", op);
            return NULL;
        }
    }
    hs_cpu_lm_head_memo *memo = ctx->lm_head_memo;
    memo->valid = false;
    size_t nc = (size_t)N * (size_t)C, n = (size_t)N;
    if (nc > memo->capacity_nc) {
        free(memo->x);
        free(memo->expect);
        memo->x = hs_cpu_scratch(ctx, op, "the LM-head memo's inputs", nc, sizeof(float));
        memo->expect = hs_cpu_scratch(ctx, op, "the LM-head memo's expectations", nc,
                                      sizeof(float));
        memo->capacity_nc = memo->x && memo->expect ? nc : 0;
        if (!memo->capacity_nc)
            return NULL;
    }
    if (n > memo->capacity_n) {
        free(memo->targets);
        free(memo->lse);
        memo->targets = hs_cpu_scratch(ctx, op, "the LM-head memo's targets", n, sizeof(int32_t));
        memo->lse = hs_cpu_scratch(ctx, op, "the LM-head memo's logsumexps", n, sizeof(float));
        memo->capacity_n = memo->targets && memo->lse ? n : 0;
        if (!memo->capacity_n)
            return NULL;
    }
    return memo;
}

static bool memo_matches(const hs_cpu_lm_head_memo *memo, const float *x, hs_table emb,
                         const int32_t *targets, const float *lse, int N, int C, int V)
{
    return memo && memo->valid && memo->emb == emb.data && memo->emb_dtype == emb.dtype &&
           memo->N == N && memo->C == C &&
           memo->V == V && memcmp(memo->x, x, (size_t)N * C * sizeof(float)) == 0 &&
           memcmp(memo->targets, targets, (size_t)N * sizeof(int32_t)) == 0 &&
           memcmp(memo->lse, lse, (size_t)N * sizeof(float)) == 0;
}

static int check_args(hs_backend_ctx *ctx, const char *op, hs_table emb, const int32_t *targets,
                      int N, int C, int V)
{
    if (N < 0 || C <= 0 || V <= 0)
        return hs_cpu_fail(ctx, "%s: bad shape N=%d C=%d V=%d (C and V must be positive)", op, N,
                           C, V);
    if (!hs_cpu_table_dtype_valid(emb.dtype))
        return hs_cpu_fail(ctx, "%s: unknown table dtype %d", op, (int)emb.dtype);
    if (!targets)
        return 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= V)
            return hs_cpu_fail(ctx, "%s: target %d at row %d is outside the vocabulary of %d",
                               op, targets[n], n, V);
    return 0;
}


/* Threads for a call over `chunks` chunks: no more than the context's, no more than chunks. */
static int chunk_threads(const hs_backend_ctx *ctx, int chunks)
{
    int t = ctx->threads > 0 ? ctx->threads : 1;
    return chunks < t ? chunks : t;
}

/* Vocabulary rows per chunk: as many as keep N rows of logits within
 * HS_CPU_LM_HEAD_CHUNK_BYTES, a multiple of 64 between HS_CPU_LM_HEAD_MIN_CHUNK and
 * HS_CPU_LM_HEAD_CHUNK, never more than V. */
static int chunk_rows(int N, int V)
{
    long long fit = (long long)HS_CPU_LM_HEAD_CHUNK_BYTES / sizeof(float) / (N > 0 ? N : 1);
    long long chunk = fit / 64 * 64;
    if (chunk < HS_CPU_LM_HEAD_MIN_CHUNK)
        chunk = HS_CPU_LM_HEAD_MIN_CHUNK;
    if (chunk > HS_CPU_LM_HEAD_CHUNK)
        chunk = HS_CPU_LM_HEAD_CHUNK;
    return chunk < V ? (int)chunk : V;
}

/* logits[N, width] (leading dimension ldl) = x · rowsᵀ, rows = emb[v0 : v0+width] as fp32 */
static int chunk_logits(hs_backend_ctx *ctx, float *logits, int ldl, const float *x,
                        const float *rows, int N, int C, int width)
{
    return hs_cpu_gemm(ctx, false, true, N, width, C, 1.0f, x, C, rows, C, 0.0f, logits, ldl);
}

/* Per-thread panels of chunk × C floats for the widened rows of a table that is not fp32, or
 * NULL (and nothing to free) when the table is fp32 and its rows are read in place. */
static float *alloc_panels(hs_backend_ctx *ctx, const char *op, hs_table emb, int threads,
                           int chunk, int C, bool *failed)
{
    *failed = false;
    if (emb.dtype == HS_TABLE_F32)
        return NULL;
    float *p = hs_cpu_scratch(ctx, op, "widened vocabulary chunks",
                              (size_t)threads * chunk * C, sizeof(float));
    *failed = p == NULL;
    return p;
}

/* The fp32 rows v0 .. v0+width−1 of emb for thread tid (widened into its panel if needed). */
static const float *chunk_rows_f32(hs_table emb, float *panels, int tid, int chunk, int C,
                                   int v0, int width)
{
    float *panel = panels ? panels + (size_t)tid * chunk * C : NULL;
    return hs_cpu_table_rows(emb, (size_t)v0, (size_t)width, C, panel);
}

/* One thread's running state over the chunks it has seen, per row. */
typedef struct {
    float *logits;  /* [N, chunk] scratch */
    float *max;     /* [N], −inf before the first chunk */
    double *sum;    /* [N], Σ exp(logit − max) */
    float *acc;     /* [N, C] Σ exp(logit − max)·emb[v], or NULL when not wanted */
} lse_partial;

/* Folds chunk v0..v0+width−1 into the thread's partial. With part->acc the chunk's logits
 * are left as exp(logit − max) and multiplied into acc. */
static int fold_chunk(hs_backend_ctx *ctx, lse_partial *part, const float *x, const float *rows,
                      const int32_t *targets, float *target_logit, int N, int C, int v0,
                      int width)
{
    if (chunk_logits(ctx, part->logits, width, x, rows, N, C, width) != 0)
        return -1;
    for (int n = 0; n < N; n++) {
        float *row = part->logits + (size_t)n * width;
        int t = targets[n];
        if (t >= v0 && t < v0 + width)
            target_logit[n] = row[t - v0]; /* each target lies in exactly one chunk */
        float chunk_max = row[0];
#pragma omp simd reduction(max : chunk_max)
        for (int j = 1; j < width; j++)
            chunk_max = row[j] > chunk_max ? row[j] : chunk_max;
        if (chunk_max > part->max[n]) {
            /* rescale what was summed against the old maximum (nothing before the first) */
            if (part->sum[n] != 0.0) {
                double rescale = exp((double)part->max[n] - chunk_max);
                part->sum[n] *= rescale;
                if (part->acc) {
                    float r = (float)rescale;
                    float *acc_row = part->acc + (size_t)n * C;
#pragma omp simd
                    for (int c = 0; c < C; c++)
                        acc_row[c] *= r;
                }
            }
            part->max[n] = chunk_max;
        }
        float m = part->max[n];
        double s = 0.0;
        if (part->acc) {
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < width; j++) {
                float e = hs_cpu_expf_nonpos(row[j] - m);
                row[j] = e;
                s += e;
            }
        } else {
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < width; j++)
                s += hs_cpu_expf_nonpos(row[j] - m);
        }
        part->sum[n] += s;
    }
    if (part->acc) /* acc[N, C] += exp(logits − max)[N, width] · emb[v0 : v0+width] */
        return hs_cpu_gemm(ctx, false, false, N, C, width, 1.0f, part->logits, width, rows, C,
                           1.0f, part->acc, C);
    return 0;
}

/* Scratch of one forward call: per-thread partials plus the target logits. */
typedef struct {
    float *logits, *maxes, *accs, *target_logit, *panels;
    double *sums;
} forward_scratch;

static void forward_scratch_free(forward_scratch *s)
{
    free(s->panels);
    free(s->logits);
    free(s->maxes);
    free(s->accs);
    free(s->target_logit);
    free(s->sums);
}

static int forward_scratch_alloc(hs_backend_ctx *ctx, const char *op, forward_scratch *s,
                                 hs_table emb, int threads, int N, int C, int chunk,
                                 bool with_acc)
{
    size_t tn = (size_t)threads * N;
    bool panels_failed;
    s->panels = alloc_panels(ctx, op, emb, threads, chunk, C, &panels_failed);
    if (panels_failed)
        return -1;
    s->logits = hs_cpu_scratch(ctx, op, "vocabulary chunks of logits", tn * chunk, sizeof(float));
    s->maxes = hs_cpu_scratch(ctx, op, "running maxima", tn, sizeof(float));
    s->sums = hs_cpu_scratch(ctx, op, "running sums", tn, sizeof(double));
    s->target_logit = hs_cpu_scratch(ctx, op, "target logits", (size_t)N, sizeof(float));
    s->accs = with_acc ? hs_cpu_scratch(ctx, op, "per-thread softmax·emb accumulators",
                                        tn * C, sizeof(float))
                       : NULL;
    if (!s->logits || !s->maxes || !s->sums || !s->target_logit || (with_acc && !s->accs)) {
        forward_scratch_free(s);
        return -1;
    }
    for (size_t i = 0; i < tn; i++) {
        s->maxes[i] = -INFINITY;
        s->sums[i] = 0.0;
    }
    memset(s->target_logit, 0, (size_t)N * sizeof(float));
    if (s->accs)
        memset(s->accs, 0, tn * C * sizeof(float));
    return 0;
}

int hs_cpu_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                       hs_table emb, const int32_t *targets, int N, int C, int V)
{
    if (!ctx)
        return -1;
    const char *op = "cpu lm_head_nll";
    if (N > 0 && (!nll || !x || !emb.data || !targets))
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !nll ? "nll" : !x ? "x" : !emb.data ? "emb" : "targets");
    if (check_args(ctx, op, emb, targets, N, C, V) != 0)
        return -1;
    if (ctx->lm_head_memo)
        ctx->lm_head_memo->valid = false;
    if (N == 0)
        return 0;

    /* with lse a backward follows: accumulate the softmax-weighted embeddings it needs */
    bool with_memo = lse != NULL;
    hs_cpu_lm_head_memo *memo = with_memo ? memo_reserve(ctx, op, N, C) : NULL;
    if (with_memo && !memo)
        return -1;
    int chunk = chunk_rows(N, V);
    int chunks = (V + chunk - 1) / chunk;
    int threads = chunk_threads(ctx, chunks);
    forward_scratch s = {0};
    if (forward_scratch_alloc(ctx, op, &s, emb, threads, N, C, chunk, with_memo) != 0)
        return -1;
    const size_t NC = (size_t)N * C;

    int failed = 0;
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : failed)
    for (int c = 0; c < chunks; c++) {
        int tid = hs_cpu_thread_index();
        lse_partial part = {s.logits + (size_t)tid * N * chunk, s.maxes + (size_t)tid * N,
                            s.sums + (size_t)tid * N, s.accs ? s.accs + (size_t)tid * NC : NULL};
        int v0 = c * chunk;
        int width = V - v0 < chunk ? V - v0 : chunk;
        const float *rows = chunk_rows_f32(emb, s.panels, tid, chunk, C, v0, width);
        failed |= fold_chunk(ctx, &part, x, rows, targets, s.target_logit, N, C, v0, width) != 0;
    }
    hs_cpu_blas_single_thread_end();
    if (failed) {
        forward_scratch_free(&s);
        return -1;
    }

    /* merge the threads' partials: lse = M + ln Σ_t sum_t·exp(max_t − M), and
     * E = Σ_t acc_t·exp(max_t − M) / Σ_t sum_t·exp(max_t − M) */
#pragma omp parallel for schedule(static) if (with_memo && NC >= PARALLEL_MIN_ELEMENTS)
    for (int n = 0; n < N; n++) {
        float m = -INFINITY;
        for (int t = 0; t < threads; t++)
            m = s.maxes[(size_t)t * N + n] > m ? s.maxes[(size_t)t * N + n] : m;
        double weight[threads];
        double total = 0.0;
        for (int t = 0; t < threads; t++) {
            double sum_t = s.sums[(size_t)t * N + n];
            weight[t] = sum_t != 0.0 ? exp((double)s.maxes[(size_t)t * N + n] - m) : 0.0;
            total += sum_t * weight[t];
        }
        float row_lse = (float)((double)m + log(total));
        if (lse)
            lse[n] = row_lse;
        nll[n] = targets[n] >= 0 ? row_lse - s.target_logit[n] : 0.0f;
        if (with_memo) {
            float *e = memo->expect + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                double v = 0.0;
                for (int t = 0; t < threads; t++)
                    v += weight[t] * s.accs[(size_t)t * NC + (size_t)n * C + c];
                e[c] = (float)(v / total);
            }
        }
    }
    forward_scratch_free(&s);
    if (with_memo) {
        memcpy(memo->x, x, NC * sizeof(float));
        memcpy(memo->targets, targets, (size_t)N * sizeof(int32_t));
        memcpy(memo->lse, lse, (size_t)N * sizeof(float));
        memo->emb = emb.data;
        memo->emb_dtype = emb.dtype;
        memo->N = N;
        memo->C = C;
        memo->V = V;
        memo->valid = true;
    }
    return 0;
}

/* dx = scale·(E − emb[target]) per row from the memo; rows with a negative target get 0. */
static void backward_from_memo(const hs_cpu_lm_head_memo *memo, float *dx, hs_table emb,
                               const int32_t *targets, float scale, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN_ELEMENTS)
    for (int n = 0; n < N; n++) {
        float *row = dx + (size_t)n * C;
        int t = targets[n];
        if (t < 0) {
            memset(row, 0, (size_t)C * sizeof(float));
            continue;
        }
        const float *e = memo->expect + (size_t)n * C;
        /* the target's row, widened into dx's own row when the table is not fp32 */
        const float *target_row = hs_cpu_table_rows(emb, (size_t)t, 1, C, row);
#pragma omp simd
        for (int c = 0; c < C; c++)
            row[c] = scale * (e[c] - target_row[c]);
    }
}

int hs_cpu_lm_head_nll_backward(hs_backend_ctx *ctx, float *dx, const float *x, hs_table emb,
                                const int32_t *targets, const float *lse, float scale, int N,
                                int C, int V)
{
    if (!ctx)
        return -1;
    const char *op = "cpu lm_head_nll_backward";
    if (N > 0 && (!dx || !x || !emb.data || !targets || !lse))
        return hs_cpu_fail(ctx, "%s: %s is NULL", op,
                           !dx    ? "dx"
                           : !x   ? "x"
                           : !emb.data ? "emb"
                           : !targets ? "targets"
                                      : "lse (from lm_head_nll())");
    if (check_args(ctx, op, emb, targets, N, C, V) != 0)
        return -1;
    if (N == 0)
        return 0;

    if (memo_matches(ctx->lm_head_memo, x, emb, targets, lse, N, C, V)) {
        backward_from_memo(ctx->lm_head_memo, dx, emb, targets, scale, N, C);
        return 0;
    }

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
    bool panels_failed;
    float *panels = alloc_panels(ctx, op, emb, threads, chunk, C, &panels_failed);
    if (!grad || (threads > 1 && !partials) || panels_failed) {
        free(grad);
        free(partials);
        free(panels);
        return -1;
    }
    if (partials)
        memset(partials, 0, (size_t)(threads - 1) * NC * sizeof(float));

    int failed = 0;
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : failed)
    for (int c = 0; c < chunks; c++) {
        int tid = hs_cpu_thread_index();
        float *g = grad + (size_t)tid * N * chunk;
        float *acc = tid == 0 ? dx : partials + (size_t)(tid - 1) * NC;
        int v0 = c * chunk;
        int width = V - v0 < chunk ? V - v0 : chunk;
        const float *rows = chunk_rows_f32(emb, panels, tid, chunk, C, v0, width);
        if (chunk_logits(ctx, g, width, x, rows, N, C, width) != 0) {
            failed = 1;
            continue;
        }
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
        failed |= hs_cpu_gemm(ctx, false, false, N, C, width, 1.0f, g, width, rows, C, 1.0f, acc,
                              C) != 0;
    }
    hs_cpu_blas_single_thread_end();
    if (failed) {
        free(grad);
        free(partials);
        free(panels);
        return -1;
    }

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
    free(panels);
    return 0;
}

int hs_cpu_lm_head_logits(hs_backend_ctx *ctx, float *logits, const float *x, hs_table emb,
                          int N, int C, int V)
{
    if (!ctx)
        return -1;
    const char *op = "cpu lm_head_logits";
    if (N > 0 && (!logits || !x || !emb.data))
        return hs_cpu_fail(ctx, "%s: %s is NULL", op, !logits ? "logits" : !x ? "x" : "emb");
    if (check_args(ctx, op, emb, NULL, N, C, V) != 0)
        return -1;
    if (N == 0)
        return 0;
    /* in chunks whatever the dtype, so an fp32 table and its fp16/bf16 original give the
     * same bits (each chunk is the same sgemm on the same values) */
    int chunk = chunk_rows(N, V);
    int chunks = (V + chunk - 1) / chunk;
    int threads = chunk_threads(ctx, chunks);
    bool panels_failed;
    float *panels = alloc_panels(ctx, op, emb, threads, chunk, C, &panels_failed);
    if (panels_failed)
        return -1;
    int failed = 0;
    hs_cpu_blas_single_thread_begin();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : failed)
    for (int c = 0; c < chunks; c++) {
        int tid = hs_cpu_thread_index();
        int v0 = c * chunk;
        int width = V - v0 < chunk ? V - v0 : chunk;
        const float *rows = chunk_rows_f32(emb, panels, tid, chunk, C, v0, width);
        failed |= chunk_logits(ctx, logits + v0, V, x, rows, N, C, width) != 0;
    }
    hs_cpu_blas_single_thread_end();
    free(panels);
    return failed ? -1 : 0;
}
