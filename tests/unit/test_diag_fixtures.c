/* Diagnosis and perplexity against the HF transformers fixtures of tests/reference/forward/
 * (README §3): for every run of every fixture model, hs_tokenize_texts gives the fixture's ids
 * (truncation to max_length, optional <s> prepended); hs_diagnose's per-head mean and
 * population std over the run's texts match HF's within 1e-5 absolute; hs_perplexity_eval's
 * overall and per-text numbers match within 1e-5 relative, and the predicted-token counts
 * exactly. Covers power-of-two (4) and non-power-of-two (6) head counts and bf16 weights. */
#include "test_diag_util.h"

#include "engine/model/model.h"
#include "engine/diagnosis/diagnosis.h"

static const char *const fixture_models[] = {"tiny-h4-f32", "tiny-h6-f32", "tiny-h4-bf16"};

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        fail_msg("fixture field \"%s\" is missing", k);
    return v;
}

static double stat_at(const cJSON *grid, int l, int h)
{
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(grid, l), h);
    if (!cJSON_IsNumber(v))
        fail_msg("fixture statistic [%d][%d] missing", l, h);
    return v->valuedouble;
}

static int progress_calls;
static void count_progress(void *arg, int done, int total)
{
    (void)arg;
    assert_true(done >= 1 && done <= total);
    progress_calls++;
}

static void check_run(hs_model *m, const cJSON *run, int max_length, const char *model)
{
    const cJSON *texts = get(run, "texts");
    const int n = cJSON_GetArraySize(texts);
    const bool bos = cJSON_IsTrue(get(run, "prepend_bos"));
    const char **strs = calloc((size_t)n, sizeof *strs);
    assert_non_null(strs);
    for (int i = 0; i < n; i++)
        strs[i] = get(cJSON_GetArrayItem(texts, i), "text")->valuestring;
    char err[HS_ERR_LEN];
    hs_token_seq *seqs = NULL;
    if (hs_tokenize_texts(m, strs, n, max_length, bos, &seqs, err, sizeof err) != 0)
        fail_msg("%s: tokenize: %s", model, err);
    for (int i = 0; i < n; i++) {
        const cJSON *ids = get(cJSON_GetArrayItem(texts, i), "ids");
        assert_int_equal(seqs[i].T, cJSON_GetArraySize(ids));
        for (int k = 0; k < seqs[i].T; k++)
            assert_int_equal(seqs[i].ids[k], cJSON_GetArrayItem(ids, k)->valueint);
    }

    hs_diagnosis d;
    progress_calls = 0;
    if (hs_diagnose(m, seqs, n, NULL, &d, count_progress, NULL, err, sizeof err) != 0)
        fail_msg("%s: diagnose: %s", model, err);
    assert_int_equal(progress_calls, n);
    assert_int_equal(d.n_texts, n);
    const cJSON *hsf = get(run, "head_stats");
    double worst = 0.0;
    for (int l = 0; l < d.n_layer; l++)
        for (int h = 0; h < d.n_head; h++) {
            const hs_head_result *r = &d.heads[l * d.n_head + h];
            assert_int_equal(r->layer, l);
            assert_int_equal(r->head, h);
            const double got[6] = {r->bos_mass, r->bos_std, r->entropy, r->entropy_std,
                                   r->local_mass, r->local_std};
            const char *keys[6] = {"bos_mean", "bos_std", "entropy_mean", "entropy_std",
                                   "local_mean", "local_std"};
            for (int s = 0; s < 6; s++) {
                double want = stat_at(get(hsf, keys[s]), l, h);
                double e = fabs(got[s] - want);
                if (e > worst)
                    worst = e;
                if (!(e <= 1e-5))
                    fail_msg("%s run %s: %s[%d][%d] = %.9g, HF %.9g", model,
                             get(run, "name")->valuestring, keys[s], l, h, got[s], want);
            }
        }
    print_message("%s run %s: %d texts, max |stat - HF| = %.3g\n", model,
                  get(run, "name")->valuestring, n, worst);
    hs_diagnosis_free(&d);

    hs_perplexity p;
    if (hs_perplexity_eval(m, seqs, n, &p, NULL, NULL, err, sizeof err) != 0)
        fail_msg("%s: perplexity: %s", model, err);
    const double want_ppl = get(run, "ppl")->valuedouble;
    assert_int_equal(p.tokens, (long long)get(run, "total_predicted")->valuedouble);
    double rel = fabs(p.ppl - want_ppl) / want_ppl;
    print_message("%s run %s: ppl %.9g, HF %.9g, relative error %.3g\n", model,
                  get(run, "name")->valuestring, p.ppl, want_ppl, rel);
    assert_true(rel <= 1e-5);
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(texts, i);
        assert_int_equal(p.text_tokens[i], (int)get(t, "count")->valuedouble);
        double want = get(t, "nll_sum")->valuedouble;
        assert_true(fabs(p.text_nll[i] - want) <= 1e-5 * fabs(want));
    }
    cJSON *pj = hs_perplexity_to_json(&p);
    assert_non_null(pj);
    assert_true(fabs(get(pj, "ppl")->valuedouble - want_ppl) <= 1e-5 * want_ppl);
    assert_int_equal(cJSON_GetArraySize(get(pj, "texts")), n);
    cJSON_Delete(pj);
    hs_perplexity_free(&p);
    hs_token_seqs_free(seqs, n);
    free(strs);
}

static void test_against_hf_fixtures(void **state)
{
    (void)state;
    hs_backend_ctx *ctx = td_cpu();
    for (size_t i = 0; i < sizeof fixture_models / sizeof fixture_models[0]; i++) {
        char rel[256], dir[4096], err[HS_ERR_LEN];
        snprintf(rel, sizeof rel, "tests/reference/forward/%s.json", fixture_models[i]);
        cJSON *fx = tu_read_json(rel);
        if (!fx)
            fail_msg("fixture %s is missing (python3 tests/reference/make_fixtures.py)", rel);
        tu_repo_path(dir, sizeof dir, get(fx, "model_dir")->valuestring);
        hs_model *m = hs_model_load(dir, &hs_cpu_backend, ctx, err, sizeof err);
        if (!m)
            fail_msg("loading %s: %s", dir, err);
        const int max_length = get(fx, "max_length")->valueint;
        const cJSON *run;
        cJSON_ArrayForEach(run, get(fx, "runs")) check_run(m, run, max_length, fixture_models[i]);
        hs_model_free(m);
        cJSON_Delete(fx);
    }
    hs_cpu_backend.shutdown(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_hf_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
