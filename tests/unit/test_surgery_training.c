/* Unit tests of the whole surgery loop on the tiny HF fixture model tests/reference/models/
 * tiny-h6-f32 (CPU backend):
 *  - 5 AdamW steps with the settings of tests/reference/surgery/steps.json (init none, in-order
 *    data, batch 1, grad_accum 2, max_steps 5, lr 1e-2, clip 0.05, default warm-up = 1)
 *    against transformers doing the same masked training: per-step loss, lr and pre-clip
 *    gradient norm, the trained slices (max abs error <= 1e-5; the key-bias rows, whose exact
 *    gradient is 0 so that AdamW only sees rounding noise, <= 1e-3), and every frozen tensor
 *    bit-identical (fnv1a64 over the fp32 values as the fixture records it); the same with
 *    each step's two micro-batches run as one batch of two (fuse_accumulation);
 *  - the "final" checkpoint loads with hs_model_load and gives identical parameters; from an
 *    fp16 source it is written in fp16, frozen tensors byte-identical to the source file;
 *  - early stop after `patience` checkpoints without perplexity improvement, kept on resume;
 *  - resume: a run stopped mid-epoch and resumed from its cancel checkpoint, and one resumed
 *    from its last epoch checkpoint after a simulated crash, end bit-identical to an
 *    uninterrupted run (re-initialisation, shuffling and evaluation on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/model/model.h"
#include "test_util.h"
#include "engine/formats/safetensors.h"
#include "engine/surgery/surgery_loop.h"

#define MODEL_DIR "tests/reference/models/tiny-h6-f32"
#define STEPS_JSON "tests/reference/surgery/steps.json"
#define STEPS_TENSORS "tests/reference/surgery/steps.safetensors"
#define CORPUS "tests/reference/surgery/corpus.txt"

static hs_backend_ctx *g_ctx;

static int setup(void **state)
{
    (void)state;
    const char *root = getenv("HS_REPO_ROOT");
    if (root && chdir(root) != 0)
        return -1;
    char err[256];
    g_ctx = hs_cpu_backend.init(0, err, sizeof err);
    return g_ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hs_cpu_backend.shutdown(g_ctx);
    return 0;
}

static const char *strip_prefix(const char *name)
{
    return strncmp(name, "transformer.", 12) == 0 ? name + 12 : name;
}

static hs_model *load_model(const char *dir)
{
    char err[512];
    hs_model *m = hs_model_load(dir, &hs_cpu_backend, g_ctx, err, sizeof err);
    if (!m)
        fail_msg("loading %s: %s", dir, err);
    return m;
}

/* ---- recording hooks ----------------------------------------------------------------- */

enum { MAX_STEPS = 64 };
typedef struct recorder {
    int n;
    double loss[MAX_STEPS], lr[MAX_STEPS], norm[MAX_STEPS];
    int64_t stop_after; /* should_stop true once this many steps are done (0: never) */
} recorder;

static void rec_step(void *arg, const hs_surgery_step_report *r)
{
    recorder *rec = arg;
    if (r->step - 1 < MAX_STEPS) {
        rec->loss[r->step - 1] = r->loss;
        rec->lr[r->step - 1] = r->lr;
        rec->norm[r->step - 1] = r->grad_norm;
    }
    rec->n = (int)r->step;
}

static bool rec_stop(void *arg)
{
    recorder *rec = arg;
    return rec->stop_after > 0 && rec->n >= rec->stop_after;
}

/* ---- the fixture parity test --------------------------------------------------------- */

/* A tensor's values as the family stores them in its files (QKV rows in the file layout),
 * after zeroing in engine order the parts the targets train when `zero_targets`: what the
 * fixture's fnv1a64 values are computed over. */
