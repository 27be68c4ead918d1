/* GPU check, part 1: every op of the CUDA backend against the CPU backend (the oracle) on
 * random inputs of several shapes, forward and backward, printing the normalised mean squared
 * error per op and whether it is within the op's stated limit; then timings of the big GEMMs
 * and attention at BLOOM-560m/1b7 shapes with the achieved TFLOP/s. Needs a GPU: without one
 * it says so and exits 77 (skipped). Built by `make gpu-check`; run by tests/gpu/check.sh. */
#include "engine/families/alibi_slopes.h"
#include "ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pair {
    const hs_backend *cpu, *gpu;
    hs_backend_ctx *cc, *gc;
} pair;

static int failures;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *host_random(size_t n, float scale)
{
    float *h = malloc(n * sizeof *h);
    if (!h) { fprintf(stderr, "out of host memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++)
        h[i] = frand() * scale;
    return h;
}

/* Uploads the same host data to both backends. */
static void both(pair *p, const void *host, size_t bytes, void **c, void **g)
{
    *c = p->cpu->alloc(p->cc, bytes);
    *g = p->gpu->alloc(p->gc, bytes);
    if (!*c || !*g || p->cpu->upload(p->cc, *c, host, bytes) || p->gpu->upload(p->gc, *g, host, bytes)) {
        fprintf(stderr, "alloc/upload failed: %s\n", p->gpu->last_error(p->gc));
        exit(1);
    }
}

static void release(pair *p, void *c, void *g)
{
    p->cpu->free(p->cc, c);
    p->gpu->free(p->gc, g);
}

/* NMSE = Σ(gpu − cpu)² / Σ cpu² over n floats. */
static double nmse(pair *p, const float *c, const float *g, size_t n)
{
    float *hc = malloc(n * sizeof *hc), *hg = malloc(n * sizeof *hg);
    if (!hc || !hg || p->cpu->download(p->cc, hc, c, n * sizeof *hc) ||
        p->gpu->download(p->gc, hg, g, n * sizeof *hg)) {
        fprintf(stderr, "download failed: %s\n", p->gpu->last_error(p->gc));
        exit(1);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double dlt = (double)hg[i] - hc[i];
        num += dlt * dlt;
        den += (double)hc[i] * hc[i];
    }
    free(hc);
    free(hg);
    return den > 0 ? num / den : num;
}

static void report(const char *op, const char *shape, double err, double limit)
{
    int ok = err <= limit && !isnan(err);
    if (!ok)
        failures++;
    printf("  %-24s %-26s nmse %.3e  limit %.0e  %s\n", op, shape, err, limit, ok ? "ok" : "FAIL");
}

#define CHECK_RC(expr) do { if ((expr) != 0) { fprintf(stderr, "%s failed: cpu '%s' gpu '%s'\n", #expr, \
    p->cpu->last_error(p->cc), p->gpu->last_error(p->gc)); exit(1); } } while (0)

static void check_matmul(pair *p, int M, int N, int K, bool ta, bool tb)
{
    float *ha = host_random((size_t)M * K, 1), *hb = host_random((size_t)K * N, 1),
          *hbias = host_random(N, 1), *hc0 = host_random((size_t)M * N, 1);
    void *ac, *ag, *bc, *bg, *biasc, *biasg, *cc, *cg;
    both(p, ha, (size_t)M * K * 4, &ac, &ag);
    both(p, hb, (size_t)K * N * 4, &bc, &bg);
    both(p, hbias, (size_t)N * 4, &biasc, &biasg);
    both(p, hc0, (size_t)M * N * 4, &cc, &cg);
    int lda = ta ? M : K, ldb = tb ? K : N;
    CHECK_RC(p->cpu->matmul(p->cc, cc, ac, bc, biasc, M, N, K, ta, tb, lda, ldb, N, 0.5f, 0.25f));
    CHECK_RC(p->gpu->matmul(p->gc, cg, ag, bg, biasg, M, N, K, ta, tb, lda, ldb, N, 0.5f, 0.25f));
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d %c%c", M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N');
    report("matmul+bias", shape, nmse(p, cc, cg, (size_t)M * N), 1e-10);
    release(p, ac, ag); release(p, bc, bg); release(p, biasc, biasg); release(p, cc, cg);
    free(ha); free(hb); free(hbias); free(hc0);
}

