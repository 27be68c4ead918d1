/* CPU backend attention and attention_backward against a double-precision reference written
 * here from docs/model-families.md "Attention": explicit [T,T] score matrix per (b, h) with
 * score(i,j) = (q_i·k_j)/sqrt(d) + slope_h·j for j <= i, softmax, P·V; the per-head statistics
 * (mean over rows of A[t,0], −Σ A ln A, Σ_{j=t−2..t} A[t,j]) from that explicit matrix.
 * Shapes cover T=1, H not a power of two, d = 8/16/64 and T beyond the kernel's row block.
 * The backward is checked by central finite differences (step 1e-5, in double) of the double
 * forward for L = Σ r⊙out with a random r, with probs given and recomputed, and with a head
 * mask (masked heads must come back exactly zero). */
#include "engine/families/alibi_slopes.h"
#include "test_kernels_common.h"

#include <string.h>

typedef struct {
    int B, T, H, d;
} attn_shape;

static size_t qkv_count(attn_shape s)
{
    return (size_t)s.B * s.T * 3 * s.H * s.d;
}

static size_t out_count(attn_shape s)
{
    return (size_t)s.B * s.T * s.H * s.d;
}

/* Double reference. probs [B,H,T,T] and stats [B,H,3] may be NULL. */
static void reference_attention(attn_shape s, const double *qkv, const float *slopes, double *out,
                                double *probs, double *stats)
{
    int T = s.T, H = s.H, d = s.d, ld = 3 * H * d;
    double *A = test_alloc((size_t)T * T * sizeof(double));
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < H; h++) {
            const double *base = qkv + (size_t)b * T * ld + (size_t)h * 3 * d;
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0.0;
                    for (int c = 0; c < d; c++)
                        dot += base[(size_t)i * ld + c] * base[(size_t)j * ld + d + c];
                    double sc = dot / sqrt((double)d) + (double)slopes[h] * j;
                    A[(size_t)i * T + j] = sc;
                    if (sc > mx)
                        mx = sc;
                }
                double z = 0.0;
                for (int j = 0; j <= i; j++) {
                    A[(size_t)i * T + j] = exp(A[(size_t)i * T + j] - mx);
                    z += A[(size_t)i * T + j];
                }
                for (int j = 0; j < T; j++)
                    A[(size_t)i * T + j] = j <= i ? A[(size_t)i * T + j] / z : 0.0;
            }
            for (int i = 0; i < T; i++)
                for (int c = 0; c < d; c++) {
                    double acc = 0.0;
                    for (int j = 0; j <= i; j++)
                        acc += A[(size_t)i * T + j] * base[(size_t)j * ld + 2 * d + c];
                    out[((size_t)b * T + i) * H * d + (size_t)h * d + c] = acc;
                }
            if (probs)
                memcpy(probs + ((size_t)b * H + h) * T * T, A, (size_t)T * T * sizeof(double));
            if (stats) {
                double bos = 0, ent = 0, loc = 0;
                for (int t = 0; t < T; t++) {
                    bos += A[(size_t)t * T];
                    for (int j = 0; j < T; j++) {
                        double a = A[(size_t)t * T + j];
                        if (a > 0)
                            ent -= a * log(a);
                    }
                    for (int j = t - 2 < 0 ? 0 : t - 2; j <= t; j++)
                        loc += A[(size_t)t * T + j];
                }
                double *st = stats + ((size_t)b * H + h) * HS_STAT_COUNT;
                st[HS_STAT_BOS] = bos / T;
                st[HS_STAT_ENTROPY] = ent / T;
                st[HS_STAT_LOCAL] = loc / T;
            }
        }
    free(A);
}