static uint64_t file_order_fnv(const hs_model *m, const hs_tensor_ref *t,
                               const hs_head_target *targets, int n_targets, bool zero_targets)
{
    const int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    float *copy = malloc(t->numel * sizeof(float)), *file = malloc(t->numel * sizeof(float));
    assert_true(copy && file);
    memcpy(copy, m->param_memory + t->offset, t->numel * sizeof(float));
    for (int i = 0; zero_targets && i < n_targets; i++) {
        if (targets[i].layer != t->layer)
            continue;
        int h = targets[i].head;
        if (t->slot == HS_SLOT_QKV_W)
            memset(copy + (size_t)h * 3 * d * C, 0, (size_t)3 * d * C * sizeof(float));
        else if (t->slot == HS_SLOT_QKV_B)
            memset(copy + h * 3 * d, 0, (size_t)3 * d * sizeof(float));
        else if (t->slot == HS_SLOT_DENSE_W)
            for (int r = 0; r < C; r++)
                memset(copy + (size_t)r * C + h * d, 0, (size_t)d * sizeof(float));
    }
    const size_t rows = (size_t)t->shape[0], cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    bool qkv = t->slot == HS_SLOT_QKV_W || t->slot == HS_SLOT_QKV_B;
    for (size_t r = 0; r < rows; r++) {
        size_t fr = qkv ? hs_qkv_row_to_file(m->cfg.family->qkv_layout, r, C, d) : r;
        memcpy(file + fr * cols, copy + r * cols, cols * sizeof(float));
    }
    uint64_t h = tu_fnv1a64_f32(file, t->numel);
    free(copy);
    free(file);
    return h;
}

/* The fixture set of one family: its model and its 5-step reference. */
typedef struct steps_fixture {
    const char *model_dir, *steps_json, *steps_tensors;
} steps_fixture;

static const steps_fixture bloom_steps = {MODEL_DIR, STEPS_JSON, STEPS_TENSORS};
static const steps_fixture mpt_steps = {"tests/reference/models/tiny-mpt-h6-f32",
                                        "tests/reference/surgery/mpt-steps.json",
                                        "tests/reference/surgery/mpt-steps.safetensors"};