static void check_layernorm(pair *p, int N, int C)
{
    float *hx = host_random((size_t)N * C, 3), *hw = host_random(C, 1), *hb = host_random(C, 1),
          *hdy = host_random((size_t)N * C, 1);
    void *xc, *xg, *wc, *wg, *bc, *bg, *dyc, *dyg, *oc, *og, *mc, *mg, *rc, *rg, *dxc, *dxg,
        *dwc, *dwg, *dbc, *dbg;
    both(p, hx, (size_t)N * C * 4, &xc, &xg);
    both(p, hw, C * 4, &wc, &wg);
    both(p, hb, C * 4, &bc, &bg);
    both(p, hdy, (size_t)N * C * 4, &dyc, &dyg);
    float *zeros = calloc((size_t)N * C, 4);
    both(p, zeros, (size_t)N * C * 4, &oc, &og);
    both(p, zeros, (size_t)N * 4, &mc, &mg);
    both(p, zeros, (size_t)N * 4, &rc, &rg);
    both(p, zeros, (size_t)N * C * 4, &dxc, &dxg);
    both(p, zeros, C * 4, &dwc, &dwg);
    both(p, zeros, C * 4, &dbc, &dbg);
    CHECK_RC(p->cpu->layernorm(p->cc, oc, mc, rc, xc, wc, bc, N, C, 1e-5f));
    CHECK_RC(p->gpu->layernorm(p->gc, og, mg, rg, xg, wg, bg, N, C, 1e-5f));
    char shape[64];
    snprintf(shape, sizeof shape, "N=%d C=%d", N, C);
    report("layernorm", shape, nmse(p, oc, og, (size_t)N * C), 1e-12);
    CHECK_RC(p->cpu->layernorm_backward(p->cc, dxc, dwc, dbc, dyc, xc, mc, rc, wc, N, C));
    CHECK_RC(p->gpu->layernorm_backward(p->gc, dxg, dwg, dbg, dyg, xg, mg, rg, wg, N, C));
    report("layernorm_backward dx", shape, nmse(p, dxc, dxg, (size_t)N * C), 1e-10);
    report("layernorm_backward dw", shape, nmse(p, dwc, dwg, C), 1e-10);
    report("layernorm_backward db", shape, nmse(p, dbc, dbg, C), 1e-10);
    release(p, xc, xg); release(p, wc, wg); release(p, bc, bg); release(p, dyc, dyg);
    release(p, oc, og); release(p, mc, mg); release(p, rc, rg); release(p, dxc, dxg);
    release(p, dwc, dwg); release(p, dbc, dbg);
    free(hx); free(hw); free(hb); free(hdy); free(zeros);
}

static void check_gelu(pair *p, size_t n, hs_gelu_kind kind)
{
    float *hx = host_random(n, 6), *hdy = host_random(n, 1);
    void *xc, *xg, *dyc, *dyg, *oc, *og;
    both(p, hx, n * 4, &xc, &xg);
    both(p, hdy, n * 4, &dyc, &dyg);
    both(p, hx, n * 4, &oc, &og);
    char shape[64];
    snprintf(shape, sizeof shape, "n=%zu", n);
    CHECK_RC(p->cpu->gelu(p->cc, oc, xc, n, kind));
    CHECK_RC(p->gpu->gelu(p->gc, og, xg, n, kind));
    report("gelu", shape, nmse(p, oc, og, n), 1e-12);
    CHECK_RC(p->cpu->gelu_backward(p->cc, oc, xc, dyc, n, kind));
    CHECK_RC(p->gpu->gelu_backward(p->gc, og, xg, dyg, n, kind));
    report("gelu_backward", shape, nmse(p, oc, og, n), 1e-12);
    release(p, xc, xg); release(p, dyc, dyg); release(p, oc, og);
    free(hx); free(hdy);
}

