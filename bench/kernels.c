/* CPU backend op timings at BLOOM-560m shapes (T=512 rows, C=1024, H=16, d=64), each beside a
 * plain cblas_sgemm loop on the same shapes in the same run, so the ratio is independent of how
 * loaded the machine is; `decode` times a decode step's GEMMs (1-32 rows) over weights
 * streamed from memory against OpenBLAS; `bf16` times the same GEMMs and the LM head in bf16 precision
 * (set_precision, oneDNN) against fp32 in the same run. Standalone; not built by `make test`.
 * Build and run from the repo root (drop -DHS_HAVE_ONEDNN and -ldnnl without libdnnl-dev):
 *
 *   cc -std=c11 -D_GNU_SOURCE -O3 -march=x86-64-v3 -fopenmp -Ikernels -DHS_HAVE_ONEDNN \
 *      $(pkg-config --cflags openblas) bench/kernels.c kernels/cpu/cpu_[a-z]*.c \
 *      -o build/bench_kernels $(pkg-config --libs openblas) -ldnnl -lm
 *   ./build/bench_kernels [repeats] [all|gemm|attention|rowwise|block|lm_head|decode|bf16]
 *
 * Every figure is the best of `repeats` runs (default 5). Timings are printed, never asserted. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
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

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_buffer(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench: cannot allocate %zu floats\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    return p;
}

static void check(int rc, hs_backend_ctx *ctx, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench: %s failed: %s\n", what, hs_cpu_backend.last_error(ctx));
        exit(1);
    }
}

typedef struct {
    const char *name;
    int M, N, K;
    bool trans_a, trans_b;
    bool bias;
} gemm_case;

static void bench_gemm(hs_backend_ctx *ctx, const gemm_case *g, int repeats)
{
    int M = g->M, N = g->N, K = g->K;
    int lda = g->trans_a ? M : K, ldb = g->trans_b ? K : N;
    float *a = random_buffer((size_t)M * K, 1), *b = random_buffer((size_t)K * N, 2);
    float *c = random_buffer((size_t)M * N, 3), *bias = random_buffer((size_t)N, 4);
    double flops = 2.0 * M * N * K;
    double best_ours = 1e30, best_blas = 1e30;
    for (int r = 0; r < repeats + 1; r++) { /* first round warms up */
        double t0 = now_seconds();
        check(hs_cpu_backend.matmul(ctx, c, a, b, g->bias ? bias : NULL, M, N, K, g->trans_a,
                                    g->trans_b, lda, ldb, N, 1.0f, 0.0f),
              ctx, g->name);
        double t1 = now_seconds();
        cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                    g->trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c,
                    N);
        double t2 = now_seconds();
        if (r > 0) {
            best_ours = t1 - t0 < best_ours ? t1 - t0 : best_ours;
            best_blas = t2 - t1 < best_blas ? t2 - t1 : best_blas;
        }
    }
    printf("%-34s M=%4d N=%4d K=%4d  ours %7.1f GFLOP/s  sgemm %7.1f GFLOP/s  ratio %.2f\n",
           g->name, M, N, K, flops / best_ours * 1e-9, flops / best_blas * 1e-9,
           best_blas / best_ours);
    free(a), free(b), free(c), free(bias);
}

/* Decode-step GEMMs as a decode step meets them: a few rows against weights that are not in
 * cache. `mats` matrices of [4096, 1024] (nn.Linear layout, x·Wᵀ) are walked in turn, far more
 * bytes than the last-level cache holds, so every pass streams them from memory; matmul()
 * (few-rows kernel up to 16 rows, column panels per thread) against OpenBLAS with its own
 * threads (sgemv at one row, sgemm above) on the same matrices, interleaved per pass. */