static void five_steps_match_transformers(const steps_fixture *fxs, bool fuse)
{
    cJSON *fx = tu_read_json(fxs->steps_json);
    assert_non_null(fx);
    hs_model *m = load_model(fxs->model_dir);
    printf("# %s (%s)\n", fxs->model_dir, m->cfg.family->name);
    char err[512];

    /* targets {"1": [0, 3], "2": [5]} */
    const hs_head_target targets[] = {{1, 0}, {1, 3}, {2, 5}};
    hs_surgery_params p;
    hs_surgery_params_default(&p);
    p.init = HS_SURGERY_INIT_NONE;
    p.lr = 1e-2;
    p.clip = 0.05;
    p.batch_size = 1;
    p.grad_accum = 2;
    p.max_length = 32;
    p.max_steps = 5;
    p.warmup_steps = -1; /* the default: min(100, 5 // 4) = 1, as the fixture */
    p.shuffle = false;
    p.epochs = 1;
    p.checkpoint_every = 1000;
    p.patience = 0;
    p.fuse_accumulation = fuse; /* both micro-batches of a step as one batch of 2 */
    printf("# %s\n", fuse ? "accumulation groups fused into one batch" : "micro-batch by micro-batch");

    hs_surgery_corpus corpus;
    assert_int_equal(hs_surgery_corpus_load(m->tok, CORPUS, 32, "corpus", &corpus, err,
                                            sizeof err), 0);
    /* chunking matches the fixture's (HF tokenizer, 32-token chunks, tail dropped) */
    const cJSON *chunks = cJSON_GetObjectItem(fx, "chunks");
    assert_int_equal(corpus.n_chunks, cJSON_GetObjectItem(fx, "n_chunks")->valueint);
    for (int c = 0; c < corpus.n_chunks; c++)
        for (int t = 0; t < 32; t++)
            assert_int_equal(corpus.tokens[c * 32 + t],
                             cJSON_GetArrayItem(cJSON_GetArrayItem(chunks, c), t)->valueint);

    char dir[512];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_surgery_test"), 0);
    recorder rec = {0};
    hs_surgery_hooks hooks = {.arg = &rec, .on_step = rec_step};
    hs_surgery_outcome out;
    int rc = hs_surgery_train(m, targets, 3, &p, &corpus, NULL, 0, dir, false, &hooks, &out, err,
                              sizeof err);
    if (rc != 0)
        fail_msg("hs_surgery_train: %s", err);
    assert_int_equal(out.steps_done, 5);
    assert_int_equal(out.n_ckpts, 1);
    assert_string_equal(out.ckpts[0].name, "final");

    /* per-step loss, lr, pre-clip norm */
    const cJSON *steps = cJSON_GetObjectItem(fx, "steps");
    assert_int_equal(rec.n, 5);
    double worst_loss = 0, worst_norm = 0;
    for (int s = 0; s < 5; s++) {
        const cJSON *st = cJSON_GetArrayItem(steps, s);
        double loss = cJSON_GetObjectItem(st, "loss")->valuedouble;
        double lr = cJSON_GetObjectItem(st, "lr")->valuedouble;
        double norm = cJSON_GetObjectItem(st, "grad_norm")->valuedouble;
        worst_loss = fmax(worst_loss, fabs(rec.loss[s] - loss) / fabs(loss));
        worst_norm = fmax(worst_norm, fabs(rec.norm[s] - norm) / fabs(norm));
        if (fabs(rec.lr[s] - lr) > 1e-12)
            fail_msg("step %d: lr %.17g, fixture %.17g", s, rec.lr[s], lr);
    }
    printf("# per-step loss max rel error %.3g (tol 1e-5), grad norm max rel error %.3g "
           "(tol 1e-4)\n", worst_loss, worst_norm);
    assert_true(worst_loss <= 1e-5);
    assert_true(worst_norm <= 1e-4);

    /* trained slices */
    hs_st_set *ref = hs_st_open_file(fxs->steps_tensors, err, sizeof err);
    assert_non_null(ref);
    int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    double worst = 0, worst_kbias = 0;
    for (int i = 0; i < 3; i++) {
        int l = targets[i].layer, h = targets[i].head;
        const hs_layer_params *lp = &m->p.layers[l];
        char name[96];
        float buf[24 * 48];
        snprintf(name, sizeof name, "layer%d.head%d.qkv_weight", l, h);
        const hs_st_tensor *t = hs_st_find(ref, name);
        assert_non_null(t);
        assert_int_equal(hs_st_to_f32(t, buf, err, sizeof err), 0);
        for (int k = 0; k < 3 * d * C; k++)
            worst = fmax(worst, fabs(lp->qkv_w[(size_t)h * 3 * d * C + k] - buf[k]));
        snprintf(name, sizeof name, "layer%d.head%d.qkv_bias", l, h);
        t = hs_st_find(ref, name);
        /* a family without a QKV bias has none in the model and none in the fixture */
        assert_true((t != NULL) == (lp->qkv_b != NULL));
        if (t)
            assert_int_equal(hs_st_to_f32(t, buf, err, sizeof err), 0);
        for (int k = 0; t && k < 3 * d; k++) {
            double e = fabs(lp->qkv_b[h * 3 * d + k] - buf[k]);
            if (k >= d && k < 2 * d) {
                /* key bias: its true gradient is exactly 0 (softmax is shift invariant) */
                worst_kbias = fmax(worst_kbias, e);
            } else
                worst = fmax(worst, e);
        }
        snprintf(name, sizeof name, "layer%d.head%d.dense_cols", l, h);
        t = hs_st_find(ref, name);
        assert_non_null(t);
        assert_int_equal(hs_st_to_f32(t, buf, err, sizeof err), 0);
        for (int r = 0; r < C; r++)
            for (int c = 0; c < d; c++)
                worst = fmax(worst, fabs(lp->dense_w[(size_t)r * C + h * d + c] - buf[r * d + c]));
    }
    printf("# trained slices after 5 steps: max abs error %.3g (tol 1e-5); key-bias rows %.3g "
           "(tol 1e-3)\n", worst, worst_kbias);
    assert_true(worst <= 1e-5);
    /* The key-bias rows are the exception: their exact gradient is 0 (a key bias adds q·b_k to
     * a whole softmax row), so both implementations feed AdamW rounding noise (~1e-8, see
     * gradients.safetensors) that m/(sqrt(v)+eps) amplifies to O(lr) moves. Bounded here by
     * 4% of the 5 steps' summed learning rates (0.025). */
    assert_true(worst_kbias <= 1e-3);
    hs_st_close(ref);

    /* frozen tensors bit-identical, compared in the family's file layout as the fixture */
    const cJSON *frozen = cJSON_GetObjectItem(fx, "frozen_fnv1a64"), *it;
    int n_frozen = 0;
    cJSON_ArrayForEach(it, frozen)
    {
        const hs_tensor_ref *t = hs_model_find_tensor(m, strip_prefix(it->string));
        assert_non_null(t);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)file_order_fnv(m, t, targets, 3, false));
        if (strcmp(hex, it->valuestring) != 0)
            fail_msg("frozen tensor %s changed: fnv1a64 %s, fixture %s", it->string, hex,
                     it->valuestring);
        n_frozen++;
    }
    /* target tensors with the trained rows/columns zeroed: the rest is bit-identical */
    const cJSON *masked = cJSON_GetObjectItem(fx, "masked_fnv1a64");
    cJSON_ArrayForEach(it, masked)
    {
        const hs_tensor_ref *t = hs_model_find_tensor(m, strip_prefix(it->string));
        assert_non_null(t);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)file_order_fnv(m, t, targets, 3, true));
        if (strcmp(hex, it->valuestring) != 0)
            fail_msg("non-target part of %s changed: fnv1a64 %s, fixture %s", it->string, hex,
                     it->valuestring);
        n_frozen++;
    }
    printf("# %d frozen / partly frozen tensors bit-identical\n", n_frozen);
    assert_int_equal(n_frozen, (int)m->n_tensors);

    /* the final checkpoint loads and has exactly the trained parameters */
    hs_model *back = load_model(out.ckpts[0].path);
    assert_int_equal(back->n_tensors, m->n_tensors);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hs_tensor_ref *t = &m->tensors[i];
        const hs_tensor_ref *u = hs_model_find_tensor(back, t->name);
        assert_non_null(u);
        assert_int_equal(u->numel, t->numel);
        if (memcmp(back->param_memory + u->offset, m->param_memory + t->offset,
                   t->numel * sizeof(float)) != 0)
            fail_msg("checkpoint tensor %s differs from the trained model", t->name);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", out.ckpts[0].path);
    assert_int_equal(access(path, R_OK), 0);
    hs_model_free(back);

    hs_surgery_outcome_free(&out);
    hs_surgery_corpus_free(&corpus);
    hs_model_free(m);
    tu_rm_tree(dir);
    cJSON_Delete(fx);
}