static void check_attention(pair *p, int B, int T, int H, int d, bool with_mask)
{
    size_t nqkv = (size_t)B * T * 3 * H * d, nout = (size_t)B * T * H * d;
    float *hqkv = host_random(nqkv, 2), *hdo = host_random(nout, 1), slopes[256];
    hs_alibi_slopes_bloom(H, slopes);
    float *zeros = calloc(nqkv + (size_t)B * H * 3, 4);
    void *qc, *qg, *sc, *sg, *oc, *og, *stc, *stg, *doc, *dog, *dqc, *dqg;
    both(p, hqkv, nqkv * 4, &qc, &qg);
    both(p, slopes, (size_t)H * 4, &sc, &sg);
    both(p, zeros, nout * 4, &oc, &og);
    both(p, zeros, (size_t)B * H * 3 * 4, &stc, &stg);
    both(p, hdo, nout * 4, &doc, &dog);
    both(p, zeros, nqkv * 4, &dqc, &dqg);
    CHECK_RC(p->cpu->attention(p->cc, oc, NULL, stc, qc, sc, B, T, H, d));
    CHECK_RC(p->gpu->attention(p->gc, og, NULL, stg, qg, sg, B, T, H, d));
    char shape[64];
    snprintf(shape, sizeof shape, "B=%d T=%d H=%d d=%d%s", B, T, H, d, with_mask ? " mask" : "");
    report("attention out", shape, nmse(p, oc, og, nout), 1e-10);
    report("attention stats", shape, nmse(p, stc, stg, (size_t)B * H * 3), 1e-10);
    uint8_t mask[256];
    for (int h = 0; h < H; h++)
        mask[h] = (uint8_t)(h % 3 == 1);
    CHECK_RC(p->cpu->attention_backward(p->cc, dqc, doc, qc, NULL, sc, with_mask ? mask : NULL, B, T, H, d));
    CHECK_RC(p->gpu->attention_backward(p->gc, dqg, dog, qg, NULL, sg, with_mask ? mask : NULL, B, T, H, d));
    report("attention_backward", shape, nmse(p, dqc, dqg, nqkv), 1e-9);
    release(p, qc, qg); release(p, sc, sg); release(p, oc, og); release(p, stc, stg);
    release(p, doc, dog); release(p, dqc, dqg);
    free(hqkv); free(hdo); free(zeros);
}

/* attention_decode: a batch of B sequences with different cached lengths (past[b] = past0 +
 * 7·b), T_new new rows each, into caches of T_max positions; out and both caches compared. */
static void check_attention_decode(pair *p, int B, int T_new, int H, int d, int past0)
{
    int32_t past[64];
    int T_max = past0 + 7 * (B - 1) + T_new;
    for (int b = 0; b < B; b++)
        past[b] = past0 + 7 * b;
    size_t nqkv = (size_t)B * T_new * 3 * H * d, nout = (size_t)B * T_new * H * d;
    size_t ncache = (size_t)B * H * T_max * d;
    float *hqkv = host_random(nqkv, 2), *hk = host_random(ncache, 2), *hv = host_random(ncache, 2);
    float slopes[256];
    hs_alibi_slopes_bloom(H, slopes);
    float *zeros = calloc(nout, 4);
    void *qc, *qg, *sc, *sg, *oc, *og, *kc, *kg, *vc, *vg;
    both(p, hqkv, nqkv * 4, &qc, &qg);
    both(p, slopes, (size_t)H * 4, &sc, &sg);
    both(p, zeros, nout * 4, &oc, &og);
    both(p, hk, ncache * 4, &kc, &kg);
    both(p, hv, ncache * 4, &vc, &vg);
    CHECK_RC(p->cpu->attention_decode(p->cc, oc, kc, vc, qc, past, sc, B, T_new, H, d, T_max));
    CHECK_RC(p->gpu->attention_decode(p->gc, og, kg, vg, qg, past, sg, B, T_new, H, d, T_max));
    char shape[80];
    snprintf(shape, sizeof shape, "B=%d T_new=%d H=%d d=%d past=%d..", B, T_new, H, d, past0);
    report("attention_decode out", shape, nmse(p, oc, og, nout), 1e-10);
    report("attention_decode k_cache", shape, nmse(p, kc, kg, ncache), 0);
    report("attention_decode v_cache", shape, nmse(p, vc, vg, ncache), 0);
    release(p, qc, qg); release(p, sc, sg); release(p, oc, og); release(p, kc, kg);
    release(p, vc, vg);
    free(hqkv); free(hk); free(hv); free(zeros);
}

