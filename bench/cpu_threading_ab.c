/* A/B timings of two CPU-backend design choices at BLOOM-560m shapes (T=512, C=1024, H=16,
 * V=250880 by default), each pair run interleaved in one process so machine load hits both
 * sides alike. Not a test: prints medians, asserts nothing except that both sides agree.
 *
 *   block:   one BLOOM block forward (layernorm, QKV, attention+stats, dense, residual, MLP) with
 *            the backend's GEMM (OpenBLAS on one thread, one panel per OpenMP thread) against
 *            the same ops with every GEMM a plain cblas_sgemm on OpenBLAS's own thread pool
 *            (the bias added afterwards) — the two-pool arrangement the backend had before.
 *   lm_head: one training step's LM head (lm_head_nll with lse, then lm_head_nll_backward):
 *            the backend's fused forward (logits and softmax·emb in one pass, backward from the
 *            memo) against forward without the memo plus a backward that recomputes the logits
 *            (three vocabulary-sized sgemms). Also prints max |dx_A − dx_B|.
 *
 * Build and run from the repo root (OMP_NUM_THREADS sets the threads of both sides):
 *   cc -std=c11 -D_GNU_SOURCE -O3 -march=x86-64-v3 -fopenmp -Ikernels \
 *      $(pkg-config --cflags openblas) bench/cpu_threading_ab.c kernels/cpu/cpu_[a-z]*.c \
 *      kernels/alibi_slopes.c -o build/cpu_threading_ab \
 *      $(pkg-config --libs openblas) -lm
 *   ./build/cpu_threading_ab [block|panels|lm_head|all] [repeats] [vocab]
 * (panels: the panelled GEMM against one plain cblas_sgemm at shapes cut both ways.) */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ALiBi slopes 2^(−8k/H) for a power-of-two H (the value the kernels see; which family's
 * rule produced them does not change an op's cost). */
static void bench_alibi_slopes(int H, float *slopes)
{
    for (int k = 1; k <= H; k++)
        slopes[k - 1] = exp2f(-8.0f * (float)k / (float)H);
}

static double now_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_buffer(size_t n, unsigned seed, float scale)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "cpu_threading_ab: cannot allocate %zu floats\n", n);
        exit(1);
    }
    srand(seed);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * ((float)rand() / (float)RAND_MAX * 2.0f - 1.0f);
    return p;
}

static void check(int rc, hs_backend_ctx *ctx, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "cpu_threading_ab: %s failed: %s\n", what, hs_cpu_backend.last_error(ctx));
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- block forward: backend GEMM vs OpenBLAS's own threads -------------------------------- */

typedef struct {
    int T, C, H, d;
    float *x, *ln, *mean, *rstd, *qkv, *attn, *proj, *h4, *g4;
    float *w_qkv, *b_qkv, *w_dense, *b_dense, *w_up, *b_up, *w_down, *b_down, *lnw, *lnb;
    float *stats, *slopes;
} block_bufs;

/* y[N,out] = x·Wᵀ + b: the backend's matmul (pooled = false) or a plain cblas_sgemm on
 * OpenBLAS's thread pool followed by a serial bias pass (pooled = true). */
static void linear(hs_backend_ctx *ctx, bool pooled, float *y, const float *x, const float *w,
                   const float *b, int N, int out, int in)
{
    if (!pooled) {
        check(hs_cpu_backend.matmul(ctx, y, x, w, b, N, out, in, false, true, in, in, out, 1.0f,
                                    0.0f),
              ctx, "matmul");
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, w, in, 0.0f, y,
                out);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < out; j++)
            y[(size_t)i * out + j] += b[j];
}

