/* The demo model (demo_model.h) through the real engine: it loads, its tokenizer is a working
 * byte-level BPE of 512 ids, the planted heads carry their planted classes on English texts of
 * several lengths while every other head is healthy, and the MLP dormancy the diagnosis
 * reports equals an independent count made here from the safetensors file. */
#include "test_diag_util.h"

#include "engine/model/model_forward.h"
#include "engine/model/model.h"
#include "engine/demo/demo_model.h"
#include "engine/demo/demo_tokenizer.h"
#include "engine/diagnosis/diagnosis.h"
#include "engine/formats/safetensors.h"

static const char *const english_texts[] = {
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday "
    "morning. People came from the farms with eggs, milk and vegetables, and the baker sold "
    "bread until noon.",
    "When the storm arrived the fishermen pulled their boats onto the beach, tied the ropes "
    "twice and waited in the harbour inn. Nobody spoke much. The wind shook the windows, the "
    "fire burned low, and somebody played an old song on a violin until the rain stopped. In "
    "the morning the sky was clear and the water was calm again, as if nothing had happened.",
    NULL, /* filled with the built-in training text: longer than max_length */
};
#define N_TEXTS 4

typedef struct demo_fixture {
    char dir[512], model_dir[600];
    hs_backend_ctx *ctx;
    hs_model *m;
} demo_fixture;

static int setup(void **state)
{
    static demo_fixture f;
    char err[HS_ERR_LEN];
    assert_int_equal(tu_mkdtemp(f.dir, sizeof f.dir, "hs_diag_test"), 0);
    snprintf(f.model_dir, sizeof f.model_dir, "%s/demo", f.dir);
    if (hs_demo_model_write(f.model_dir, false, err, sizeof err) != 0)
        fail_msg("demo model: %s", err);
    f.ctx = td_cpu();
    f.m = hs_model_load(f.model_dir, &hs_cpu_backend, f.ctx, err, sizeof err);
    if (!f.m)
        fail_msg("loading the demo model: %s", err);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    demo_fixture *f = *state;
    hs_model_free(f->m);
    hs_cpu_backend.shutdown(f->ctx);
    tu_rm_tree(f->dir);
    return 0;
}