static void check_lm_head(pair *p, int N, int C, int V)
{
    float *hx = host_random((size_t)N * C, 1), *he = host_random((size_t)V * C, 0.5f);
    int32_t *ht = malloc(N * sizeof *ht);
    for (int n = 0; n < N; n++)
        ht[n] = n % 7 == 3 ? -1 : (int32_t)((n * 2654435761u) % (unsigned)V);
    float *zeros = calloc((size_t)N * C, 4);
    void *xc, *xg, *ec, *eg, *tc, *tg, *nc, *ng, *lc, *lg, *dxc, *dxg;
    both(p, hx, (size_t)N * C * 4, &xc, &xg);
    both(p, he, (size_t)V * C * 4, &ec, &eg);
    both(p, ht, (size_t)N * 4, &tc, &tg);
    both(p, zeros, (size_t)N * 4, &nc, &ng);
    both(p, zeros, (size_t)N * 4, &lc, &lg);
    both(p, zeros, (size_t)N * C * 4, &dxc, &dxg);
    CHECK_RC(p->cpu->lm_head_nll(p->cc, nc, lc, xc, hs_table_f32(ec), tc, N, C, V));
    CHECK_RC(p->gpu->lm_head_nll(p->gc, ng, lg, xg, hs_table_f32(eg), tg, N, C, V));
    char shape[64];
    snprintf(shape, sizeof shape, "N=%d C=%d V=%d", N, C, V);
    report("lm_head_nll", shape, nmse(p, nc, ng, N), 1e-10);
    CHECK_RC(p->cpu->lm_head_nll_backward(p->cc, dxc, xc, hs_table_f32(ec), tc, lc, 0.01f, N, C, V));
    CHECK_RC(p->gpu->lm_head_nll_backward(p->gc, dxg, xg, hs_table_f32(eg), tg, lg, 0.01f, N, C, V));
    report("lm_head_nll_backward", shape, nmse(p, dxc, dxg, (size_t)N * C), 1e-9);
    release(p, xc, xg); release(p, ec, eg); release(p, tc, tg); release(p, nc, ng);
    release(p, lc, lg); release(p, dxc, dxg);
    free(hx); free(he); free(ht); free(zeros);
}

