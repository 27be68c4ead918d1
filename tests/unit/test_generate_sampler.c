/* The sampler and sampled generation: a chi-square test of draw frequencies against the
 * distribution written here from transformers' definitions (softmax(logits/T), top-k keeping
 * ties with the k-th, top-p removing the ascending tail whose cumulative probability is
 * <= 1 − top_p), on a tiny vocabulary with a fixed seed (deterministic, so the test cannot
 * flake; the threshold is the 1e-6 tail of chi-square); tokens outside top-k/top-p are never
 * drawn; HF's repetition penalty; and on tiny-h6-f32: sampling with top_k = 1 gives
 * transformers' greedy ids, the same seed gives the same completion, another seed another. */
#include "test_graph_util.h"

#include "engine/generate/generate.h"

enum { V = 8, DRAWS = 40000 };

/* softmax(logits/T), top-k, top-p as transformers defines them, in double. */
static void expected_distribution(const float *logits, double T, int top_k, double top_p,
                                  double *p)
{
    double scaled[V], sorted[V];
    for (int i = 0; i < V; i++)
        scaled[i] = sorted[i] = (double)(logits[i] / (float)T);
    for (int i = 0; i < V; i++) /* descending insertion sort */
        for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            double t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t;
        }
    double kth = top_k > 0 ? sorted[top_k - 1] : -INFINITY, z = 0.0;
    for (int i = 0; i < V; i++) {
        p[i] = scaled[i] < kth ? 0.0 : exp(scaled[i]);
        z += p[i];
    }
    for (int i = 0; i < V; i++)
        p[i] /= z;
    /* top-p: walk the kept tokens from the least probable up */
    int idx[V];
    for (int i = 0; i < V; i++)
        idx[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i; j > 0 && p[idx[j]] < p[idx[j - 1]]; j--) {
            int t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
        }
    double cum = 0.0, kept = 0.0;
    for (int r = 0; r < V; r++) {
        if (p[idx[r]] == 0.0)
            continue;
        cum += p[idx[r]];
        if (cum <= 1.0 - top_p && r < V - 1)
            p[idx[r]] = 0.0;
    }
    for (int i = 0; i < V; i++)
        kept += p[i];
    for (int i = 0; i < V; i++)
        p[i] /= kept;
}

static void check_frequencies(double T, int top_k, double top_p, uint64_t seed)
{
    const float logits[V] = {1.5f, -0.3f, 0.9f, 2.2f, -1.7f, 0.1f, 1.1f, -0.6f};
    double want[V], probs[V];
    int order[V], counts[V] = {0};
    expected_distribution(logits, T, top_k, top_p, want);
    hs_sampling s = {.do_sample = true, .temperature = T, .top_k = top_k, .top_p = top_p,
                     .repetition_penalty = 1.0, .seed = seed};
    hs_sampling_distribution(&s, logits, V, probs, order);
    for (int i = 0; i < V; i++)
        if (fabs(probs[i] - want[i]) > 1e-12)
            fail_msg("token %d: the sampler's probability %.17g, expected %.17g", i, probs[i],
                     want[i]);
    for (int i = 0; i < DRAWS; i++) {
        int tok = hs_sample_token(&s, logits, V, 0, (uint64_t)i, probs, order);
        assert_true(tok >= 0 && tok < V);
        counts[tok]++;
    }
    double chi2 = 0.0;
    int kept = 0;
    for (int i = 0; i < V; i++) {
        if (want[i] == 0.0) {
            if (counts[i] != 0)
                fail_msg("token %d is outside top-k/top-p but was drawn %d times", i, counts[i]);
            continue;
        }
        kept++;
        double e = want[i] * DRAWS;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    /* chi-square 1e-6 upper quantiles for df = 1..7 */
    static const double limit[] = {0, 23.93, 27.63, 30.66, 33.38, 35.89, 38.26, 40.52};
    print_message("T=%g top_k=%d top_p=%g: %d tokens kept, chi2 %.2f (df %d, limit %.2f)\n", T,
                  top_k, top_p, kept, chi2, kept - 1, limit[kept - 1]);
    if (kept > 1 && chi2 > limit[kept - 1])
        fail_msg("draw frequencies do not follow the distribution: chi2 %.2f", chi2);
}

static void test_sampling_frequencies(void **state)
{
    (void)state;
    check_frequencies(1.0, 0, 1.0, 1);    /* plain softmax */
    check_frequencies(0.7, 4, 1.0, 2);    /* temperature and top-k */
    check_frequencies(1.3, 0, 0.8, 3);    /* top-p */
    check_frequencies(0.9, 5, 0.75, 4);   /* all three */
}

/* The frequency test must be able to fail: draws from a wrong temperature are rejected. */
static void test_frequency_test_has_power(void **state)
{
    (void)state;
    const float logits[V] = {1.5f, -0.3f, 0.9f, 2.2f, -1.7f, 0.1f, 1.1f, -0.6f};
    double want[V], probs[V];
    int order[V], counts[V] = {0};
    expected_distribution(logits, 1.0, 0, 1.0, want);
    hs_sampling s = {.do_sample = true, .temperature = 1.1, .top_k = 0, .top_p = 1.0,
                     .repetition_penalty = 1.0, .seed = 9};
    for (int i = 0; i < DRAWS; i++)
        counts[hs_sample_token(&s, logits, V, 0, (uint64_t)i, probs, order)]++;
    double chi2 = 0.0;
    for (int i = 0; i < V; i++)
        chi2 += (counts[i] - want[i] * DRAWS) * (counts[i] - want[i] * DRAWS) / (want[i] * DRAWS);
    assert_true(chi2 > 40.52);
}

static void test_repetition_penalty_as_transformers(void **state)
{
    (void)state;
    float logits[4] = {2.0f, -1.0f, 0.5f, 3.0f};
    uint8_t mark[4] = {0};
    const int32_t seen[] = {1, 0, 1, 7, -2};
    hs_apply_repetition_penalty(logits, 4, seen, 5, 1.3, mark);
    assert_true(logits[0] == 2.0f / 1.3f);  /* positive: divided, once */
    assert_true(logits[1] == -1.0f * 1.3f); /* negative: multiplied, once */
    assert_true(logits[2] == 0.5f && logits[3] == 3.0f);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mark[i], 0);
}

