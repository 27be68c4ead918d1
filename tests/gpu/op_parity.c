/* GPU check, part 1: every op of the CUDA backend against the CPU backend (the oracle) on
 * random inputs of several shapes, forward and backward, printing the normalised mean squared
 * error (NMSE = Σ(gpu − cpu)² / Σ cpu²) per op and whether it is within the op's stated limit.
 * Sections, one per invocation so a crash or a faulted device in one cannot take the others
 * with it (tests/gpu/check.sh runs them in turn):
 *   fp32       every op, GEMMs in HS_PRECISION_FP32
 *   bf16       every op with the context in HS_PRECISION_BF16: the GEMM ops (matmul, LM head)
 *              against the CPU computing from bf16-rounded inputs and against plain fp32 (the
 *              limits are stated in the output), every other op as in fp32
 *   attention  the tiled attention (forward, statistics, backward, head mask) at T = 512, 2048
 *              and 8192, and the [H,T,T] path of callers that keep probabilities
 *   recovery   an allocation larger than the device fails with its reason and the next op
 *              works; a kernel that faults the device (inject_fault, HS_TEST_HOOKS builds),
 *              then reset() and a correct op on fresh memory
 *   bench      GEMM TFLOP/s (fp32 and bf16 through matmul) and tiled attention times at
 *              BLOOM-560m/1b7 surgery shapes
 * Needs a GPU: without one it says so and exits 77 (skipped). Exit 1 on any failure.
 * Built by `make gpu-check`. */
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
static hs_precision precision = HS_PRECISION_FP32; /* of the GPU context in this section */
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

/* x rounded to the nearest bf16 (ties to even), as the GPU's conversion does. */
static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) { /* inf stays, NaN stays NaN */
        u &= 0xffff0000u;
        if ((u & 0x007f0000u) == 0 && (x != x))
            u |= 0x00400000u;
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
    }
    memcpy(&x, &u, sizeof x);
    return x;
}

