/* hs_tokenize_texts (truncation to max_length, <s> prepended before truncation, empty texts)
 * against the tokenizer's own encoding, and the input errors of hs_diagnose /
 * hs_perplexity_eval (a sequence of one token has nothing to predict; an empty one nothing
 * to diagnose) — each an error naming the text index, never a crash. Model: the fixture
 * tests/reference/models/tiny-h4-f32. */
#include "test_diag_util.h"

#include "engine/model/model.h"
#include "engine/diagnosis/diagnosis.h"

typedef struct fixture {
    hs_backend_ctx *ctx;
    hs_model *m;
} fixture;

static int setup(void **state)
{
    static fixture f;
    char dir[4096], err[HS_ERR_LEN];
    tu_repo_path(dir, sizeof dir, "tests/reference/models/tiny-h4-f32");
    f.ctx = td_cpu();
    f.m = hs_model_load(dir, &hs_cpu_backend, f.ctx, err, sizeof err);
    if (!f.m)
        fail_msg("loading %s: %s", dir, err);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hs_model_free(f->m);
    hs_cpu_backend.shutdown(f->ctx);
    return 0;
}

static const char *const text_a = "The quick brown fox jumps over the lazy dog, again and again.";
static const char *const text_b = "Short one.";

static void encode(const hs_model *m, const char *text, int32_t **ids, size_t *n)
{
    char err[HS_ERR_LEN];
    if (hs_tokenizer_encode(m->tok, text, strlen(text), ids, n, err, sizeof err) != 0)
        fail_msg("encode: %s", err);
}

static void test_no_truncation_equals_tokenizer(void **state)
{
    fixture *f = *state;
    int32_t *a, *b;
    size_t na, nb;
    encode(f->m, text_a, &a, &na);
    encode(f->m, text_b, &b, &nb);
    assert_true(na > 8 && nb >= 2);
    const char *texts[] = {text_a, text_b};
    hs_token_seq *seqs;
    char err[HS_ERR_LEN];
    assert_int_equal(hs_tokenize_texts(f->m, texts, 2, 512, false, &seqs, err, sizeof err), 0);
    assert_int_equal(seqs[0].T, (int)na);
    assert_int_equal(seqs[1].T, (int)nb);
    assert_memory_equal(seqs[0].ids, a, na * sizeof(int32_t));
    assert_memory_equal(seqs[1].ids, b, nb * sizeof(int32_t));
    hs_token_seqs_free(seqs, 2);
    free(a);
    free(b);
}

static void test_truncation_and_prepend_bos(void **state)
{
    fixture *f = *state;
    int32_t *a;
    size_t na;
    encode(f->m, text_a, &a, &na);
    char err[HS_ERR_LEN];
    hs_token_seq *seqs;
    /* truncation keeps the first max_length ids */
    assert_int_equal(hs_tokenize_texts(f->m, &text_a, 1, 5, false, &seqs, err, sizeof err), 0);
    assert_int_equal(seqs[0].T, 5);
    assert_memory_equal(seqs[0].ids, a, 5 * sizeof(int32_t));
    hs_token_seqs_free(seqs, 1);
    /* exactly max_length: unchanged */
    assert_int_equal(hs_tokenize_texts(f->m, &text_a, 1, (int)na, false, &seqs, err, sizeof err),
                     0);
    assert_int_equal(seqs[0].T, (int)na);
    hs_token_seqs_free(seqs, 1);
    /* <s> (id 1 = bos_token_id) is prepended BEFORE truncation: it counts toward max_length */
    assert_int_equal(f->m->cfg.bos_token_id, 1);
    assert_int_equal(hs_tokenize_texts(f->m, &text_a, 1, 5, true, &seqs, err, sizeof err), 0);
    assert_int_equal(seqs[0].T, 5);
    assert_int_equal(seqs[0].ids[0], 1);
    assert_memory_equal(seqs[0].ids + 1, a, 4 * sizeof(int32_t));
    hs_token_seqs_free(seqs, 1);
    assert_int_equal(hs_tokenize_texts(f->m, &text_a, 1, 512, true, &seqs, err, sizeof err), 0);
    assert_int_equal(seqs[0].T, (int)na + 1);
    assert_int_equal(seqs[0].ids[0], 1);
    assert_memory_equal(seqs[0].ids + 1, a, na * sizeof(int32_t));
    hs_token_seqs_free(seqs, 1);
    free(a);
}