static void bench_decode_stream(hs_backend_ctx *ctx, int mats, int repeats)
{
    enum { N = 4096, K = 1024, MAX_ROWS = 32 };
    float **w = malloc((size_t)mats * sizeof *w);
    if (!w) {
        fprintf(stderr, "bench: decode weights\n");
        exit(1);
    }
    for (int i = 0; i < mats; i++)
        w[i] = random_buffer((size_t)N * K, 100u + (unsigned)i);
    float *x = random_buffer((size_t)MAX_ROWS * K, 9), *y = random_buffer((size_t)MAX_ROWS * N, 10);
    double gib = (double)mats * N * K * sizeof(float) / (1 << 30);
    printf("decode GEMMs, x·Wᵀ over %d matrices of %dx%d (%.2f GiB, streamed from memory):\n",
           mats, N, K, gib);
    static const int rows[] = {1, 2, 4, 8, 16, 32};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        int M = rows[r];
        double best_ours = 1e30, best_blas = 1e30;
        for (int rep = 0; rep < repeats + 1; rep++) { /* first round warms up */
            double t0 = now_seconds();
            for (int i = 0; i < mats; i++)
                check(hs_cpu_backend.matmul(ctx, y, x, w[i], NULL, M, N, K, false, true, K, K, N,
                                            1.0f, 0.0f),
                      ctx, "decode matmul");
            double t1 = now_seconds();
            for (int i = 0; i < mats; i++) {
                if (M == 1)
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w[i], K, x, 1, 0.0f, y, 1);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w[i],
                                K, 0.0f, y, N);
            }
            double t2 = now_seconds();
            if (rep > 0) {
                best_ours = t1 - t0 < best_ours ? t1 - t0 : best_ours;
                best_blas = t2 - t1 < best_blas ? t2 - t1 : best_blas;
            }
        }
        printf("  rows %2d  ours %7.1f ms (%5.1f GB/s)  OpenBLAS %-5s %7.1f ms (%5.1f GB/s)  "
               "ratio %.2f\n",
               M, best_ours * 1e3, gib * (1 << 30) / best_ours * 1e-9, M == 1 ? "sgemv" : "sgemm",
               best_blas * 1e3, gib * (1 << 30) / best_blas * 1e-9, best_blas / best_ours);
    }
    for (int i = 0; i < mats; i++)
        free(w[i]);
    free(w), free(x), free(y);
}

static void bench_attention(hs_backend_ctx *ctx, int T, int H, int d, int repeats)
{
    size_t nqkv = (size_t)T * 3 * H * d, nout = (size_t)T * H * d;
    float *qkv = random_buffer(nqkv, 5), *out = random_buffer(nout, 6);
    float *dout = random_buffer(nout, 7), *dqkv = random_buffer(nqkv, 8);
    float *probs = malloc((size_t)H * T * T * sizeof(float));
    float *stats = malloc((size_t)H * HS_STAT_COUNT * sizeof(float));
    float slopes[256];
    if (!probs || !stats || H > 256) {
        fprintf(stderr, "bench: attention buffers\n");
        exit(1);
    }
    for (size_t i = 0; i < nqkv; i++)
        qkv[i] *= 4.0f;
    bench_alibi_slopes(H, slopes);
    /* useful causal work: Q·Kᵀ and P·V over T(T+1)/2 pairs, 2 flops per multiply-add */
    double fwd_flops = 2.0 * 2.0 * H * (T * (T + 1.0) / 2.0) * d;
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < repeats + 1; r++) {
        double t0 = now_seconds();
        check(hs_cpu_backend.attention(ctx, out, NULL, stats, qkv, slopes, 1, T, H, d), ctx,
              "attention (stats)");
        double t1 = now_seconds();
        check(hs_cpu_backend.attention(ctx, out, probs, NULL, qkv, slopes, 1, T, H, d), ctx,
              "attention (probs)");
        double t2 = now_seconds();
        check(hs_cpu_backend.attention_backward(ctx, dqkv, dout, qkv, probs, slopes, NULL, 1, T,
                                                H, d),
              ctx, "attention_backward (probs)");
        double t3 = now_seconds();
        check(hs_cpu_backend.attention_backward(ctx, dqkv, dout, qkv, NULL, slopes, NULL, 1, T, H,
                                                d),
              ctx, "attention_backward (recompute)");
        double t4 = now_seconds();
        if (r == 0)
            continue;
        double t[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
        for (int i = 0; i < 4; i++)
            best[i] = t[i] < best[i] ? t[i] : best[i];
    }
    /* backward: dV, dP, dQ, dK are four products of the forward's size */
    printf("attention T=%d H=%d d=%d  fwd+stats %.2f ms (%.1f GFLOP/s)  fwd+probs %.2f ms  "
           "bwd(probs) %.2f ms (%.1f GFLOP/s)  bwd(recompute) %.2f ms\n",
           T, H, d, best[0] * 1e3, fwd_flops / best[0] * 1e-9, best[1] * 1e3, best[2] * 1e3,
           2 * fwd_flops / best[2] * 1e-9, best[3] * 1e3);
    free(qkv), free(out), free(dout), free(dqkv), free(probs), free(stats);
}