static float *host_bf16_copy(const float *src, size_t n)
{
    float *h = malloc(n * sizeof *h);
    if (!h) { fprintf(stderr, "out of host memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++)
        h[i] = bf16_round(src[i]);
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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define CHECK_RC(expr) do { if ((expr) != 0) { fprintf(stderr, "%s failed: cpu '%s' gpu '%s'\n", #expr, \
    p->cpu->last_error(p->cc), p->gpu->last_error(p->gc)); exit(1); } } while (0)

/* NMSE limits of the GEMM ops. fp32: cuBLAS against OpenBLAS, both fp32, differ only in
 * summation order. bf16 against the CPU fed the same bf16-rounded inputs: the products are
 * exact in fp32, so again only summation order (and the tensor cores' accumulation) differs.
 * bf16 against plain fp32: the rounding of the inputs (relative error up to 2^-9 each) gives
 * an NMSE near 3e-6 for random data; 1e-4 allows for that and still catches any layout bug
 * (which gives NMSE near 1). */
#define GEMM_FP32_LIMIT 1e-10
#define GEMM_BF16_SAME_INPUTS_LIMIT 1e-8
#define GEMM_BF16_VS_FP32_LIMIT 1e-4

static void check_matmul(pair *p, int M, int N, int K, bool ta, bool tb)
{
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *ha = host_random(na, 1), *hb = host_random(nb, 1), *hbias = host_random(N, 1),
          *hc0 = host_random(nc, 1);
    void *ac, *ag, *bc, *bg, *biasc, *biasg, *cc, *cg;
    both(p, ha, na * 4, &ac, &ag);
    both(p, hb, nb * 4, &bc, &bg);
    both(p, hbias, (size_t)N * 4, &biasc, &biasg);
    both(p, hc0, nc * 4, &cc, &cg);
    int lda = ta ? M : K, ldb = tb ? K : N;
    CHECK_RC(p->cpu->matmul(p->cc, cc, ac, bc, biasc, M, N, K, ta, tb, lda, ldb, N, 0.5f, 0.25f));
    CHECK_RC(p->gpu->matmul(p->gc, cg, ag, bg, biasg, M, N, K, ta, tb, lda, ldb, N, 0.5f, 0.25f));
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d %c%c", M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N');
    bool bf16 = precision == HS_PRECISION_BF16;
    report(bf16 ? "matmul+bias vs fp32" : "matmul+bias", shape, nmse(p, cc, cg, nc),
           bf16 ? GEMM_BF16_VS_FP32_LIMIT : GEMM_FP32_LIMIT);
    if (bf16) { /* the oracle on the same bf16-rounded inputs */
        float *ra = host_bf16_copy(ha, na), *rb = host_bf16_copy(hb, nb);
        CHECK_RC(p->cpu->upload(p->cc, ac, ra, na * 4));
        CHECK_RC(p->cpu->upload(p->cc, bc, rb, nb * 4));
        CHECK_RC(p->cpu->upload(p->cc, cc, hc0, nc * 4));
        CHECK_RC(p->cpu->matmul(p->cc, cc, ac, bc, biasc, M, N, K, ta, tb, lda, ldb, N, 0.5f,
                                0.25f));
        report("matmul+bias vs bf16 in", shape, nmse(p, cc, cg, nc), GEMM_BF16_SAME_INPUTS_LIMIT);
        free(ra);
        free(rb);
    }
    release(p, ac, ag); release(p, bc, bg); release(p, biasc, biasg); release(p, cc, cg);
    free(ha); free(hb); free(hbias); free(hc0);
}

/* A matmul whose operands start mid-allocation (a head's columns of qkv: 4-byte alignment
 * only) and have leading dimensions above their widths. */
static void check_matmul_offsets(pair *p)
{
    int M = 70, N = 24, K = 40, lda = 3 * K + 5, ldb = 2 * K + 3, ldc = N + 9;
    size_t na = (size_t)M * lda + 1, nb = (size_t)N * ldb + 3, nc = (size_t)M * ldc + 1;
    float *ha = host_random(na, 1), *hb = host_random(nb, 1), *hc0 = host_random(nc, 1);
    void *ac, *ag, *bc, *bg, *cc, *cg;
    both(p, ha, na * 4, &ac, &ag);
    both(p, hb, nb * 4, &bc, &bg);
    both(p, hc0, nc * 4, &cc, &cg);
    CHECK_RC(p->cpu->matmul(p->cc, (float *)cc + 1, (float *)ac + 1, (float *)bc + 3, NULL, M, N,
                            K, false, true, lda, ldb, ldc, 1.0f, 1.0f));
    CHECK_RC(p->gpu->matmul(p->gc, (float *)cg + 1, (float *)ag + 1, (float *)bg + 3, NULL, M, N,
                            K, false, true, lda, ldb, ldc, 1.0f, 1.0f));
    bool bf16 = precision == HS_PRECISION_BF16;
    report("matmul unaligned, ld>cols", "70x24x40 NT", nmse(p, cc, cg, nc),
           bf16 ? GEMM_BF16_VS_FP32_LIMIT : GEMM_FP32_LIMIT);
    release(p, ac, ag); release(p, bc, bg); release(p, cc, cg);
    free(ha); free(hb); free(hc0);
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

/* attention forward (out, statistics, probabilities when with_probs) and backward (with the
 * probabilities when with_probs, else recomputed; every third head masked when with_mask).
 * Without probs the GPU runs the tiled kernels; with them the [H,T,T] path. */
static void check_attention(pair *p, int B, int T, int H, int d, bool with_mask, bool with_probs)
{
    size_t nqkv = (size_t)B * T * 3 * H * d, nout = (size_t)B * T * H * d;
    size_t nprobs = with_probs ? (size_t)B * H * T * T : 0;
    float *hqkv = host_random(nqkv, 2), *hdo = host_random(nout, 1), slopes[256];
    hs_alibi_slopes_bloom(H, slopes);
    float *zeros = calloc(nqkv + (size_t)B * H * 3 + nprobs, 4);
    if (!zeros) { fprintf(stderr, "out of host memory\n"); exit(1); }
    void *qc, *qg, *sc, *sg, *oc, *og, *stc, *stg, *doc, *dog, *dqc, *dqg, *pc = NULL, *pg = NULL;
    both(p, hqkv, nqkv * 4, &qc, &qg);
    both(p, slopes, (size_t)H * 4, &sc, &sg);
    both(p, zeros, nout * 4, &oc, &og);
    both(p, zeros, (size_t)B * H * 3 * 4, &stc, &stg);
    both(p, hdo, nout * 4, &doc, &dog);
    both(p, zeros, nqkv * 4, &dqc, &dqg);
    if (with_probs)
        both(p, zeros, nprobs * 4, &pc, &pg);
    char shape[80];
    snprintf(shape, sizeof shape, "B=%d T=%d H=%d d=%d%s%s", B, T, H, d, with_mask ? " mask" : "",
             with_probs ? " probs" : "");
    double t0 = now_s();
    CHECK_RC(p->cpu->attention(p->cc, oc, pc, stc, qc, sc, B, T, H, d));
    double t_cpu = now_s() - t0;
    t0 = now_s();
    CHECK_RC(p->gpu->attention(p->gc, og, pg, stg, qg, sg, B, T, H, d));
    CHECK_RC(p->gpu->synchronize(p->gc));
    double t_gpu = now_s() - t0;
    report("attention out", shape, nmse(p, oc, og, nout), 1e-10);
    report("attention stats", shape, nmse(p, stc, stg, (size_t)B * H * 3), 1e-10);
    if (with_probs)
        report("attention probs", shape, nmse(p, pc, pg, nprobs), 1e-10);
    uint8_t mask[256];
    for (int h = 0; h < H; h++)
        mask[h] = (uint8_t)(h % 3 == 1);
    t0 = now_s();
    CHECK_RC(p->cpu->attention_backward(p->cc, dqc, doc, qc, pc, sc, with_mask ? mask : NULL, B,
                                        T, H, d));
    t_cpu += now_s() - t0;
    t0 = now_s();
    CHECK_RC(p->gpu->attention_backward(p->gc, dqg, dog, qg, pg, sg, with_mask ? mask : NULL, B,
                                        T, H, d));
    CHECK_RC(p->gpu->synchronize(p->gc));
    t_gpu += now_s() - t0;
    report("attention_backward", shape, nmse(p, dqc, dqg, nqkv), 1e-9);
    if (T >= 2048)
        printf("  %-24s %-26s cpu %.2f s, gpu %.4f s (fwd+bwd, first call)\n", "", shape, t_cpu,
               t_gpu);
    release(p, qc, qg); release(p, sc, sg); release(p, oc, og); release(p, stc, stg);
    release(p, doc, dog); release(p, dqc, dqg);
    if (with_probs)
        release(p, pc, pg);
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

/* NMSE limits of the LM head in bf16: the nll against the CPU on the same rounded x and
 * embedding (summation order only), dx also rounds the logit gradient to bf16 before its
 * GEMM, so it is held to the bf16-versus-fp32 limit. */
static void check_lm_head(pair *p, int N, int C, int V)
{
    size_t nx = (size_t)N * C, ne = (size_t)V * C;
    float *hx = host_random(nx, 1), *he = host_random(ne, 0.5f);
    int32_t *ht = malloc(N * sizeof *ht);
    for (int n = 0; n < N; n++)
        ht[n] = n % 7 == 3 ? -1 : (int32_t)((n * 2654435761u) % (unsigned)V);
    bool bf16 = precision == HS_PRECISION_BF16;
    float *cx = bf16 ? host_bf16_copy(hx, nx) : hx, *ce = bf16 ? host_bf16_copy(he, ne) : he;
    float *zeros = calloc(nx, 4);
    void *xc, *xg, *ec, *eg, *tc, *tg, *nc, *ng, *lc, *lg, *dxc, *dxg;
    /* the CPU gets the rounded inputs in bf16 (the oracle on the same inputs) */
    both(p, hx, nx * 4, &xc, &xg);
    both(p, he, ne * 4, &ec, &eg);
    CHECK_RC(p->cpu->upload(p->cc, xc, cx, nx * 4));
    CHECK_RC(p->cpu->upload(p->cc, ec, ce, ne * 4));
    both(p, ht, (size_t)N * 4, &tc, &tg);
    both(p, zeros, (size_t)N * 4, &nc, &ng);
    both(p, zeros, (size_t)N * 4, &lc, &lg);
    both(p, zeros, nx * 4, &dxc, &dxg);
    CHECK_RC(p->cpu->lm_head_nll(p->cc, nc, lc, xc, hs_table_f32(ec), tc, N, C, V));
    CHECK_RC(p->gpu->lm_head_nll(p->gc, ng, lg, xg, hs_table_f32(eg), tg, N, C, V));
    char shape[64];
    snprintf(shape, sizeof shape, "N=%d C=%d V=%d", N, C, V);
    report(bf16 ? "lm_head_nll vs bf16 in" : "lm_head_nll", shape, nmse(p, nc, ng, N),
           bf16 ? GEMM_BF16_SAME_INPUTS_LIMIT : 1e-10);
    CHECK_RC(p->cpu->lm_head_nll_backward(p->cc, dxc, xc, hs_table_f32(ec), tc, lc, 0.01f, N, C,
                                          V));
    CHECK_RC(p->gpu->lm_head_nll_backward(p->gc, dxg, xg, hs_table_f32(eg), tg, lg, 0.01f, N, C,
                                          V));
    report(bf16 ? "lm_head_nll_bwd vs bf16 in" : "lm_head_nll_backward", shape,
           nmse(p, dxc, dxg, nx), bf16 ? GEMM_BF16_VS_FP32_LIMIT : 1e-9);
    /* the full logits (generation): a matmul in the context's precision */
    size_t nl = (size_t)N * V;
    float *lc_host = calloc(nl, 4);
    void *logc, *logg;
    both(p, lc_host, nl * 4, &logc, &logg);
    CHECK_RC(p->cpu->lm_head_logits(p->cc, logc, xc, hs_table_f32(ec), N, C, V));
    CHECK_RC(p->gpu->lm_head_logits(p->gc, logg, xg, hs_table_f32(eg), N, C, V));
    report(bf16 ? "lm_head_logits vs bf16 in" : "lm_head_logits", shape, nmse(p, logc, logg, nl),
           bf16 ? GEMM_BF16_SAME_INPUTS_LIMIT : GEMM_FP32_LIMIT);
    release(p, logc, logg);
    free(lc_host);
    release(p, xc, xg); release(p, ec, eg); release(p, tc, tg); release(p, nc, ng);
    release(p, lc, lg); release(p, dxc, dxg);
    if (bf16) {
        free(cx);
        free(ce);
    }
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

/* Achieved TFLOP/s of matmul (y = x·Wᵀ + b) at a model shape in the section's precision
 * (bf16 includes rounding both fp32 operands each call, as the model runs it today). */
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
    const char *prec = precision == HS_PRECISION_BF16 ? "bf16" : "fp32";
    printf("  %-28s %6d x %6d x %6d  %8.3f ms  %7.1f TFLOP/s (%s)\n", label, M, N, K, dt * 1e3,
           2.0 * M * N * K / dt / 1e12, prec);
    printf("gemm_tflops %s %s %.3f %.2f\n", prec, label, dt * 1e3, 2.0 * M * N * K / dt / 1e12);
    g->free(p->gc, a); g->free(p->gc, w); g->free(p->gc, c); g->free(p->gc, bias);
}

/* Tiled attention forward (with statistics) and backward at a surgery shape. */
static void bench_attention(pair *p, const char *label, int B, int T, int H, int d)
{
    const hs_backend *g = p->gpu;
    size_t nqkv = (size_t)B * T * 3 * H * d, nout = (size_t)B * T * H * d;
    float slopes[256];
    hs_alibi_slopes_bloom(H, slopes);
    float *qkv = g->alloc(p->gc, nqkv * 4), *out = g->alloc(p->gc, nout * 4),
          *dqkv = g->alloc(p->gc, nqkv * 4), *sl = g->alloc(p->gc, (size_t)H * 4),
          *st = g->alloc(p->gc, (size_t)B * H * 3 * 4);
    if (!qkv || !out || !dqkv || !sl || !st) {
        printf("  %-28s alloc failed: %s\n", label, g->last_error(p->gc));
        failures++;
        return;
    }
    CHECK_RC(g->upload(p->gc, sl, slopes, (size_t)H * 4));
    int reps = 10;
    double t_f = 0, t_b = 0;
    for (int i = 0; i < reps + 1; i++) {
        CHECK_RC(g->synchronize(p->gc));
        double t0 = now_s();
        CHECK_RC(g->attention(p->gc, out, NULL, st, qkv, sl, B, T, H, d));
        CHECK_RC(g->synchronize(p->gc));
        double t1 = now_s();
        CHECK_RC(g->attention_backward(p->gc, dqkv, out, qkv, NULL, sl, NULL, B, T, H, d));
        CHECK_RC(g->synchronize(p->gc));
        if (i > 0) { /* the first run sets the kernels' shared-memory limits */
            t_f += t1 - t0;
            t_b += now_s() - t1;
        }
    }
    /* causal: half of the T×T scores; fwd 2 GEMM-like products, bwd 5 (incl. recompute) */
    double flop = 2.0 * B * H * (double)T * T / 2 * d;
    printf("  %-28s B=%d T=%d H=%d d=%d  fwd %.3f ms (%.1f TFLOP/s)  bwd %.3f ms (%.1f TFLOP/s)\n",
           label, B, T, H, d, t_f / reps * 1e3, 2 * flop / (t_f / reps) / 1e12,
           t_b / reps * 1e3, 5 * flop / (t_b / reps) / 1e12);
    printf("attention_ms %s B=%d,T=%d,H=%d,d=%d %.3f %.3f %.2f %.2f\n", label, B, T, H, d,
           t_f / reps * 1e3, t_b / reps * 1e3, 2 * flop / (t_f / reps) / 1e12,
           5 * flop / (t_b / reps) / 1e12);
    g->free(p->gc, qkv); g->free(p->gc, out); g->free(p->gc, dqkv); g->free(p->gc, sl);
    g->free(p->gc, st);
}

/* Every op of the table on random inputs, in the section's precision. */
static void section_ops(pair *p)
{
    check_matmul(p, 37, 53, 29, false, false);
    check_matmul(p, 64, 96, 128, false, true);
    check_matmul(p, 48, 33, 70, true, false);
    check_matmul(p, 40, 24, 56, true, true);
    check_matmul(p, 512, 1024, 1024, false, true);
    check_matmul_offsets(p);
    check_layernorm(p, 7, 33);
    check_layernorm(p, 512, 1024);
    check_gelu(p, 1000003, HS_GELU_TANH);
    check_gelu(p, 1000003, HS_GELU_ERF);
    check_attention(p, 1, 1, 4, 8, false, false);
    check_attention(p, 2, 37, 6, 16, false, false);
    check_attention(p, 1, 128, 12, 64, true, false);
    check_attention(p, 2, 100, 4, 128, true, true);
    check_attention_decode(p, 1, 1, 4, 8, 0);
    check_attention_decode(p, 5, 1, 6, 16, 33);
    check_attention_decode(p, 3, 17, 12, 64, 100);
    check_attention_decode(p, 16, 1, 16, 64, 500);
    check_lm_head(p, 33, 48, 9001);
    check_lm_head(p, 128, 64, 20000);
    check_optimizer(p, 100003);
}

/* The tiled attention at long sequences (B and H small where the CPU oracle is slow), head
 * dims of BLOOM (64, 128) and MPT (128), the largest supported (256), and the [H,T,T] path. */
static void section_attention(pair *p)
{
    check_attention(p, 2, 512, 16, 64, true, false);
    check_attention(p, 1, 512, 4, 256, false, false);
    check_attention(p, 1, 2048, 8, 128, true, false);
    check_attention(p, 1, 2048, 4, 64, false, false);
    check_attention(p, 1, 8192, 2, 128, false, false);
    check_attention(p, 1, 8192, 2, 64, true, false);
    check_attention(p, 1, 512, 16, 64, true, true);
}

/* A tiny matmul on fresh memory of both backends, checked against the CPU. */
static void check_small_matmul(pair *p, const char *label)
{
    int M = 16, N = 24, K = 32;
    float *ha = host_random((size_t)M * K, 1), *hb = host_random((size_t)N * K, 1);
    float *z = calloc((size_t)M * N, 4);
    void *ac, *ag, *bc, *bg, *cc, *cg;
    both(p, ha, (size_t)M * K * 4, &ac, &ag);
    both(p, hb, (size_t)N * K * 4, &bc, &bg);
    both(p, z, (size_t)M * N * 4, &cc, &cg);
    CHECK_RC(p->cpu->matmul(p->cc, cc, ac, bc, NULL, M, N, K, false, true, K, K, N, 1, 0));
    CHECK_RC(p->gpu->matmul(p->gc, cg, ag, bg, NULL, M, N, K, false, true, K, K, N, 1, 0));
    report(label, "16x24x32 NT", nmse(p, cc, cg, (size_t)M * N), GEMM_FP32_LIMIT);
    release(p, ac, ag); release(p, bc, bg); release(p, cc, cg);
    free(ha); free(hb); free(z);
}

static void expect(bool ok, const char *what, const char *detail)
{
    if (!ok)
        failures++;
    printf("  %-52s %s%s%s\n", what, ok ? "ok" : "FAIL", detail ? ": " : "", detail ? detail : "");
}

/* Out of memory is an ordinary failure; a device fault is recovered by reset(). */
static void section_recovery(pair *p)
{
    const hs_backend *g = p->gpu;
    expect(!p->cpu->needs_reset(p->cc) && p->cpu->reset(p->cc) == 0,
           "cpu: needs_reset() false, reset() a no-op returning 0", NULL);
    void *huge = g->alloc(p->gc, (size_t)1 << 45); /* 32 TiB */
    const char *why = g->last_error(p->gc);
    expect(huge == NULL && strstr(why, "cuda alloc:") && strstr(why, "free"),
           "alloc of 32 TiB fails with bytes asked and free", why);
    if (huge)
        g->free(p->gc, huge);
    expect(!g->needs_reset(p->gc), "out of memory does not need a reset", NULL);
    check_small_matmul(p, "matmul after out of memory");

    if (!g->inject_fault) {
        expect(false, "inject_fault present (a HS_TEST_HOOKS build)",
               "built without HS_TEST_HOOKS: make TEST_HOOKS=1 gpu-check");
        return;
    }
    float *kept = g->alloc(p->gc, 1 << 20); /* lost with the fault: dropped, never freed */
    expect(kept != NULL, "alloc before the fault", kept ? NULL : g->last_error(p->gc));
    int rc = g->inject_fault(p->gc);
    why = g->last_error(p->gc);
    expect(rc == -1 && g->needs_reset(p->gc) && strstr(why, "needs reset"),
           "faulting kernel: op fails, needs_reset() true", why);
    float *during = g->alloc(p->gc, 4096); /* CUDA fails every call now; shown, not judged */
    printf("  %-52s %s\n", "alloc on the faulted device (info)",
           during ? "returned memory" : g->last_error(p->gc));
    rc = g->reset(p->gc);
    expect(rc == 0 && !g->needs_reset(p->gc), "reset() recovers the context",
           rc ? g->last_error(p->gc) : NULL);
    if (rc == 0)
        check_small_matmul(p, "matmul after reset");
    expect(g->reset(p->gc) == 0, "reset() on a healthy context returns 0", NULL);
}

static void section_bench(pair *p)
{
    printf("GEMM throughput through matmul (one nn.Linear, seq 512 x batch 8 rows):\n");
    for (int pr = 0; pr < 2; pr++) {
        precision = pr ? HS_PRECISION_BF16 : HS_PRECISION_FP32;
        CHECK_RC(p->gpu->set_precision(p->gc, precision));
        bench_gemm(p, "560m qkv   (4096x3072x1024)", 4096, 3072, 1024);
        bench_gemm(p, "560m mlp   (4096x4096x1024)", 4096, 4096, 1024);
        bench_gemm(p, "1b7 qkv    (4096x6144x2048)", 4096, 6144, 2048);
        bench_gemm(p, "1b7 mlp    (4096x8192x2048)", 4096, 8192, 2048);
    }
    printf("tiled attention (fp32), forward with statistics and backward:\n");
    bench_attention(p, "560m-layer", 8, 512, 16, 64);
    bench_attention(p, "1b7-layer", 8, 512, 16, 128);
    bench_attention(p, "long", 1, 8192, 16, 128);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach a pipe before a crash or a time limit */
    const char *section = argc > 1 ? argv[1] : "fp32";
    if (strcmp(section, "fp32") && strcmp(section, "bf16") && strcmp(section, "attention") &&
        strcmp(section, "recovery") && strcmp(section, "bench")) {
        fprintf(stderr, "usage: op_parity [fp32|bf16|attention|recovery|bench]\n");
        return 2;
    }
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
    if (strcmp(section, "bf16") == 0) {
        precision = HS_PRECISION_BF16;
        if (p.gpu->set_precision(p.gc, precision) != 0) {
            printf("op_parity: %s\n", p.gpu->last_error(p.gc));
            return 1;
        }
    }
    printf("op parity [%s], CUDA (%s) vs CPU (%s):\n", section, p.gpu->describe(p.gc),
           p.cpu->describe(p.cc));
    if (strcmp(section, "fp32") == 0 || strcmp(section, "bf16") == 0)
        section_ops(&p);
    else if (strcmp(section, "attention") == 0)
        section_attention(&p);
    else if (strcmp(section, "recovery") == 0)
        section_recovery(&p);
    else
        section_bench(&p);
    p.gpu->shutdown(p.gc);
    p.cpu->shutdown(p.cc);
    printf("op_parity [%s]: %d failure(s)\n", section, failures);
    return failures ? 1 : 0;
}