static void test_empty_texts(void **state)
{
    fixture *f = *state;
    char err[HS_ERR_LEN] = "";
    hs_token_seq *seqs = (hs_token_seq *)&seqs;
    const char *texts[] = {text_a, ""};
    assert_int_equal(hs_tokenize_texts(f->m, texts, 2, 64, false, &seqs, err, sizeof err), -1);
    assert_null(seqs);
    assert_non_null(strstr(err, "text 1"));
    assert_non_null(strstr(err, "empty"));
    /* with <s> the empty text is the one-token sequence [1] */
    assert_int_equal(hs_tokenize_texts(f->m, texts, 2, 64, true, &seqs, err, sizeof err), 0);
    assert_int_equal(seqs[1].T, 1);
    assert_int_equal(seqs[1].ids[0], 1);
    hs_token_seqs_free(seqs, 2);
    assert_int_equal(hs_tokenize_texts(f->m, texts, 0, 64, false, &seqs, err, sizeof err), -1);
    assert_int_equal(hs_tokenize_texts(f->m, texts, 1, 0, false, &seqs, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_length"));
}

static void test_sequence_errors_name_the_text(void **state)
{
    fixture *f = *state;
    char err[HS_ERR_LEN] = "";
    int32_t two[2] = {10, 11}, one[1] = {12};
    hs_token_seq seqs[3] = {{.ids = two, .T = 2}, {.ids = one, .T = 1}, {.ids = NULL, .T = 0}};
    hs_perplexity p;
    assert_int_equal(hs_perplexity_eval(f->m, seqs, 2, &p, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "text 1"));
    assert_null(p.text_nll);
    /* one token is fine for the statistics: its single row attends to itself (bos 1,
     * entropy 0, local 1); with T <= 3 every row's local window covers all keys, so the local
     * mass is 1 for both texts (std 0), and the mean bos is at least (0.5 + 1) / 2 */
    hs_diagnosis d;
    assert_int_equal(hs_diagnose(f->m, seqs, 2, NULL, &d, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < d.n_layer * d.n_head; i++) {
        assert_true(fabs(d.heads[i].local_mass - 1.0) < 1e-6);
        assert_true(d.heads[i].local_std < 1e-6);
        assert_true(d.heads[i].bos_mass >= 0.75 - 1e-6);
        assert_true(d.heads[i].bos_mass <= 1.0 + 1e-6);
    }
    hs_diagnosis_free(&d);
    assert_int_equal(hs_diagnose(f->m, seqs, 3, NULL, &d, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "text 2"));
    assert_null(d.heads);
    /* a token id beyond the vocabulary is an error from the graph, with the text index */
    int32_t bad[2] = {5, 999999};
    hs_token_seq badseq = {.ids = bad, .T = 2};
    assert_int_equal(hs_diagnose(f->m, &badseq, 1, NULL, &d, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "text 0"));
    assert_int_equal(hs_perplexity_eval(f->m, &badseq, 1, &p, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "text 0"));
}

static bool stop_after_one(void *arg)
{
    int *calls = arg;
    return (*calls)++ >= 1;
}

static void test_should_stop_cancels(void **state)
{
    fixture *f = *state;
    char err[HS_ERR_LEN] = "";
    int32_t ids[3] = {10, 11, 12};
    hs_token_seq seqs[3] = {{ids, 3}, {ids, 3}, {ids, 3}};
    hs_diagnosis d;
    hs_perplexity p;
    int calls = 0;
    assert_int_equal(hs_diagnose_and_perplexity(f->m, seqs, 3, NULL, &d, &p, NULL,
                                                stop_after_one, &calls, err, sizeof err),
                     1);
    assert_int_equal(calls, 2);
    assert_null(d.heads);
    assert_null(p.text_nll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_truncation_equals_tokenizer),
        cmocka_unit_test(test_truncation_and_prepend_bos),
        cmocka_unit_test(test_empty_texts),
        cmocka_unit_test(test_sequence_errors_name_the_text),
        cmocka_unit_test(test_should_stop_cancels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