static void test_five_steps_match_transformers(void **state)
{
    (void)state;
    five_steps_match_transformers(&bloom_steps, false);
}

static void test_five_steps_fused_match_transformers(void **state)
{
    (void)state;
    five_steps_match_transformers(&bloom_steps, true);
}

static void test_mpt_five_steps_match_transformers(void **state)
{
    (void)state;
    five_steps_match_transformers(&mpt_steps, false);
    five_steps_match_transformers(&mpt_steps, true);
}

/* ---- resume equivalence -------------------------------------------------------------- */

static const char *const eval_texts[] = {
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Attention heads that collapse onto the first token carry little information.",
};

static void resume_params(hs_surgery_params *p)
{
    hs_surgery_params_default(p);
    p->init = HS_SURGERY_INIT_XAVIER_UNIFORM;
    p->seed = 1234;
    p->lr = 5e-3;
    p->clip = 1.0;
    p->batch_size = 2;
    p->grad_accum = 2;
    p->max_length = 32;
    p->epochs = 2;
    p->shuffle = true;
    p->checkpoint_every = 1;
    p->patience = 0;
}

typedef struct run_result {
    float *params; /* copy of the whole parameter memory at the end */
    size_t n;
    recorder rec;
    hs_surgery_outcome out;
    int rc;
} run_result;

/* The test model, the corpus in 32-token chunks and the two eval texts tokenized (max 32). */
static hs_model *load_model_corpus_and_eval(hs_surgery_corpus *corpus, hs_token_seq **seqs)
{
    char err[512];
    hs_model *m = load_model(MODEL_DIR);
    assert_int_equal(hs_surgery_corpus_load(m->tok, CORPUS, 32, "corpus", corpus, err,
                                            sizeof err), 0);
    assert_int_equal(hs_tokenize_texts(m, eval_texts, 2, 32, false, seqs, err, sizeof err), 0);
    return m;
}

static void run_surgery(const char *dir, bool resume, int64_t stop_after, run_result *res)
{
    char err[512];
    hs_surgery_corpus corpus;
    hs_token_seq *seqs = NULL;
    hs_model *m = load_model_corpus_and_eval(&corpus, &seqs);
    hs_surgery_params p;
    resume_params(&p);
    const hs_head_target targets[] = {{1, 2}, {2, 0}};
    memset(res, 0, sizeof *res);
    res->rec.stop_after = stop_after;
    hs_surgery_hooks hooks = {.arg = &res->rec, .on_step = rec_step, .should_stop = rec_stop};
    res->rc = hs_surgery_train(m, targets, 2, &p, &corpus, seqs, 2, dir, resume, &hooks,
                               &res->out, err, sizeof err);
    if (res->rc < 0)
        fail_msg("hs_surgery_train: %s", err);
    res->n = m->n_params;
    res->params = malloc(m->n_params * sizeof(float));
    assert_non_null(res->params);
    memcpy(res->params, m->param_memory, m->n_params * sizeof(float));
    hs_token_seqs_free(seqs, 2);
    hs_surgery_corpus_free(&corpus);
    hs_model_free(m);
}