static hs_completion generate_one(hs_model *m, const hs_token_seq *prompt, hs_sampling s)
{
    hs_generate_params p = {.max_new_tokens = 64, .sampling = s};
    hs_completion out;
    char err[HS_ERR_LEN];
    if (hs_generate(m, prompt, 1, &p, NULL, &out, err, sizeof err) != 0)
        fail_msg("%s", err);
    return out;
}

static void test_sampled_generation(void **state)
{
    (void)state;
    cJSON *fx = tg_load_json("tests/reference/generate/tiny-h6-f32.json");
    const cJSON *first = cJSON_GetArrayItem(tg_item(fx, "prompts"), 2);
    hs_token_seq prompt;
    prompt.ids = tg_ids(tg_item(first, "ids"), &prompt.T);
    int n_ref = 0;
    int32_t *ref = tg_ids(tg_item(first, "generated"), &n_ref);
    hs_backend_ctx *ctx;
    const hs_backend *be = tg_cpu(&ctx);
    hs_model *m = tg_load_model("tiny-h6-f32", be, ctx);

    hs_sampling s = hs_sampling_default();
    s.do_sample = true, s.top_k = 1, s.temperature = 0.7, s.seed = 5;
    hs_completion a = generate_one(m, &prompt, s);
    assert_int_equal(a.n, n_ref);
    assert_memory_equal(a.ids, ref, (size_t)n_ref * sizeof(int32_t)); /* top_k = 1 is greedy */

    s.top_k = 0, s.top_p = 0.95, s.temperature = 1.0, s.seed = 42;
    hs_completion b = generate_one(m, &prompt, s), c = generate_one(m, &prompt, s);
    assert_int_equal(b.n, c.n);
    assert_memory_equal(b.ids, c.ids, (size_t)b.n * sizeof(int32_t));
    assert_string_equal(b.text, c.text);
    s.seed = 43;
    hs_completion d = generate_one(m, &prompt, s);
    assert_true(d.n != b.n || memcmp(d.ids, b.ids, (size_t)b.n * sizeof(int32_t)) != 0);

    hs_completions_free(&a, 1); hs_completions_free(&b, 1);
    hs_completions_free(&c, 1); hs_completions_free(&d, 1);
    hs_model_free(m);
    be->shutdown(ctx);
    free(prompt.ids);
    free(ref);
    cJSON_Delete(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling_frequencies),
        cmocka_unit_test(test_frequency_test_has_power),
        cmocka_unit_test(test_repetition_penalty_as_transformers),
        cmocka_unit_test(test_sampled_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