static double *to_double(const float *x, size_t n)
{
    double *d = test_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static void run_forward_case(hs_backend_ctx *ctx, attn_shape s, double qk_range)
{
    size_t nq = qkv_count(s), no = out_count(s), np = (size_t)s.B * s.H * s.T * s.T;
    size_t ns = (size_t)s.B * s.H * HS_STAT_COUNT;
    float *qkv = test_alloc(nq * 4), *out = test_alloc(no * 4), *out2 = test_alloc(no * 4);
    float *probs = test_alloc(np * 4), *stats = test_alloc(ns * 4), *stats2 = test_alloc(ns * 4);
    float *slopes = test_alloc((size_t)s.H * 4);
    test_fill_uniform(qkv, nq, -qk_range, qk_range);
    hs_alibi_slopes_bloom(s.H, slopes);
    /* sentinel in probs to check the whole [T,T] block is written, zeros above the diagonal */
    for (size_t i = 0; i < np; i++)
        probs[i] = 777.0f;

    double *qkv_d = to_double(qkv, nq);
    double *out_r = test_alloc(no * 8), *probs_r = test_alloc(np * 8), *stats_r = test_alloc(ns * 8);
    reference_attention(s, qkv_d, slopes, out_r, probs_r, stats_r);

    assert_int_equal(hs_cpu_backend.attention(ctx, out, probs, stats, qkv, slopes, s.B, s.T, s.H,
                                              s.d),
                     0);
    /* |v| <= qk_range; the fp32 scores carry ~|score|·2^-24 of error into exp, so outputs are
     * good to ~1e-6 relative; tolerances leave a 10× margin */
    double eo = test_assert_close("attention out", out, out_r, no, 2e-5, 1e-5);
    double ep = test_assert_close("attention probs", probs, probs_r, np, 1e-5, 1e-5);
    double es = test_assert_close("attention stats", stats, stats_r, ns, 2e-5, 1e-5);

    /* without probs: same results from the blocked scratch path, no T×T output needed */
    assert_int_equal(hs_cpu_backend.attention(ctx, out2, NULL, stats2, qkv, slopes, s.B, s.T, s.H,
                                              s.d),
                     0);
    test_assert_close("attention out (probs NULL)", out2, out_r, no, 2e-5, 1e-5);
    test_assert_close("attention stats (probs NULL)", stats2, stats_r, ns, 2e-5, 1e-5);
    /* neither probs nor stats */
    assert_int_equal(
        hs_cpu_backend.attention(ctx, out2, NULL, NULL, qkv, slopes, s.B, s.T, s.H, s.d), 0);
    test_assert_close("attention out (no outputs)", out2, out_r, no, 2e-5, 1e-5);

    print_message("attention B=%d T=%d H=%d d=%d: max |err| out %.3g probs %.3g stats %.3g\n",
                  s.B, s.T, s.H, s.d, eo, ep, es);
    free(qkv), free(out), free(out2), free(probs), free(stats), free(stats2), free(slopes);
    free(qkv_d), free(out_r), free(probs_r), free(stats_r);
}

static void test_attention_forward_shapes(void **state)
{
    hs_backend_ctx *ctx = *state;
    const attn_shape shapes[] = {
        {1, 1, 1, 8},  /* T = 1: one key, probability 1 */
        {2, 5, 3, 16}, /* H not a power of two, B > 1 */
        {1, 70, 6, 64},  /* T beyond one row block, H = 6 */
        {2, 129, 5, 8},  /* two full blocks and a one-row block */
        {1, 64, 16, 64}, /* exactly one block, BLOOM-560m head shape */
        {1, 512, 4, 64}, /* BLOOM-560m sequence length: 8 blocks, steep slopes underflow */
    };
    test_rng_seed(41);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_forward_case(ctx, shapes[i], 2.0);
}

/* Sharp attention (large scores) and a head that is pushed onto key 0: the statistics must
 * follow the explicit matrix there too. */
static void test_attention_statistics_extremes(void **state)
{
    hs_backend_ctx *ctx = *state;
    test_rng_seed(42);
    run_forward_case(ctx, (attn_shape){1, 40, 4, 16}, 6.0);

    attn_shape s = {1, 33, 2, 8};
    size_t nq = qkv_count(s);
    float *qkv = test_alloc(nq * 4), *out = test_alloc(out_count(s) * 4);
    float *stats = test_alloc((size_t)s.B * s.H * 3 * 4), slopes[2];
    test_fill_uniform(qkv, nq, -0.1, 0.1);
    int ld = 3 * s.H * s.d;
    /* head 0: key 0 aligned with every query, strongly; head 1 left near-uniform */
    for (int c = 0; c < s.d; c++)
        qkv[s.d + c] = 4.0f;
    for (int t = 0; t < s.T; t++)
        for (int c = 0; c < s.d; c++)
            qkv[(size_t)t * ld + c] = 4.0f;
    slopes[0] = 0.0f;
    slopes[1] = 0.0f;
    assert_int_equal(
        hs_cpu_backend.attention(ctx, out, NULL, stats, qkv, slopes, s.B, s.T, s.H, s.d), 0);
    double *qkv_d = to_double(qkv, nq), *out_r = test_alloc(out_count(s) * 8);
    double stats_r[6];
    reference_attention(s, qkv_d, slopes, out_r, NULL, stats_r);
    test_assert_close("sink stats", stats, stats_r, 6, 2e-5, 1e-5);
    assert_true(stats[HS_STAT_BOS] > 0.9f);      /* a BOS sink */
    assert_true(stats[3 + HS_STAT_BOS] < 0.3f);  /* near-uniform head */
    print_message("sink head: bos %.6f entropy %.6f local %.6f (ref %.6f %.6f %.6f)\n",
                  (double)stats[0], (double)stats[1], (double)stats[2], stats_r[0], stats_r[1],
                  stats_r[2]);
    free(qkv), free(out), free(stats), free(qkv_d), free(out_r);
}

/* ---- backward -------------------------------------------------------------------------- */

static double functional(attn_shape s, const double *qkv, const float *slopes, const double *r,
                         double *scratch)
{
    reference_attention(s, qkv, slopes, scratch, NULL, NULL);
    double L = 0.0;
    for (size_t i = 0; i < out_count(s); i++)
        L += scratch[i] * r[i];
    return L;
}

/* Checks dqkv of the kernel (with probs given and with probs NULL) against central
 * differences on `checks` randomly chosen qkv elements (all of them when checks == 0). */
static void run_backward_case(hs_backend_ctx *ctx, attn_shape s, const uint8_t *head_mask,
                              int checks)
{
    size_t nq = qkv_count(s), no = out_count(s), np = (size_t)s.B * s.H * s.T * s.T;
    float *qkv = test_alloc(nq * 4), *out = test_alloc(no * 4), *dout = test_alloc(no * 4);
    float *probs = test_alloc(np * 4), *dqkv = test_alloc(nq * 4), *dqkv2 = test_alloc(nq * 4);
    float *slopes = test_alloc((size_t)s.H * 4);
    test_fill_uniform(qkv, nq, -1.5, 1.5);
    test_fill_uniform(dout, no, -1, 1);
    hs_alibi_slopes_bloom(s.H, slopes);
    /* garbage in the output: the op overwrites it */
    test_fill_uniform(dqkv, nq, 100, 200);
    test_fill_uniform(dqkv2, nq, 100, 200);

    assert_int_equal(hs_cpu_backend.attention(ctx, out, probs, NULL, qkv, slopes, s.B, s.T, s.H,
                                              s.d),
                     0);
    assert_int_equal(hs_cpu_backend.attention_backward(ctx, dqkv, dout, qkv, probs, slopes,
                                                       head_mask, s.B, s.T, s.H, s.d),
                     0);
    assert_int_equal(hs_cpu_backend.attention_backward(ctx, dqkv2, dout, qkv, NULL, slopes,
                                                       head_mask, s.B, s.T, s.H, s.d),
                     0);

    double *qkv_d = to_double(qkv, nq), *r = to_double(dout, no);
    double *scratch = test_alloc(no * 8);
    int n_check = checks > 0 && (size_t)checks < nq ? checks : (int)nq;
    double worst = 0.0, worst2 = 0.0, grad_scale = 0.0;
    size_t *which = test_alloc((size_t)n_check * sizeof(size_t));
    double *fd = test_alloc((size_t)n_check * sizeof(double));
    for (int c = 0; c < n_check; c++) {
        size_t idx = n_check == (int)nq ? (size_t)c : (size_t)test_rng_int((int)nq);
        which[c] = idx;
        int head = (int)((idx % (size_t)(3 * s.H * s.d)) / (size_t)(3 * s.d));
        if (head_mask && !head_mask[head]) {
            fd[c] = 0.0; /* masked heads get no gradient, by definition of the op */
            continue;
        }
        const double h = 1e-5;
        double keep = qkv_d[idx];
        qkv_d[idx] = keep + h;
        double up = functional(s, qkv_d, slopes, r, scratch);
        qkv_d[idx] = keep - h;
        double down = functional(s, qkv_d, slopes, r, scratch);
        qkv_d[idx] = keep;
        fd[c] = (up - down) / (2 * h);
        if (fabs(fd[c]) > grad_scale)
            grad_scale = fabs(fd[c]);
    }
    /* fp32 analytic gradient vs double central difference (truncation ~h²·|f'''| ≈ 1e-9):
     * |err| <= 1e-4·max|grad| + 1e-5 */
    double atol = 1e-4 * grad_scale + 1e-5;
    for (int c = 0; c < n_check; c++) {
        size_t idx = which[c];
        int head = (int)((idx % (size_t)(3 * s.H * s.d)) / (size_t)(3 * s.d));
        if (head_mask && !head_mask[head]) {
            if (dqkv[idx] != 0.0f || dqkv2[idx] != 0.0f)
                fail_msg("masked head %d: dqkv[%zu] = %g / %g, want exactly 0", head, idx,
                         (double)dqkv[idx], (double)dqkv2[idx]);
            continue;
        }
        double e1 = fabs(dqkv[idx] - fd[c]), e2 = fabs(dqkv2[idx] - fd[c]);
        if (!(e1 <= atol) || !(e2 <= atol))
            fail_msg("B=%d T=%d H=%d d=%d: dqkv[%zu] got %.9g (probs) / %.9g (recomputed), "
                     "finite difference %.9g, tolerance %.3g",
                     s.B, s.T, s.H, s.d, idx, (double)dqkv[idx], (double)dqkv2[idx], fd[c], atol);
        worst = e1 > worst ? e1 : worst;
        worst2 = e2 > worst2 ? e2 : worst2;
    }
    print_message("attention_backward B=%d T=%d H=%d d=%d mask=%s: %d elements, max|grad| %.3g, "
                  "max |err| %.3g (probs) %.3g (recomputed)\n",
                  s.B, s.T, s.H, s.d, head_mask ? "partial" : "all", n_check, grad_scale, worst,
                  worst2);
    free(qkv), free(out), free(dout), free(probs), free(dqkv), free(dqkv2), free(slopes);
    free(qkv_d), free(r), free(scratch), free(which), free(fd);
}

static void test_attention_backward_finite_differences(void **state)
{
    hs_backend_ctx *ctx = *state;
    test_rng_seed(43);
    run_backward_case(ctx, (attn_shape){1, 1, 1, 8}, NULL, 0);
    run_backward_case(ctx, (attn_shape){2, 5, 3, 8}, NULL, 0);
    const uint8_t mask[3] = {1, 0, 1};
    run_backward_case(ctx, (attn_shape){2, 5, 3, 8}, mask, 0);
    /* more than one row block: rows past 64 see keys of earlier blocks */
    run_backward_case(ctx, (attn_shape){1, 70, 2, 16}, NULL, 160);
    const uint8_t mask6[6] = {0, 1, 0, 0, 1, 0};
    run_backward_case(ctx, (attn_shape){1, 9, 6, 16}, mask6, 0);
}

/* Heads are shared among threads but each head is computed by one thread in a fixed order:
 * repeated calls give bit-identical outputs, statistics and gradients. */
static void test_attention_repeatable(void **state)
{
    hs_backend_ctx *ctx = *state;
    attn_shape s = {2, 77, 5, 16};
    size_t nq = qkv_count(s), no = out_count(s), ns = (size_t)s.B * s.H * HS_STAT_COUNT;
    float *qkv = test_alloc(nq * 4), *dout = test_alloc(no * 4), slopes[5];
    float *out[2] = {test_alloc(no * 4), test_alloc(no * 4)};
    float *stats[2] = {test_alloc(ns * 4), test_alloc(ns * 4)};
    float *dqkv[2] = {test_alloc(nq * 4), test_alloc(nq * 4)};
    test_rng_seed(44);
    test_fill_uniform(qkv, nq, -2, 2);
    test_fill_uniform(dout, no, -1, 1);
    hs_alibi_slopes_bloom(s.H, slopes);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(hs_cpu_backend.attention(ctx, out[r], NULL, stats[r], qkv, slopes, s.B,
                                                  s.T, s.H, s.d),
                         0);
        assert_int_equal(hs_cpu_backend.attention_backward(ctx, dqkv[r], dout, qkv, NULL, slopes,
                                                           NULL, s.B, s.T, s.H, s.d),
                         0);
    }
    assert_memory_equal(out[0], out[1], no * 4);
    assert_memory_equal(stats[0], stats[1], ns * 4);
    assert_memory_equal(dqkv[0], dqkv[1], nq * 4);
    free(qkv), free(dout);
    for (int r = 0; r < 2; r++)
        free(out[r]), free(stats[r]), free(dqkv[r]);
}

static void test_attention_rejects_bad_arguments(void **state)
{
    hs_backend_ctx *ctx = *state;
    float buf[64] = {0}, slopes[2] = {0.5f, 0.25f};
    assert_int_equal(hs_cpu_backend.attention(ctx, buf, NULL, NULL, buf, slopes, 1, 2, 0, 8), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "H=0"));
    assert_int_equal(hs_cpu_backend.attention(ctx, buf, NULL, NULL, buf, NULL, 1, 1, 2, 8), -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "slopes is NULL"));
    assert_int_equal(hs_cpu_backend.attention_backward(ctx, buf, NULL, buf, NULL, slopes, NULL, 1,
                                                       1, 2, 8),
                     -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "dout is NULL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_forward_shapes),
        cmocka_unit_test(test_attention_statistics_extremes),
        cmocka_unit_test(test_attention_backward_finite_differences),
        cmocka_unit_test(test_attention_repeatable),
        cmocka_unit_test(test_attention_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("kernels_attention", tests, test_setup_cpu,
                                       test_teardown_cpu);
}
