/* CPU backend attention_decode (KV-cached generation) against the full-sequence attention op:
 * sequences of different lengths are prefilled one by one into their cache slots, then
 * decoded as one batch (one row per step, and a step of several rows); every new row's output
 * must equal what attention() over the whole sequence gives that row within 1e-6 relative
 * (to the output's largest magnitude), and the caches must hold the sequences' k and v rows
 * exactly. Also: the argument checks (a row past the cache's end is refused). */
#include "engine/families/alibi_slopes.h"
#include "test_kernels_common.h"

#include <string.h>

enum { H = 6, D = 16, B = 3, T_MAX = 100 };
static const int seq_len[B] = {70, 25, 94}; /* final lengths */
static const int prefill[B] = {9, 1, 70};   /* rows given to the prefill (70: two row blocks) */

/* Full-sequence attention of sequence b (its qkv rows) → out [T, H·d]. */
static void full_attention(hs_backend_ctx *ctx, const float *qkv_b, int T, const float *slopes,
                           float *out)
{
    assert_int_equal(hs_cpu_backend.attention(ctx, out, NULL, NULL, qkv_b, slopes, 1, T, H, D),
                     0);
}

/* Rows [t0, t0 + n) of every sequence's qkv packed as a [B, n, 3Hd] batch. */
static void pack_rows(float *dst, float *const *qkv, const int *t0, int n)
{
    const size_t row = 3 * H * D;
    for (int b = 0; b < B; b++)
        memcpy(dst + (size_t)b * n * row, qkv[b] + (size_t)t0[b] * row,
               (size_t)n * row * sizeof(float));
}

/* Compares out rows [B, n, Hd] against rows t0[b].. of each sequence's full attention. */
static double compare_rows(const float *got, float *const *want, const int *t0, int n,
                           double scale)
{
    const size_t row = H * D;
    double worst = 0.0;
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < (size_t)n * row; i++) {
            double w = want[b][(size_t)t0[b] * row + i];
            double diff = fabs((double)got[(size_t)b * n * row + i] - w);
            if (diff > 1e-6 * scale)
                fail_msg("sequence %d row %zu col %zu: got %.9g want %.9g", b,
                         t0[b] + i / row, i % row, (double)got[(size_t)b * n * row + i], w);
            worst = diff > worst ? diff : worst;
        }
    return worst / scale;
}

static void test_decode_matches_full_attention(void **state)
{
    hs_backend_ctx *ctx = *state;
    float slopes[H];
    hs_alibi_slopes_bloom(H, slopes);
    float *qkv[B], *full[B];
    double scale = 0.0;
    test_rng_seed(11);
    for (int b = 0; b < B; b++) {
        qkv[b] = test_alloc((size_t)seq_len[b] * 3 * H * D * sizeof(float));
        full[b] = test_alloc((size_t)seq_len[b] * H * D * sizeof(float));
        test_fill_uniform(qkv[b], (size_t)seq_len[b] * 3 * H * D, -2, 2);
        full_attention(ctx, qkv[b], seq_len[b], slopes, full[b]);
        for (size_t i = 0; i < (size_t)seq_len[b] * H * D; i++)
            scale = fabs(full[b][i]) > scale ? fabs(full[b][i]) : scale;
    }
    const size_t slot = (size_t)H * T_MAX * D;
    float *kc = test_alloc(B * slot * sizeof(float)), *vc = test_alloc(B * slot * sizeof(float));
    float *out = test_alloc((size_t)B * T_MAX * H * D * sizeof(float));
    float *batch = test_alloc((size_t)B * T_MAX * 3 * H * D * sizeof(float));
    int32_t past[B];
    double worst = 0.0;
    for (int b = 0; b < B; b++) { /* prefill each sequence into its own slot */
        int32_t zero = 0;
        assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc + b * slot, vc + b * slot,
                                                         qkv[b], &zero, slopes, 1, prefill[b],
                                                         H, D, T_MAX),
                         0);
        for (size_t i = 0; i < (size_t)prefill[b] * H * D; i++) {
            double diff = fabs((double)out[i] - full[b][i]);
            if (diff > 1e-6 * scale)
                fail_msg("prefill of sequence %d: element %zu differs by %.3g", b, i, diff);
            worst = diff / scale > worst ? diff / scale : worst;
        }
        past[b] = prefill[b];
    }
    for (int step = 0; step < 22; step++) { /* batched decode; step 5 takes 3 rows at once */
        int n = step == 5 ? 3 : 1;
        int t0[B] = {past[0], past[1], past[2]};
        pack_rows(batch, qkv, t0, n);
        assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc, vc, batch, past, slopes,
                                                         B, n, H, D, T_MAX),
                         0);
        double w = compare_rows(out, full, t0, n, scale);
        worst = w > worst ? w : worst;
        for (int b = 0; b < B; b++)
            past[b] += n;
    }
    for (int b = 0; b < B; b++) /* the caches hold the k and v rows exactly */
        for (int h = 0; h < H; h++)
            for (int j = 0; j < past[b]; j++) {
                const float *src = qkv[b] + (size_t)j * 3 * H * D + (size_t)h * 3 * D;
                assert_memory_equal(kc + b * slot + ((size_t)h * T_MAX + j) * D, src + D,
                                    D * sizeof(float));
                assert_memory_equal(vc + b * slot + ((size_t)h * T_MAX + j) * D, src + 2 * D,
                                    D * sizeof(float));
            }
    print_message("attention_decode vs attention: worst |diff| / max|out| = %.3g\n", worst);
    for (int b = 0; b < B; b++) {
        free(qkv[b]);
        free(full[b]);
    }
    free(kc); free(vc); free(out); free(batch);
}

static void test_decode_rejects_bad_arguments(void **state)
{
    hs_backend_ctx *ctx = *state;
    float slopes[H], qkv[3 * H * D] = {0}, out[H * D], kc[H * 4 * D], vc[H * 4 * D];
    hs_alibi_slopes_bloom(H, slopes);
    int32_t past = 4; /* cache of 4 positions is full */
    assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc, vc, qkv, &past, slopes, 1, 1,
                                                     H, D, 4),
                     -1);
    assert_non_null(strstr(hs_cpu_backend.last_error(ctx), "exceed the cache"));
    past = -1;
    assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc, vc, qkv, &past, slopes, 1, 1,
                                                     H, D, 4),
                     -1);
    past = 0;
    assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, NULL, vc, qkv, &past, slopes, 1,
                                                     1, H, D, 4),
                     -1);
    assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc, vc, qkv, &past, slopes, 1, 1,
                                                     0, D, 4),
                     -1);
    assert_int_equal(hs_cpu_backend.attention_decode(ctx, out, kc, vc, qkv, &past, slopes, 0, 1,
                                                     H, D, 4),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decode_matches_full_attention, test_setup_cpu,
                                        test_teardown_cpu),
        cmocka_unit_test_setup_teardown(test_decode_rejects_bad_arguments, test_setup_cpu,
                                        test_teardown_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