static void block_forward(hs_backend_ctx *ctx, block_bufs *s, bool pooled)
{
    const int T = s->T, C = s->C;
    const size_t TC = (size_t)T * C;
    check(hs_cpu_backend.layernorm(ctx, s->ln, s->mean, s->rstd, s->x, s->lnw, s->lnb, T, C,
                                   1e-5f),
          ctx, "layernorm");
    linear(ctx, pooled, s->qkv, s->ln, s->w_qkv, s->b_qkv, T, 3 * C, C);
    check(hs_cpu_backend.attention(ctx, s->attn, NULL, s->stats, s->qkv, s->slopes, 1, T, s->H,
                                   s->d),
          ctx, "attention");
    linear(ctx, pooled, s->proj, s->attn, s->w_dense, s->b_dense, T, C, C);
    check(hs_cpu_backend.add(ctx, s->proj, s->x, s->proj, TC), ctx, "add");
    check(hs_cpu_backend.layernorm(ctx, s->ln, s->mean, s->rstd, s->proj, s->lnw, s->lnb, T, C,
                                   1e-5f),
          ctx, "layernorm");
    linear(ctx, pooled, s->h4, s->ln, s->w_up, s->b_up, T, 4 * C, C);
    check(hs_cpu_backend.gelu(ctx, s->g4, s->h4, 4 * TC, HS_GELU_TANH), ctx, "gelu");
    linear(ctx, pooled, s->attn, s->g4, s->w_down, s->b_down, T, C, 4 * C);
    check(hs_cpu_backend.add(ctx, s->attn, s->proj, s->attn, TC), ctx, "add");
}