static void bench_lm_head(hs_backend_ctx *ctx, int N, int C, int V, int repeats)
{
    float *x = random_buffer((size_t)N * C, 9), *emb = random_buffer((size_t)V * C, 10);
    float *nll = malloc((size_t)N * sizeof(float)), *lse = malloc((size_t)N * sizeof(float));
    float *dx = malloc((size_t)N * C * sizeof(float));
    int32_t *targets = malloc((size_t)N * sizeof(int32_t));
    if (!nll || !lse || !dx || !targets) {
        fprintf(stderr, "bench: lm_head buffers\n");
        exit(1);
    }
    for (int n = 0; n < N; n++)
        targets[n] = (n * 7919) % V;
    double flops = 2.0 * N * (double)V * C;
    double best_f = 1e30, best_b = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_seconds();
        check(hs_cpu_backend.lm_head_nll(ctx, nll, lse, x, hs_table_f32(emb), targets, N, C, V), ctx,
              "lm_head_nll");
        double t1 = now_seconds();
        check(hs_cpu_backend.lm_head_nll_backward(ctx, dx, x, hs_table_f32(emb), targets, lse, 1.0f / N, N, C,
                                                  V),
              ctx, "lm_head_nll_backward");
        double t2 = now_seconds();
        best_f = t1 - t0 < best_f ? t1 - t0 : best_f;
        best_b = t2 - t1 < best_b ? t2 - t1 : best_b;
    }
    printf("lm_head N=%d C=%d V=%d  nll %.1f ms (%.1f GFLOP/s)  backward %.1f ms (%.1f GFLOP/s)\n",
           N, C, V, best_f * 1e3, flops / best_f * 1e-9, best_b * 1e3,
           2 * flops / best_b * 1e-9);
    free(x), free(emb), free(nll), free(lse), free(dx), free(targets);
}

static void bench_rowwise(hs_backend_ctx *ctx, int repeats)
{
    int N = 512, C = 1024;
    size_t big = (size_t)N * 4 * C;
    float *x = random_buffer(big, 11), *y = random_buffer(big, 12), *w = random_buffer(C, 13);
    float *b = random_buffer(C, 14), *mean = malloc(N * sizeof(float)),
          *rstd = malloc(N * sizeof(float));
    if (!mean || !rstd)
        exit(1);
    double best_ln = 1e30, best_gelu = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        double t0 = now_seconds();
        check(hs_cpu_backend.layernorm(ctx, y, mean, rstd, x, w, b, N, C, 1e-5f), ctx,
              "layernorm");
        double t1 = now_seconds();
        check(hs_cpu_backend.gelu(ctx, y, x, big, HS_GELU_TANH), ctx, "gelu");
        double t2 = now_seconds();
        if (r == 0)
            continue;
        best_ln = t1 - t0 < best_ln ? t1 - t0 : best_ln;
        best_gelu = t2 - t1 < best_gelu ? t2 - t1 : best_gelu;
    }
    printf("layernorm [%d,%d] %.3f ms   gelu [%d,%d] %.3f ms\n", N, C, best_ln * 1e3, N, 4 * C,
           best_gelu * 1e3);
    free(x), free(y), free(w), free(b), free(mean), free(rstd);
}

/* One BLOOM block forward at 560m shape (T tokens), op by op as the engine runs it, with each
 * op's share of the block's time: where a diagnosis pass spends it. */