static void test_writes_hf_layout_and_refuses_overwrite(void **state)
{
    demo_fixture *f = *state;
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", f->model_dir, files[i]);
        assert_int_equal(access(p, R_OK), 0);
    }
    char err[HS_ERR_LEN] = "";
    assert_int_equal(hs_demo_model_write(f->model_dir, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(f->m->cfg.n_layer, 4);
    assert_int_equal(f->m->cfg.n_head, 8);
    assert_int_equal(f->m->cfg.hidden_size, 64);
}

static void test_tokenizer_is_byte_level_bpe(void **state)
{
    demo_fixture *f = *state;
    assert_int_equal(hs_tokenizer_vocab_size(f->m->tok), HS_DEMO_VOCAB);
    const char *text = "The river ran through the middle of the town. Zebras! \xc3\xa9t\xc3\xa9";
    int32_t *ids = NULL;
    size_t n = 0;
    char err[HS_ERR_LEN];
    assert_int_equal(hs_tokenizer_encode(f->m->tok, text, strlen(text), &ids, &n, err,
                                         sizeof err), 0);
    /* merges learned from English prose: far fewer ids than bytes */
    assert_true(n > 0 && n < strlen(text) * 2 / 3);
    char *back = NULL;
    size_t len = 0;
    assert_int_equal(hs_tokenizer_decode(f->m->tok, ids, n, &back, &len, err, sizeof err), 0);
    assert_string_equal(back, text);
    free(back);
    free(ids);
}

static void test_planted_heads_have_planted_classes(void **state)
{
    demo_fixture *f = *state;
    const char *texts[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++)
        texts[i] = english_texts[i] ? english_texts[i] : hs_demo_english_text;
    char err[HS_ERR_LEN];
    /* each text alone (so every length is checked), then all together */
    for (int pass = 0; pass <= N_TEXTS; pass++) {
        const char *const *set = pass < N_TEXTS ? &texts[pass] : texts;
        int n = pass < N_TEXTS ? 1 : N_TEXTS;
        hs_token_seq *seqs = NULL;
        assert_int_equal(hs_tokenize_texts(f->m, set, n, 512, false, &seqs, err, sizeof err),
                         0);
        hs_diagnosis d;
        if (hs_diagnose(f->m, seqs, n, &hs_diag_default_thresholds, &d, NULL, NULL, err,
                        sizeof err) != 0)
            fail_msg("diagnose: %s", err);
        for (int l = 0; l < 4; l++)
            for (int h = 0; h < 8; h++) {
                hs_head_class want = HS_HEAD_HEALTHY;
                for (int k = 0; k < hs_demo_planted_count; k++)
                    if (hs_demo_planted[k].layer == l && hs_demo_planted[k].head == h)
                        want = hs_demo_planted[k].cls;
                const hs_head_result *r = &d.heads[l * 8 + h];
                if (want != HS_HEAD_HEALTHY || r->cls != HS_HEAD_HEALTHY)
                    print_message("pass %d (T=%d) head (%d,%d): bos %.4f entropy %.3f %s\n", pass,
                                  seqs[0].T, l, h, r->bos_mass, r->entropy,
                                  hs_head_class_name(r->cls));
                if (r->cls != want)
                    fail_msg("pass %d: head (%d,%d) is %s, planted %s (bos %.4f)", pass, l, h,
                             hs_head_class_name(r->cls), hs_head_class_name(want), r->bos_mass);
            }
        /* sick band and counts, recounted from the planted list */
        int band[8] = {0}, counts[4] = {0};
        for (int k = 0; k < hs_demo_planted_count; k++) {
            band[hs_demo_planted[k].head]++;
            counts[hs_demo_planted[k].cls]++;
        }
        counts[HS_HEAD_HEALTHY] = 32 - hs_demo_planted_count;
        for (int h = 0; h < 8; h++)
            assert_int_equal(d.sick_band[h], band[h]);
        for (int c = 0; c < 4; c++)
            assert_int_equal(d.counts[c], counts[c]);
        /* the healthy sub-pattern follows the local mass */
        for (int i = 0; i < 32; i++)
            assert_int_equal(d.heads[i].local_pattern,
                             d.heads[i].cls == HS_HEAD_HEALTHY && d.heads[i].local_mass > 0.6);
        hs_diagnosis_free(&d);
        hs_token_seqs_free(seqs, n);
    }
}

/* Thresholds of a job change the classes: with sink_bos 0.9 the two planted sinks (bos
 * ≈ 0.65 and 0.78, entropy > 0.5) become healthy, with dead_bos 0.9999999 no head is dead
 * any more; classes and the sick band are recomputed here from the returned statistics. */
static void test_custom_thresholds_reclassify(void **state)
{
    demo_fixture *f = *state;
    const char *text = english_texts[2];
    char err[HS_ERR_LEN];
    hs_token_seq *seqs = NULL;
    assert_int_equal(hs_tokenize_texts(f->m, &text, 1, 512, false, &seqs, err, sizeof err), 0);
    const hs_diag_thresholds ts[2] = {
        {.dead_bos = 0.95, .sink_bos = 0.9, .low_entropy = 0.5, .local_mass = 0.6},
        {.dead_bos = 1.0, .sink_bos = 0.5, .low_entropy = 0.5, .local_mass = 0.95},
    };
    for (int k = 0; k < 2; k++) {
        hs_diagnosis d;
        assert_int_equal(hs_diagnose(f->m, seqs, 1, &ts[k], &d, NULL, NULL, err, sizeof err), 0);
        int band[8] = {0};
        for (int i = 0; i < 32; i++) {
            const hs_head_result *r = &d.heads[i];
            hs_head_class want = r->bos_mass > ts[k].dead_bos       ? HS_HEAD_DEAD
                                 : r->bos_mass > ts[k].sink_bos     ? HS_HEAD_BOS_SINK
                                 : r->entropy < ts[k].low_entropy   ? HS_HEAD_LOW_ENTROPY
                                                                    : HS_HEAD_HEALTHY;
            assert_int_equal(r->cls, want);
            band[r->head] += want != HS_HEAD_HEALTHY;
            assert_int_equal(r->local_pattern,
                             want == HS_HEAD_HEALTHY && r->local_mass > ts[k].local_mass);
        }
        for (int h = 0; h < 8; h++)
            assert_int_equal(d.sick_band[h], band[h]);
        if (k == 0) {
            assert_int_equal(d.heads[3 * 8 + 6].cls, HS_HEAD_HEALTHY);
            assert_int_equal(d.heads[3 * 8 + 7].cls, HS_HEAD_HEALTHY);
            assert_int_equal(d.counts[HS_HEAD_DEAD], 3);
        } else {
            assert_int_equal(d.counts[HS_HEAD_DEAD], 0);
            assert_int_equal(d.heads[1 * 8 + 6].cls, HS_HEAD_BOS_SINK);
        }
        hs_diagnosis_free(&d);
    }
    hs_token_seqs_free(seqs, 1);
}

/* Per-text NLL of hs_perplexity_eval against a naive double-precision log-softmax over the
 * full logits of hs_model_logits (relative 1e-5), and ppl = exp(Σ NLL / Σ predicted). */
static void test_perplexity_against_naive_logits(void **state)
{
    demo_fixture *f = *state;
    const char *texts[3] = {english_texts[0], english_texts[1], english_texts[2]};
    char err[HS_ERR_LEN];
    hs_token_seq *seqs = NULL;
    assert_int_equal(hs_tokenize_texts(f->m, texts, 3, 64, false, &seqs, err, sizeof err), 0);
    hs_perplexity p;
    assert_int_equal(hs_perplexity_eval(f->m, seqs, 3, &p, NULL, NULL, err, sizeof err), 0);
    const int V = f->m->cfg.vocab_size;
    double total = 0.0;
    long long predicted = 0;
    for (int i = 0; i < 3; i++) {
        const int T = seqs[i].T;
        float *logits = malloc((size_t)T * V * sizeof(float));
        assert_non_null(logits);
        assert_int_equal(hs_model_logits(f->m, seqs[i].ids, T, logits, err, sizeof err), 0);
        double nll = 0.0;
        for (int t = 0; t + 1 < T; t++) {
            const float *row = logits + (size_t)t * V;
            double mx = row[0], sum = 0.0;
            for (int v = 1; v < V; v++)
                mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++)
                sum += exp((double)row[v] - mx);
            nll += mx + log(sum) - row[seqs[i].ids[t + 1]];
        }
        free(logits);
        assert_int_equal(p.text_tokens[i], T - 1);
        print_message("text %d: T=%d nll %.9g naive %.9g\n", i, T, p.text_nll[i], nll);
        assert_true(fabs(p.text_nll[i] - nll) <= 1e-5 * fabs(nll));
        total += nll;
        predicted += T - 1;
    }
    assert_int_equal(p.tokens, predicted);
    const double want = exp(total / (double)predicted);
    assert_true(fabs(p.ppl - want) <= 1e-5 * want);
    hs_perplexity_free(&p);
    hs_token_seqs_free(seqs, 3);
}