static void bench_block(hs_backend_ctx *ctx, int repeats, int threads)
{
    block_bufs s = {.T = 512, .C = 1024, .H = 16, .d = 64};
    const size_t TC = (size_t)s.T * s.C, CC = (size_t)s.C * s.C;
    const float w_scale = 1.0f / 32.0f; /* ~1/sqrt(C): activations stay O(1) */
    s.x = random_buffer(TC, 1, 1.0f);
    s.ln = random_buffer(TC, 2, 1.0f);
    s.mean = random_buffer((size_t)s.T, 3, 1.0f);
    s.rstd = random_buffer((size_t)s.T, 4, 1.0f);
    s.qkv = random_buffer(3 * TC, 5, 1.0f);
    s.attn = random_buffer(TC, 6, 1.0f);
    s.proj = random_buffer(TC, 7, 1.0f);
    s.h4 = random_buffer(4 * TC, 8, 1.0f);
    s.g4 = random_buffer(4 * TC, 9, 1.0f);
    s.w_qkv = random_buffer(3 * CC, 10, w_scale);
    s.b_qkv = random_buffer(3 * (size_t)s.C, 11, 0.1f);
    s.w_dense = random_buffer(CC, 12, w_scale);
    s.b_dense = random_buffer((size_t)s.C, 13, 0.1f);
    s.w_up = random_buffer(4 * CC, 14, w_scale);
    s.b_up = random_buffer(4 * (size_t)s.C, 15, 0.1f);
    s.w_down = random_buffer(4 * CC, 16, w_scale / 2);
    s.b_down = random_buffer((size_t)s.C, 17, 0.1f);
    s.lnw = random_buffer((size_t)s.C, 18, 1.0f);
    s.lnb = random_buffer((size_t)s.C, 19, 0.1f);
    s.stats = random_buffer((size_t)s.H * HS_STAT_COUNT, 20, 1.0f);
    s.slopes = random_buffer((size_t)s.H, 21, 1.0f);
    bench_alibi_slopes(s.H, s.slopes);

    double *wall[2], *cpu[2];
    for (int v = 0; v < 2; v++) {
        wall[v] = calloc((size_t)repeats, sizeof(double));
        cpu[v] = calloc((size_t)repeats, sizeof(double));
    }
    float *out[2] = {malloc(TC * sizeof(float)), malloc(TC * sizeof(float))};
    /* the backend's matmul holds OpenBLAS to one thread for the duration of each call; the
     * two-pool side calls cblas_sgemm directly with OpenBLAS's own pool of `threads` */
    openblas_set_num_threads(threads);
    for (int r = -1; r < repeats; r++) {
        for (int v = 0; v < 2; v++) {
            bool pooled = v == 1;
            double w0 = now_seconds(CLOCK_MONOTONIC), c0 = now_seconds(CLOCK_PROCESS_CPUTIME_ID);
            block_forward(ctx, &s, pooled);
            double w1 = now_seconds(CLOCK_MONOTONIC), c1 = now_seconds(CLOCK_PROCESS_CPUTIME_ID);
            memcpy(out[v], s.attn, TC * sizeof(float));
            if (r >= 0) {
                wall[v][r] = w1 - w0;
                cpu[v][r] = c1 - c0;
            }
        }
    }
    double diff = 0.0;
    for (size_t i = 0; i < TC; i++)
        diff = fmax(diff, fabs((double)out[0][i] - out[1][i]));
    const char *names[2] = {"one pool (backend matmul, OpenBLAS on 1 thread)",
                            "two pools (OpenBLAS's threads + OpenMP)     "};
    printf("block forward T=%d, %d threads, median of %d interleaved runs:\n", s.T, threads,
           repeats);
    for (int v = 0; v < 2; v++)
        printf("  %s  wall %7.1f ms  cpu %7.1f ms\n", names[v], 1e3 * median(wall[v], repeats),
               1e3 * median(cpu[v], repeats));
    printf("  max |out_A − out_B| = %.3g\n", diff);
    for (int v = 0; v < 2; v++)
        free(wall[v]), free(cpu[v]), free(out[v]);
    float *all[] = {s.x,     s.ln,      s.mean,    s.rstd,   s.qkv,  s.attn,   s.proj,
                    s.h4,    s.g4,      s.w_qkv,   s.b_qkv,  s.w_dense, s.b_dense, s.w_up,
                    s.b_up,  s.w_down,  s.b_down,  s.lnw,    s.lnb,  s.stats,  s.slopes};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* ---- LM head of a training step: memo vs recompute --------------------------------------- */

static void bench_lm_head(hs_backend_ctx *ctx, int repeats, int V)
{
    enum { N = 512, C = 1024 };
    float *x = random_buffer((size_t)N * C, 31, 1.0f);
    float *emb = random_buffer((size_t)V * C, 32, 0.05f);
    float *nll = malloc(N * sizeof(float)), *lse = malloc(N * sizeof(float));
    float *dx[2] = {malloc((size_t)N * C * sizeof(float)), malloc((size_t)N * C * sizeof(float))};
    int32_t *targets = malloc(N * sizeof(int32_t));
    if (!nll || !lse || !dx[0] || !dx[1] || !targets) {
        fprintf(stderr, "cpu_threading_ab: out of memory\n");
        exit(1);
    }
    srand(33);
    for (int n = 0; n < N; n++)
        targets[n] = n + 1 < N ? rand() % V : -1;
    const float scale = 1.0f / (N - 1);
    double *wall[2], *cpu[2];
    for (int v = 0; v < 2; v++) {
        wall[v] = calloc((size_t)repeats, sizeof(double));
        cpu[v] = calloc((size_t)repeats, sizeof(double));
    }
    for (int r = -1; r < repeats; r++) {
        for (int v = 0; v < 2; v++) {
            double w0 = now_seconds(CLOCK_MONOTONIC), c0 = now_seconds(CLOCK_PROCESS_CPUTIME_ID);
            if (v == 0) { /* fused: forward keeps the memo, backward reads it */
                check(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, N, C, V), ctx,
                      "lm_head_nll (memo)");
            } else { /* forward without lse (one sgemm, drops the memo), recomputing backward */
                check(hs_cpu_backend.lm_head_nll(ctx, nll, NULL, x, hs_table_f32(emb), targets, N, C, V), ctx,
                      "lm_head_nll");
            }
            check(hs_cpu_backend.lm_head_nll_backward(ctx, dx[v], x, hs_table_f32(emb), targets, lse, scale, N,
                                                      C, V),
                  ctx, "lm_head_nll_backward");
            double w1 = now_seconds(CLOCK_MONOTONIC), c1 = now_seconds(CLOCK_PROCESS_CPUTIME_ID);
            if (r >= 0) {
                wall[v][r] = w1 - w0;
                cpu[v][r] = c1 - c0;
            }
        }
    }
    double diff = 0.0, mag = 0.0;
    for (size_t i = 0; i < (size_t)N * C; i++) {
        diff = fmax(diff, fabs((double)dx[0][i] - dx[1][i]));
        mag = fmax(mag, fabs((double)dx[1][i]));
    }
    double flop = 2.0 * N * (double)V * C;
    printf("LM head training step N=%d C=%d V=%d, median of %d interleaved runs:\n", N, C, V,
           repeats);
    const char *names[2] = {"fused forward + backward from memo (2 sgemm passes)",
                            "forward + recomputing backward     (3 sgemm passes)"};
    for (int v = 0; v < 2; v++) {
        double w = median(wall[v], repeats);
        printf("  %s  wall %8.1f ms  cpu %8.1f ms  (%.1f GFLOP/s over its passes)\n", names[v],
               1e3 * w, 1e3 * median(cpu[v], repeats), (v == 0 ? 2 : 3) * flop / w / 1e9);
    }
    printf("  max |dx_memo − dx_recompute| = %.3g (max |dx| %.3g)\n", diff, mag);
    for (int v = 0; v < 2; v++)
        free(wall[v]), free(cpu[v]), free(dx[v]);
    free(x), free(emb), free(nll), free(lse), free(targets);
}