static void bench_block(hs_backend_ctx *ctx, int T, int repeats)
{
    enum { C = 1024, H = 16, D = 64, OPS = 10 };
    size_t TC = (size_t)T * C;
    float *x = random_buffer(TC, 20), *ln = random_buffer(TC, 21), *mean = random_buffer(T, 22);
    float *rstd = random_buffer(T, 23), *qkv = random_buffer(3 * TC, 24);
    float *attn = random_buffer(TC, 25), *proj = random_buffer(TC, 26);
    float *h4 = random_buffer(4 * TC, 27), *g4 = random_buffer(4 * TC, 28);
    float *w_qkv = random_buffer((size_t)3 * C * C, 29), *w_dense = random_buffer((size_t)C * C, 30);
    float *w_up = random_buffer((size_t)4 * C * C, 31), *w_down = random_buffer((size_t)4 * C * C, 32);
    float *b4 = random_buffer(4 * C, 33), *lnw = random_buffer(C, 34), *lnb = random_buffer(C, 35);
    float stats[H * HS_STAT_COUNT], slopes[H];
    bench_alibi_slopes(H, slopes);
    for (size_t i = 0; i < (size_t)3 * C * C; i++)
        w_qkv[i] *= 0.05f;
    const char *names[OPS] = {"input_layernorm", "query_key_value", "attention+stats", "dense",
                              "residual add",    "post_attn_layernorm", "dense_h_to_4h", "gelu",
                              "dense_4h_to_h",   "residual add"};
    double best[OPS];
    for (int i = 0; i < OPS; i++)
        best[i] = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        double t[OPS + 1];
        t[0] = now_seconds();
        check(hs_cpu_backend.layernorm(ctx, ln, mean, rstd, x, lnw, lnb, T, C, 1e-5f), ctx, "ln");
        t[1] = now_seconds();
        check(hs_cpu_backend.matmul(ctx, qkv, ln, w_qkv, b4, T, 3 * C, C, false, true, C, C,
                                    3 * C, 1.0f, 0.0f),
              ctx, "qkv");
        t[2] = now_seconds();
        check(hs_cpu_backend.attention(ctx, attn, NULL, stats, qkv, slopes, 1, T, H, D), ctx,
              "attention");
        t[3] = now_seconds();
        check(hs_cpu_backend.matmul(ctx, proj, attn, w_dense, b4, T, C, C, false, true, C, C, C,
                                    1.0f, 0.0f),
              ctx, "dense");
        t[4] = now_seconds();
        check(hs_cpu_backend.add(ctx, x, x, proj, TC), ctx, "add");
        t[5] = now_seconds();
        check(hs_cpu_backend.layernorm(ctx, ln, mean, rstd, x, lnw, lnb, T, C, 1e-5f), ctx, "ln");
        t[6] = now_seconds();
        check(hs_cpu_backend.matmul(ctx, h4, ln, w_up, b4, T, 4 * C, C, false, true, C, C, 4 * C,
                                    1.0f, 0.0f),
              ctx, "h_to_4h");
        t[7] = now_seconds();
        check(hs_cpu_backend.gelu(ctx, g4, h4, 4 * TC, HS_GELU_TANH), ctx, "gelu");
        t[8] = now_seconds();
        check(hs_cpu_backend.matmul(ctx, proj, g4, w_down, b4, T, C, 4 * C, false, true, 4 * C,
                                    4 * C, C, 1.0f, 0.0f),
              ctx, "4h_to_h");
        t[9] = now_seconds();
        check(hs_cpu_backend.add(ctx, x, x, proj, TC), ctx, "add");
        t[10] = now_seconds();
        if (r == 0)
            continue;
        for (int i = 0; i < OPS; i++)
            best[i] = t[i + 1] - t[i] < best[i] ? t[i + 1] - t[i] : best[i];
    }
    double total = 0.0;
    for (int i = 0; i < OPS; i++)
        total += best[i];
    printf("BLOOM-560m block forward, T=%d: %.1f ms (sum of per-op best times)\n", T,
           total * 1e3);
    for (int i = 0; i < OPS; i++)
        printf("  %-20s %8.2f ms  %5.1f%%\n", names[i], best[i] * 1e3, 100.0 * best[i] / total);
    free(x), free(ln), free(mean), free(rstd), free(qkv), free(attn), free(proj), free(h4);
    free(g4), free(w_qkv), free(w_dense), free(w_up), free(w_down), free(b4), free(lnw), free(lnb);
}