static void check_optimizer(pair *p, size_t n)
{
    float *hp = host_random(n, 1), *hg = host_random(n, 1), *hm = host_random(n, 0.1f);
    float *hv = host_random(n, 0.1f);
    for (size_t i = 0; i < n; i++)
        hv[i] = fabsf(hv[i]);
    void *pc, *pg, *gc, *gg, *mc, *mg, *vc, *vg;
    both(p, hp, n * 4, &pc, &pg);
    both(p, hg, n * 4, &gc, &gg);
    both(p, hm, n * 4, &mc, &mg);
    both(p, hv, n * 4, &vc, &vg);
    CHECK_RC(p->cpu->adamw(p->cc, pc, gc, mc, vc, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.271f, 0.00399f));
    CHECK_RC(p->gpu->adamw(p->gc, pg, gg, mg, vg, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.271f, 0.00399f));
    char shape[64];
    snprintf(shape, sizeof shape, "n=%zu", n);
    report("adamw param", shape, nmse(p, pc, pg, n), 1e-12);
    report("adamw v", shape, nmse(p, vc, vg, n), 1e-12);
    double sc = 0, sg = 0;
    CHECK_RC(p->cpu->sum_squares(p->cc, &sc, gc, n));
    CHECK_RC(p->gpu->sum_squares(p->gc, &sg, gg, n));
    report("sum_squares", shape, (sg - sc) * (sg - sc) / (sc * sc), 1e-20);
    release(p, pc, pg); release(p, gc, gg); release(p, mc, mg); release(p, vc, vg);
    free(hp); free(hg); free(hm); free(hv);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Achieved TFLOP/s of the fp32 GEMM (y = x·Wᵀ + b) at a model shape. */
static void bench_gemm(pair *p, const char *label, int M, int N, int K)
{
    const hs_backend *g = p->gpu;
    float *a = g->alloc(p->gc, (size_t)M * K * 4), *w = g->alloc(p->gc, (size_t)N * K * 4),
          *c = g->alloc(p->gc, (size_t)M * N * 4), *bias = g->alloc(p->gc, (size_t)N * 4);
    if (!a || !w || !c || !bias) {
        printf("  %-28s alloc failed: %s\n", label, g->last_error(p->gc));
        failures++;
        return;
    }
    int reps = 20;
    for (int i = 0; i < 3; i++)
        CHECK_RC(g->matmul(p->gc, c, a, w, bias, M, N, K, false, true, K, K, N, 1, 0));
    CHECK_RC(g->synchronize(p->gc));
    double t0 = now_s();
    for (int i = 0; i < reps; i++)
        CHECK_RC(g->matmul(p->gc, c, a, w, bias, M, N, K, false, true, K, K, N, 1, 0));
    CHECK_RC(g->synchronize(p->gc));
    double dt = (now_s() - t0) / reps;
    printf("  %-28s %6d x %6d x %6d  %8.3f ms  %7.1f TFLOP/s (fp32)\n", label, M, N, K, dt * 1e3,
           2.0 * M * N * K / dt / 1e12);
    g->free(p->gc, a); g->free(p->gc, w); g->free(p->gc, c); g->free(p->gc, bias);
}

int main(void)
{
    pair p = {.cpu = hs_backend_find("cpu"), .gpu = hs_backend_find("cuda")};
    char err[512];
    if (!p.gpu) {
        printf("op_parity: the cuda backend is not compiled into this build (nvcc not found)\n");
        return 77;
    }
    p.gc = p.gpu->init(0, err, sizeof err);
    if (!p.gc) {
        printf("op_parity: skipped, no GPU: %s\n", err);
        return 77;
    }
    p.cc = p.cpu->init(0, err, sizeof err);
    if (!p.cc) {
        fprintf(stderr, "cpu backend: %s\n", err);
        return 1;
    }
    printf("op parity, CUDA (%s) vs CPU (%s), fp32:\n", p.gpu->describe(p.gc), p.cpu->describe(p.cc));
    check_matmul(&p, 37, 53, 29, false, false);
    check_matmul(&p, 64, 96, 128, false, true);
    check_matmul(&p, 48, 33, 70, true, false);
    check_matmul(&p, 512, 1024, 1024, false, true);
    check_layernorm(&p, 7, 33);
    check_layernorm(&p, 512, 1024);
    check_gelu(&p, 1000003, HS_GELU_TANH);
    check_gelu(&p, 1000003, HS_GELU_ERF);
    check_attention(&p, 1, 1, 4, 8, false);
    check_attention(&p, 2, 37, 6, 16, false);
    check_attention(&p, 1, 128, 12, 64, true);
    check_attention(&p, 1, 512, 16, 64, false);
    check_attention_decode(&p, 1, 1, 4, 8, 0);
    check_attention_decode(&p, 5, 1, 6, 16, 33);
    check_attention_decode(&p, 3, 17, 12, 64, 100);
    check_attention_decode(&p, 16, 1, 16, 64, 500);
    check_lm_head(&p, 33, 48, 9001);
    check_lm_head(&p, 128, 64, 20000);
    check_optimizer(&p, 100003);
    printf("\nGEMM throughput (one nn.Linear, seq 512 x batch 8 rows):\n");
    bench_gemm(&p, "560m qkv   (4096x3072x1024)", 4096, 3072, 1024);
    bench_gemm(&p, "560m mlp   (4096x4096x1024)", 4096, 4096, 1024);
    bench_gemm(&p, "1b7 qkv    (4096x6144x2048)", 4096, 6144, 2048);
    bench_gemm(&p, "1b7 mlp    (4096x8192x2048)", 4096, 8192, 2048);
    p.gpu->shutdown(p.gc);
    p.cpu->shutdown(p.cc);
    printf("\nop_parity: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
