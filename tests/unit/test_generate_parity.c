/* Generation against transformers (tests/reference/generate/, the `generate` fixture stage):
 * for tiny-h4-f32, tiny-h6-f32 and tiny-mpt-h6-f32, all 24 prompts decoded as one batch over
 * the KV cache must give HF's greedy generate(use_cache=True) ids token for token, and the
 * raw logits at the stored steps must match within 1e-4 relative. Also: finishing at an eos
 * id (the model's eos id set to a token the reference generates) cuts every completion right
 * after that token's first occurrence, and a stop string cuts the text before it. */
#include "test_graph_util.h"

#include "engine/generate/generate.h"

typedef struct {
    const hs_st_set *logit_file;
    int n_steps;
    const int *steps;
    double worst;
    int compared;
} logit_check;

static void compare_logits(void *arg, int prompt, int step, const float *logits, int V)
{
    logit_check *lc = arg;
    if (prompt >= 3)
        return;
    for (int k = 0; k < lc->n_steps; k++) {
        if (lc->steps[k] != step)
            continue;
        char name[32];
        snprintf(name, sizeof name, "p%d_s%d", prompt, step);
        if (!hs_st_find(lc->logit_file, name))
            return; /* the reference generation ended earlier */
        size_t n = 0;
        float *ref = tg_tensor(lc->logit_file, name, &n);
        assert_int_equal(n, (size_t)V);
        double e = tg_rel_err(logits, ref, n);
        if (e > 1e-4)
            fail_msg("logits of prompt %d step %d: rel err %.3g > 1e-4", prompt, step, e);
        lc->worst = e > lc->worst ? e : lc->worst;
        lc->compared++;
        free(ref);
    }
}

typedef struct {
    cJSON *fx;
    hs_st_set *logits;
    hs_token_seq *prompts;
    int n;
    hs_model *m;
    hs_backend_ctx *ctx;
    const hs_backend *be;
} fixture;

static void fixture_open(fixture *f, const char *model)
{
    char rel[256], p[4096], err[HS_ERR_LEN];
    snprintf(rel, sizeof rel, "tests/reference/generate/%s.json", model);
    f->fx = tg_load_json(rel);
    snprintf(rel, sizeof rel, "tests/reference/generate/%s.safetensors", model);
    tu_repo_path(p, sizeof p, rel);
    f->logits = hs_st_open_file(p, err, sizeof err);
    if (!f->logits)
        fail_msg("%s", err);
    const cJSON *prompts = tg_item(f->fx, "prompts");
    f->n = cJSON_GetArraySize(prompts);
    f->prompts = calloc((size_t)f->n, sizeof *f->prompts);
    assert_non_null(f->prompts);
    for (int i = 0; i < f->n; i++)
        f->prompts[i].ids = tg_ids(tg_item(cJSON_GetArrayItem(prompts, i), "ids"),
                                   &f->prompts[i].T);
    f->be = tg_cpu(&f->ctx);
    f->m = tg_load_model(model, f->be, f->ctx);
}

static void fixture_close(fixture *f)
{
    hs_model_free(f->m);
    f->be->shutdown(f->ctx);
    hs_token_seqs_free(f->prompts, f->n);
    hs_st_close(f->logits);
    cJSON_Delete(f->fx);
}

static int32_t *reference_ids(const fixture *f, int i, int *n)
{
    return tg_ids(tg_item(cJSON_GetArrayItem(tg_item(f->fx, "prompts"), i), "generated"), n);
}

static hs_generate_params greedy_params(int max_new)
{
    hs_generate_params p = {.max_new_tokens = max_new, .sampling = hs_sampling_default()};
    return p;
}