static void free_result(run_result *r)
{
    free(r->params);
    hs_surgery_outcome_free(&r->out);
}

static void test_resume_is_equivalent(void **state)
{
    (void)state;
    char a[512], b[512], c[512], path[4200];
    assert_int_equal(tu_mkdtemp(a, sizeof a, "hs_surgery_test"), 0);
    assert_int_equal(tu_mkdtemp(b, sizeof b, "hs_surgery_test"), 0);
    assert_int_equal(tu_mkdtemp(c, sizeof c, "hs_surgery_test"), 0);

    run_result whole, first, second, crashed, after_crash;
    run_surgery(a, false, 0, &whole);
    assert_int_equal(whole.rc, 0);
    /* 30 chunks, batch 2 -> 15 micro-batches, grad_accum 2 -> 8 steps per epoch, 2 epochs */
    assert_int_equal(whole.out.total_steps, 16);
    assert_int_equal(whole.out.n_ckpts, 2); /* epoch-1, epoch-2 (= the end) */
    assert_string_equal(whole.out.ckpts[1].name, "epoch-2");
    int n_best = 0;
    for (int i = 0; i < whole.out.n_ckpts; i++) {
        assert_true(isfinite(whole.out.ckpts[i].ppl));
        assert_true(whole.out.ckpts[i].woken >= 0 && whole.out.ckpts[i].woken <= 2);
        n_best += whole.out.ckpts[i].best;
    }
    assert_int_equal(n_best, 1);

    /* cancel mid-epoch 2, then resume from the cancel checkpoint */
    run_surgery(b, false, 11, &first);
    assert_int_equal(first.rc, 1);
    assert_int_equal(first.out.n_ckpts, 2);
    assert_string_equal(first.out.ckpts[1].name, "cancelled-step-11");
    assert_true(isnan(first.out.ckpts[1].ppl));
    run_surgery(b, true, 0, &second);
    assert_int_equal(second.rc, 0);
    assert_true(second.out.resumed);
    assert_int_equal(second.out.steps_done, 16);
    if (memcmp(second.params, whole.params, whole.n * sizeof(float)) != 0)
        fail_msg("resumed-after-cancel run differs from the uninterrupted one");
    for (int s = 11; s < 16; s++)
        assert_true(second.rec.loss[s] == whole.rec.loss[s]);

    /* a crash after epoch-1 (the later cancel checkpoint never written): resume from it */
    run_surgery(c, false, 11, &crashed);
    snprintf(path, sizeof path, "%s/cancelled-step-11", c);
    tu_rm_tree(path);
    run_surgery(c, true, 0, &after_crash);
    assert_int_equal(after_crash.rc, 0);
    if (memcmp(after_crash.params, whole.params, whole.n * sizeof(float)) != 0)
        fail_msg("resumed-after-crash run differs from the uninterrupted one");
    assert_int_equal(after_crash.out.n_ckpts, 2);
    for (int i = 0; i < 2; i++)
        assert_true(after_crash.out.ckpts[i].ppl == whole.out.ckpts[i].ppl);
    printf("# resumed runs (after cancel at step 11, after a crash past epoch-1) end "
           "bit-identical to the uninterrupted 16-step run\n");

    free_result(&whole);
    free_result(&first);
    free_result(&second);
    free_result(&crashed);
    free_result(&after_crash);
    tu_rm_tree(a);
    tu_rm_tree(b);
    tu_rm_tree(c);
}


/* ---- stop versus failure ------------------------------------------------------------ */

typedef struct stop_or_fail {
    int steps;
    int fail_after, stop_after; /* 0: never */
} stop_or_fail;

static void count_step(void *arg, const hs_surgery_step_report *r)
{
    ((stop_or_fail *)arg)->steps = (int)r->step;
}

static bool fail_hook(void *arg, char *why, size_t len)
{
    stop_or_fail *s = arg;
    if (s->fail_after == 0 || s->steps < s->fail_after)
        return false;
    snprintf(why, len, "storing a curve point failed");
    return true;
}