/* NMSE of got against ref: Σ(got − ref)² / Σ ref². */
static double nmse(const float *got, const float *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0.0 ? num / den : num;
}

static void set_precision(hs_backend_ctx *ctx, hs_precision p)
{
    check(hs_cpu_backend.set_precision(ctx, p), ctx, "set_precision");
}

/* One GEMM through matmul() in fp32 and in bf16, best of `repeats` each, interleaved. */
static void bench_gemm_bf16(hs_backend_ctx *ctx, const gemm_case *g, int repeats)
{
    int M = g->M, N = g->N, K = g->K;
    int lda = g->trans_a ? M : K, ldb = g->trans_b ? K : N;
    float *a = random_buffer((size_t)M * K, 1), *b = random_buffer((size_t)K * N, 2);
    float *c32 = random_buffer((size_t)M * N, 3), *c16 = random_buffer((size_t)M * N, 3);
    float *bias = random_buffer((size_t)N, 4);
    double flops = 2.0 * M * N * K, best32 = 1e30, best16 = 1e30;
    for (int r = 0; r < repeats + 1; r++) { /* first round warms up (and creates primitives) */
        set_precision(ctx, HS_PRECISION_FP32);
        double t0 = now_seconds();
        check(hs_cpu_backend.matmul(ctx, c32, a, b, g->bias ? bias : NULL, M, N, K, g->trans_a,
                                    g->trans_b, lda, ldb, N, 1.0f, 0.0f),
              ctx, g->name);
        double t1 = now_seconds();
        set_precision(ctx, HS_PRECISION_BF16);
        double t2 = now_seconds();
        check(hs_cpu_backend.matmul(ctx, c16, a, b, g->bias ? bias : NULL, M, N, K, g->trans_a,
                                    g->trans_b, lda, ldb, N, 1.0f, 0.0f),
              ctx, g->name);
        double t3 = now_seconds();
        if (r > 0) {
            best32 = t1 - t0 < best32 ? t1 - t0 : best32;
            best16 = t3 - t2 < best16 ? t3 - t2 : best16;
        }
    }
    set_precision(ctx, HS_PRECISION_FP32);
    printf("%-34s M=%4d N=%5d K=%4d  fp32 %7.1f GFLOP/s  bf16 %7.1f GFLOP/s  speed-up %.2f  "
           "NMSE %.2g\n",
           g->name, M, N, K, flops / best32 * 1e-9, flops / best16 * 1e-9, best32 / best16,
           nmse(c16, c32, (size_t)M * N));
    free(a), free(b), free(c32), free(c16), free(bias);
}