/* ---- panel check: the backend's panelled GEMM against one plain cblas_sgemm --------------- */

/* Shapes the unit tests' small matrices never cut into panels, both cut directions, every
 * transpose, with bias and beta; prints max |difference| / (max |C| + 1) per shape. */
static void check_panels(hs_backend_ctx *ctx)
{
    const int shapes[][3] = {
        {1024, 64, 512}, {4096, 1024, 512}, {700, 130, 300}, {512, 3072, 1024}};
    printf("panelled matmul vs one cblas_sgemm (relative max difference):\n");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                float *a = random_buffer((size_t)M * K, 41, 1.0f);
                float *b = random_buffer((size_t)N * K, 42, 1.0f);
                float *bias = random_buffer((size_t)N, 43, 1.0f);
                float *c = random_buffer((size_t)M * N, 44, 1.0f);
                float *ref = malloc((size_t)M * N * sizeof(float));
                memcpy(ref, c, (size_t)M * N * sizeof(float));
                int lda = ta ? M : K, ldb = tb ? K : N;
                check(hs_cpu_backend.matmul(ctx, c, a, b, bias, M, N, K, ta, tb, lda, ldb, N, 0.5f,
                                            -0.75f),
                      ctx, "matmul");
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, M, N, K, 0.5f, a, lda, b, ldb, -0.75f,
                            ref, N);
                double diff = 0.0, mag = 0.0;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double want = (double)ref[(size_t)i * N + j] + bias[j];
                        diff = fmax(diff, fabs(c[(size_t)i * N + j] - want));
                        mag = fmax(mag, fabs(want));
                    }
                printf("  M=%4d N=%4d K=%4d ta=%d tb=%d: %.3g\n", M, N, K, ta, tb,
                       diff / (mag + 1.0));
                free(a), free(b), free(bias), free(c), free(ref);
            }
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    int V = argc > 3 ? atoi(argv[3]) : 250880;
    if (repeats < 1 || V < 1) {
        fprintf(stderr, "usage: %s [block|panels|lm_head|all] [repeats >= 1] [vocab >= 1]\n",
                argv[0]);
        return 2;
    }
    char err[HS_OP_ERROR_LEN];
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "cpu_threading_ab: %s\n", err);
        return 1;
    }
    printf("%s\n", hs_cpu_backend.describe(ctx));
    bool all = strcmp(which, "all") == 0;
    if (all || strcmp(which, "block") == 0)
        bench_block(ctx, repeats, omp_get_max_threads());
    if (all || strcmp(which, "panels") == 0)
        check_panels(ctx);
    if (all || strcmp(which, "lm_head") == 0)
        bench_lm_head(ctx, repeats, V);
    hs_cpu_backend.shutdown(ctx);
    return 0;
}