static bool stop_hook(void *arg)
{
    stop_or_fail *s = arg;
    return s->stop_after > 0 && s->steps >= s->stop_after;
}

/* Names of the checkpoint directories in dir (not the temporary ones), comma separated. */
static void checkpoint_names(const char *dir, char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            strncat(out, e->d_name, len - strlen(out) - 1);
            strncat(out, ",", len - strlen(out) - 1);
        }
    closedir(d);
}

/* A failure reported by the failed hook ends the run at once as failed (-1, its reason) and
 * writes no "cancelled" checkpoint; a cooperative stop writes one and returns 1. */
static void test_failure_is_not_a_cancel(void **state)
{
    (void)state;
    char err[512] = "", dir[512], names[1024];
    hs_surgery_corpus corpus;
    hs_token_seq *seqs = NULL;
    hs_model *m = load_model_corpus_and_eval(&corpus, &seqs);
    hs_surgery_params p;
    hs_surgery_params_default(&p);
    p.init = HS_SURGERY_INIT_NONE;
    p.max_length = 32;
    p.grad_accum = 1;
    p.epochs = 1;
    p.max_steps = 6;
    const hs_head_target targets[] = {{2, 1}};
    hs_surgery_outcome out;

    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_surgery_test"), 0);
    stop_or_fail f = {.fail_after = 2};
    hs_surgery_hooks hooks = {.arg = &f, .on_step = count_step, .failed = fail_hook,
                              .should_stop = stop_hook};
    assert_int_equal(hs_surgery_train(m, targets, 1, &p, &corpus, seqs, 2, dir, false, &hooks,
                                       &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "storing a curve point failed"));
    checkpoint_names(dir, names, sizeof names);
    assert_null(strstr(names, "cancelled"));
    hs_surgery_outcome_free(&out);
    tu_rm_tree(dir);

    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_surgery_test"), 0);
    stop_or_fail s = {.stop_after = 2};
    hooks.arg = &s;
    assert_int_equal(hs_surgery_train(m, targets, 1, &p, &corpus, seqs, 2, dir, false, &hooks,
                                       &out, err, sizeof err), 1);
    assert_true(out.cancelled);
    checkpoint_names(dir, names, sizeof names);
    assert_non_null(strstr(names, "cancelled-step-2"));
    hs_surgery_outcome_free(&out);
    tu_rm_tree(dir);

    hs_token_seqs_free(seqs, 2);
    hs_surgery_corpus_free(&corpus);
    hs_model_free(m);
}

/* ---- early stopping ------------------------------------------------------------------ */

static void test_early_stop_after_patience(void **state)
{
    (void)state;
    char err[512], dir[512];
    hs_surgery_corpus corpus;
    hs_token_seq *seqs = NULL;
    hs_model *m = load_model_corpus_and_eval(&corpus, &seqs);
    hs_surgery_params p;
    hs_surgery_params_default(&p);
    p.init = HS_SURGERY_INIT_NONE;
    p.lr = 1e-30; /* updates vanish below fp32 resolution: perplexity never improves */
    p.max_length = 32;
    p.grad_accum = 8;
    p.epochs = 10;
    p.checkpoint_every = 1;
    p.patience = 2;
    const hs_head_target targets[] = {{2, 1}};
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_surgery_test"), 0);
    hs_surgery_outcome out;
    if (hs_surgery_train(m, targets, 1, &p, &corpus, seqs, 2, dir, false, NULL, &out, err,
                         sizeof err) != 0)
        fail_msg("hs_surgery_train: %s", err);
    /* epoch-1 sets the best; epoch-2 and epoch-3 do not improve: stop after epoch-3 */
    assert_true(out.early_stopped);
    assert_int_equal(out.n_ckpts, 3);
    assert_string_equal(out.ckpts[2].name, "epoch-3");
    assert_true(out.ckpts[0].best && !out.ckpts[1].best && !out.ckpts[2].best);
    assert_true(out.ckpts[1].ppl == out.ckpts[0].ppl);
    int64_t steps = out.steps_done;
    assert_int_equal(steps, 3 * out.steps_per_epoch);
    hs_surgery_outcome_free(&out);
    /* a resumed job (e.g. after a crash right after the decision) does not train on */
    hs_model_free(m);
    m = load_model(MODEL_DIR);
    if (hs_surgery_train(m, targets, 1, &p, &corpus, seqs, 2, dir, true, NULL, &out, err,
                         sizeof err) != 0)
        fail_msg("resumed hs_surgery_train: %s", err);
    assert_true(out.resumed);
    assert_int_equal(out.steps_done, steps);
    assert_int_equal(out.n_ckpts, 3);
    hs_surgery_outcome_free(&out);
    hs_token_seqs_free(seqs, 2);
    hs_surgery_corpus_free(&corpus);
    hs_model_free(m);
    tu_rm_tree(dir);
}