static void check_greedy(const char *model)
{
    fixture f;
    fixture_open(&f, model);
    const int max_new = (int)tg_num(f.fx, "max_new_tokens");
    static const int steps[] = {0, 1, 17, 63};
    logit_check lc = {.logit_file = f.logits, .n_steps = 4, .steps = steps};
    hs_generate_params p = greedy_params(max_new);
    p.on_logits = compare_logits;
    p.on_logits_arg = &lc;
    hs_completion *out = calloc((size_t)f.n, sizeof *out);
    char err[HS_ERR_LEN];
    if (hs_generate(f.m, f.prompts, f.n, &p, NULL, out, err, sizeof err) != 0)
        fail_msg("%s: %s", model, err);
    int tokens = 0;
    for (int i = 0; i < f.n; i++) {
        int n_ref = 0;
        int32_t *ref = reference_ids(&f, i, &n_ref);
        for (int t = 0; t < n_ref && t < out[i].n; t++)
            if (out[i].ids[t] != ref[t])
                fail_msg("%s prompt %d: token %d is %d, transformers gives %d", model, i, t,
                         (int)out[i].ids[t], (int)ref[t]);
        assert_int_equal(out[i].n, n_ref);
        assert_string_equal(hs_finish_reason_name(out[i].finish),
                            cJSON_GetStringValue(tg_item(cJSON_GetArrayItem(
                                tg_item(f.fx, "prompts"), i), "finish")));
        tokens += out[i].n;
        free(ref);
    }
    assert_int_equal(lc.compared, 12);
    print_message("%s: %d prompts, %d tokens identical to transformers; logits at %d steps, "
                  "worst rel err %.3g\n", model, f.n, tokens, lc.compared, lc.worst);
    hs_completions_free(out, f.n);
    free(out);
    fixture_close(&f);
}

static void test_greedy_bloom_h4(void **state) { (void)state; check_greedy("tiny-h4-f32"); }
static void test_greedy_bloom_h6(void **state) { (void)state; check_greedy("tiny-h6-f32"); }
static void test_greedy_mpt_h6(void **state) { (void)state; check_greedy("tiny-mpt-h6-f32"); }

/* The eos id set to the token the reference generates at step 9 of prompt 0: every prompt's
 * completion is the reference up to and including that token's first occurrence. */
static void test_greedy_stops_at_eos(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny-h6-f32");
    int n_ref = 0;
    int32_t *ref0 = reference_ids(&f, 0, &n_ref);
    f.m->cfg.eos_token_id = ref0[9];
    free(ref0);
    hs_generate_params p = greedy_params(64);
    hs_completion *out = calloc((size_t)f.n, sizeof *out);
    char err[HS_ERR_LEN];
    if (hs_generate(f.m, f.prompts, f.n, &p, NULL, out, err, sizeof err) != 0)
        fail_msg("%s", err);
    int ended_at_eos = 0;
    for (int i = 0; i < f.n; i++) {
        int32_t *ref = reference_ids(&f, i, &n_ref);
        int want = n_ref;
        for (int t = 0; t < n_ref; t++)
            if (ref[t] == f.m->cfg.eos_token_id) {
                want = t + 1;
                break;
            }
        assert_int_equal(out[i].n, want);
        assert_memory_equal(out[i].ids, ref, (size_t)want * sizeof(int32_t));
        assert_int_equal(out[i].finish, want < n_ref || ref[want - 1] == f.m->cfg.eos_token_id
                                            ? HS_FINISH_EOS : HS_FINISH_LENGTH);
        ended_at_eos += out[i].finish == HS_FINISH_EOS;
        free(ref);
    }
    assert_true(ended_at_eos >= 1);
    hs_completions_free(out, f.n);
    free(out);
    fixture_close(&f);
}

/* A stop string taken from the middle of prompt 1's reference text ends it there. */
static void test_stop_string_cuts_text(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny-h4-f32");
    int n_ref = 0;
    int32_t *ref = reference_ids(&f, 1, &n_ref);
    char *full = NULL, err[HS_ERR_LEN];
    size_t len = 0;
    assert_int_equal(hs_tokenizer_decode(f.m->tok, ref, (size_t)n_ref, &full, &len, err,
                                         sizeof err), 0);
    assert_true(len > 20);
    char stop[8] = {0};
    memcpy(stop, full + len / 2, 5);
    const char *stops[] = {stop};
    char *cut = strstr(full, stop);
    *cut = '\0';
    hs_generate_params p = greedy_params(64);
    p.stop = stops;
    p.n_stop = 1;
    hs_completion out[1];
    hs_token_seq one = f.prompts[1];
    if (hs_generate(f.m, &one, 1, &p, NULL, out, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(out[0].finish, HS_FINISH_STOP);
    assert_string_equal(out[0].text, full);
    assert_true(out[0].n < n_ref);
    assert_memory_equal(out[0].ids, ref, (size_t)out[0].n * sizeof(int32_t));
    hs_completions_free(out, 1);
    free(full);
    free(ref);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_bloom_h4),
        cmocka_unit_test(test_greedy_bloom_h6),
        cmocka_unit_test(test_greedy_mpt_h6),
        cmocka_unit_test(test_greedy_stops_at_eos),
        cmocka_unit_test(test_stop_string_cuts_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