/* lm_head_nll (forward with lse, as a training step runs it) in fp32 and bf16. */
static void bench_lm_head_bf16(hs_backend_ctx *ctx, int N, int C, int V, int repeats)
{
    float *x = random_buffer((size_t)N * C, 9), *emb = random_buffer((size_t)V * C, 10);
    float *nll32 = malloc((size_t)N * sizeof(float)), *nll16 = malloc((size_t)N * sizeof(float));
    float *lse = malloc((size_t)N * sizeof(float));
    int32_t *targets = malloc((size_t)N * sizeof(int32_t));
    if (!nll32 || !nll16 || !lse || !targets) {
        fprintf(stderr, "bench: lm_head buffers\n");
        exit(1);
    }
    for (int n = 0; n < N; n++)
        targets[n] = (n * 7919) % V;
    double flops = 2.0 * N * (double)V * C, best32 = 1e30, best16 = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        set_precision(ctx, HS_PRECISION_FP32);
        double t0 = now_seconds();
        check(hs_cpu_backend.lm_head_nll(ctx, nll32, lse, x, hs_table_f32(emb), targets, N, C, V),
              ctx, "lm_head_nll fp32");
        double t1 = now_seconds();
        set_precision(ctx, HS_PRECISION_BF16);
        double t2 = now_seconds();
        check(hs_cpu_backend.lm_head_nll(ctx, nll16, lse, x, hs_table_f32(emb), targets, N, C, V),
              ctx, "lm_head_nll bf16");
        double t3 = now_seconds();
        if (r > 0) {
            best32 = t1 - t0 < best32 ? t1 - t0 : best32;
            best16 = t3 - t2 < best16 ? t3 - t2 : best16;
        }
    }
    set_precision(ctx, HS_PRECISION_FP32);
    printf("lm_head_nll+lse N=%d C=%d V=%d  fp32 %.1f ms (%.1f GFLOP/s)  bf16 %.1f ms "
           "(%.1f GFLOP/s)  speed-up %.2f  NLL NMSE %.2g\n",
           N, C, V, best32 * 1e3, flops / best32 * 1e-9, best16 * 1e3, flops / best16 * 1e-9,
           best32 / best16, nmse(nll16, nll32, (size_t)N));
    free(x), free(emb), free(nll32), free(nll16), free(lse), free(targets);
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1)
        repeats = 1;
    char err[HS_OP_ERROR_LEN] = "";
    hs_backend_ctx *ctx = hs_cpu_backend.init(0, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    const char *only = argc > 2 ? argv[2] : "all";
    bool all = strcmp(only, "all") == 0;
    printf("%s; best of %d\n", hs_cpu_backend.describe(ctx), repeats);
    /* BLOOM-560m, 512 tokens: nn.Linear forward (x·Wᵀ + b) of the four projections, then the
     * two backward products of the widest one (dX = dY·W, dW = dYᵀ·X) */
    const gemm_case gemms[] = {
        {"query_key_value  x·Wᵀ+b", 512, 3072, 1024, false, true, true},
        {"dense            x·Wᵀ+b", 512, 1024, 1024, false, true, true},
        {"dense_h_to_4h    x·Wᵀ+b", 512, 4096, 1024, false, true, true},
        {"dense_4h_to_h    x·Wᵀ+b", 512, 1024, 4096, false, true, true},
        {"dense_h_to_4h dX = dY·W", 512, 1024, 4096, false, false, false},
        {"dense_h_to_4h dW = dYᵀ·X", 4096, 1024, 512, true, false, false},
    };
    if (all || strcmp(only, "gemm") == 0)
        for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++)
            bench_gemm(ctx, &gemms[i], repeats);
    if (all || strcmp(only, "attention") == 0)
        bench_attention(ctx, 512, 16, 64, repeats);
    if (all || strcmp(only, "rowwise") == 0)
        bench_rowwise(ctx, repeats);
    if (all || strcmp(only, "block") == 0)
        bench_block(ctx, 512, repeats);
    if (all || strcmp(only, "lm_head") == 0)
        bench_lm_head(ctx, 512, 1024, 32768, repeats < 3 ? repeats : 3);
    if (all || strcmp(only, "decode") == 0) /* 96 × 16 MiB = 1.5 GiB */
        bench_decode_stream(ctx, 96, repeats < 3 ? repeats : 3);
    if ((all || strcmp(only, "bf16") == 0) &&
        (hs_cpu_backend.caps.precisions & (1u << HS_PRECISION_BF16))) {
        for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++)
            bench_gemm_bf16(ctx, &gemms[i], repeats);
        /* one vocabulary chunk of the LM head at N = 512 (chunk_rows: 512 rows of emb) */
        const gemm_case chunk = {"lm_head chunk    x·embᵀ", 512, 512, 1024, false, true, false};
        bench_gemm_bf16(ctx, &chunk, repeats);
        /* a decode step (one row): the few-rows loop instead of oneDNN */
        const gemm_case decode[] = {{"decode query_key_value x·Wᵀ+b", 1, 3072, 1024, false, true, true},
                                    {"decode lm_head chunk x·embᵀ", 1, 4096, 1024, false, true, false}};
        for (size_t i = 0; i < sizeof decode / sizeof decode[0]; i++)
            bench_gemm_bf16(ctx, &decode[i], repeats * 10);
        bench_lm_head_bf16(ctx, 512, 1024, 32768, repeats < 3 ? repeats : 3);
        printf("in bf16 precision:\n");
        set_precision(ctx, HS_PRECISION_BF16);
        bench_block(ctx, 512, repeats);
        set_precision(ctx, HS_PRECISION_FP32);
    } else if (strcmp(only, "bf16") == 0) {
        printf("bf16: this build's cpu backend has no bf16 GEMMs (built without oneDNN)\n");
    }
    hs_cpu_backend.shutdown(ctx);
    return 0;
}