/* ---- a half-precision source model ------------------------------------------------ */

static void test_f16_checkpoint_keeps_source_dtype(void **state)
{
    (void)state;
    const char *src_dir = "tests/reference/models/tiny-h4-f16";
    hs_model *m = load_model(src_dir);
    assert_int_equal(m->source_dtype, HS_DTYPE_F16);
    char err[512], dir[512], path[4200];
    hs_surgery_corpus corpus;
    assert_int_equal(hs_surgery_corpus_load(m->tok, CORPUS, 16, "corpus", &corpus, err,
                                            sizeof err), 0);
    hs_surgery_params p;
    hs_surgery_params_default(&p);
    p.max_length = 16;
    p.grad_accum = 1;
    p.max_steps = 2;
    p.epochs = 1;
    p.lr = 1e-2;
    p.patience = 0;
    const hs_head_target targets[] = {{0, 1}};
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "hs_surgery_test"), 0);
    hs_surgery_outcome out;
    if (hs_surgery_train(m, targets, 1, &p, &corpus, NULL, 0, dir, false, NULL, &out, err,
                         sizeof err) != 0)
        fail_msg("hs_surgery_train: %s", err);
    snprintf(path, sizeof path, "%s/model.safetensors", out.ckpts[0].path);
    hs_st_set *ours = hs_st_open_file(path, err, sizeof err);
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    hs_st_set *src = hs_st_open_file(path, err, sizeof err);
    assert_non_null(ours);
    assert_non_null(src);
    assert_int_equal(hs_st_count(ours), m->n_tensors);
    int identical = 0;
    for (size_t i = 0; i < hs_st_count(ours); i++) {
        const hs_st_tensor *t = hs_st_at(ours, i);
        assert_int_equal(t->dtype, HS_DTYPE_F16);
        assert_null(strstr(t->name, "transformer.")); /* HF names without the prefix */
        assert_null(strstr(t->name, "lm_head"));
        const hs_st_tensor *u = hs_st_find(src, t->name);
        assert_non_null(u);
        assert_int_equal(t->nbytes, u->nbytes);
        bool trained = strstr(t->name, "h.0.self_attention.query_key_value") ||
                       strstr(t->name, "h.0.self_attention.dense.weight");
        if (!trained) {
            if (memcmp(t->data, u->data, t->nbytes) != 0)
                fail_msg("frozen tensor %s is not byte-identical to the source", t->name);
            identical++;
        } else {
            assert_true(memcmp(t->data, u->data, t->nbytes) != 0);
        }
        /* every stored value is the fp16 rounding of the fp32 parameter in memory */
        const hs_tensor_ref *r = hs_model_find_tensor(m, t->name);
        assert_non_null(r);
        const uint16_t *h16 = t->data;
        float *values = malloc(r->numel * sizeof(float));
        assert_non_null(values);
        assert_int_equal(hs_model_tensor_to_host(m, r, values, err, sizeof err), 0);
        for (size_t k = 0; k < r->numel; k++)
            assert_int_equal(h16[k], hs_f32_to_f16(values[k]));
        free(values);
    }
    printf("# f16 checkpoint: %d frozen tensors byte-identical to the source file\n", identical);
    hs_st_close(ours);
    hs_st_close(src);
    hs_surgery_outcome_free(&out);
    hs_surgery_corpus_free(&corpus);
    hs_model_free(m);
    tu_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_steps_match_transformers),
        cmocka_unit_test(test_five_steps_fused_match_transformers),
        cmocka_unit_test(test_mpt_five_steps_match_transformers),
        cmocka_unit_test(test_resume_is_equivalent),
        cmocka_unit_test(test_f16_checkpoint_keeps_source_dtype),
        cmocka_unit_test(test_early_stop_after_patience),
        cmocka_unit_test(test_failure_is_not_a_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