/* Dormant neurons counted here from the file, in double, independently of mlp_dormancy.c. */
static void test_mlp_dormancy_matches_file(void **state)
{
    demo_fixture *f = *state;
    char err[HS_ERR_LEN];
    hs_st_set *set = hs_st_open_dir(f->model_dir, err, sizeof err);
    assert_non_null(set);
    int expect[4];
    for (int l = 0; l < 4; l++) {
        char name[96];
        snprintf(name, sizeof name, "h.%d.mlp.dense_h_to_4h.weight", l);
        const hs_st_tensor *fc = hs_st_find(set, name);
        snprintf(name, sizeof name, "h.%d.mlp.dense_4h_to_h.weight", l);
        const hs_st_tensor *pr = hs_st_find(set, name);
        assert_non_null(fc);
        assert_non_null(pr);
        assert_int_equal(fc->dtype, HS_DTYPE_F32);
        const float *a = fc->data, *b = pr->data; /* [256, 64], [64, 256] */
        expect[l] = 0;
        for (int i = 0; i < 256; i++) {
            double r2 = 0, c2 = 0;
            for (int c = 0; c < 64; c++) {
                r2 += (double)a[i * 64 + c] * a[i * 64 + c];
                c2 += (double)b[c * 256 + i] * b[c * 256 + i];
            }
            if (sqrt(r2 * c2) < 0.01)
                expect[l]++;
        }
        assert_int_equal(expect[l], hs_demo_dormant_neurons[l]);
    }
    hs_st_close(set);
    const char *text = english_texts[0];
    hs_token_seq *seqs = NULL;
    assert_int_equal(hs_tokenize_texts(f->m, &text, 1, 512, false, &seqs, err, sizeof err), 0);
    hs_diagnosis d;
    assert_int_equal(hs_diagnose(f->m, seqs, 1, NULL, &d, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(d.mlp_width, 256);
    for (int l = 0; l < 4; l++)
        assert_int_equal(d.mlp_dormant[l], expect[l]);
    hs_diagnosis_free(&d);
    hs_token_seqs_free(seqs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_hf_layout_and_refuses_overwrite),
        cmocka_unit_test(test_tokenizer_is_byte_level_bpe),
        cmocka_unit_test(test_planted_heads_have_planted_classes),
        cmocka_unit_test(test_mlp_dormancy_matches_file),
        cmocka_unit_test(test_custom_thresholds_reclassify),
        cmocka_unit_test(test_perplexity_against_naive_logits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
