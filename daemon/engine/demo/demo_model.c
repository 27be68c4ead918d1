/* The demo model (demo_model.h): its weights, constructed analytically so that the documented
 * heads collapse onto position 0, and the atomic writing of the HF directory. The tokenizer is
 * demo_tokenizer.c's; the safetensors and config.json writers are the formats code's. The
 * construction is deterministic (fixed-seed xoshiro256** and Box-Muller). */
#include "demo_model.h"
#include "engine/families/model_config.h"
#include "demo_rng.h"
#include "demo_tokenizer.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "engine/formats/safetensors.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const hs_demo_planted_head hs_demo_planted[] = {
    {.layer = 1, .head = 6, .cls = HS_HEAD_DEAD},
    {.layer = 2, .head = 6, .cls = HS_HEAD_DEAD},
    {.layer = 3, .head = 4, .cls = HS_HEAD_DEAD},
    {.layer = 3, .head = 6, .cls = HS_HEAD_BOS_SINK},
    {.layer = 3, .head = 7, .cls = HS_HEAD_BOS_SINK},
};
const int hs_demo_planted_count = (int)(sizeof hs_demo_planted / sizeof hs_demo_planted[0]);
const int hs_demo_dormant_neurons[HS_DEMO_N_LAYER] = {128, 190, 192, 192};

enum {
    C = HS_DEMO_HIDDEN,
    H = HS_DEMO_N_HEAD,
    D = HS_DEMO_HIDDEN / HS_DEMO_N_HEAD, /* head_dim 8 */
    L = HS_DEMO_N_LAYER,
    V = HS_DEMO_VOCAB,
    W = 4 * HS_DEMO_HIDDEN,             /* MLP width 256 */
    N_CONTENT = 40,                     /* residual channels 0..39 carry token content */
    COPY_POS = 40,                      /* 40..47: +copy, 48..55: −copy */
    COPY_NEG = 48,
    FLAG_F = 56,                        /* raw first-token flag, direction (e56 − e57)/√2 */
    FLAG_B = 58,                        /* clean flag, (e58 − e59)/√2 */
    CODE_K = 60,                        /* B_0/(t+1) code, (e60 − e61)/√2 */
    N_RANDOM_NEURONS = 64,              /* neurons 128..191 of every MLP: small random */
    FIRST_RANDOM_NEURON = 128,
    N_FLAG_DIRS = 16,                   /* layer-0 MLP: 16 directions × 4 neurons */
};

/* Constants of the construction (see demo_model.h; calibrated with the engine). */
static const double copy_gain = 0.25;      /* copy written as ±0.25·o */
static const double flag_gamma = 3.0;      /* slope of each |a_k·diff| measurement */
static const double flag_saturation = 3.0; /* each measurement saturates at this value */
static const double flag_base = 0.3;       /* F = flag_base − flag_kappa·Σ measurements */
static const double flag_kappa = 0.02;
static const double step_lambda = 60.0;    /* layer-1 step: B = g(λ(F − thr)) − g(λ(F − thr) − c) */
static const double step_threshold = 0.14;
static const double step_height = 3.0;
static const double dead_gap = 20.0;       /* score margin scale of the dead heads */
static const double sink_code_b = 24.0;    /* sink key: position-1-vs-later margin scale */
static const double sink_a_head6 = -9.38;  /* sink key: B weight (sets bos ≈ 0.7) */
static const double sink_a_head7 = -9.04;  /* (bos ≈ 0.78) */
static const double random_qkv_std = 0.05; /* unplanted heads */
static const double random_dense_std = 0.02;
static const double random_mlp_std = 0.05;
static const double lnf_scale = 0.02;      /* ln_f weight */

/* ---- the weights ------------------------------------------------------------------------ */

typedef struct demo_layer {
    float qkv_w[3 * C * C], qkv_b[3 * C];
    float dense_w[C * C], dense_b[C];
    float fc_w[W * C], fc_b[W];
    float proj_w[C * W], proj_b[C];
} demo_layer;

typedef struct demo_weights {
    float wte[V * C];
    demo_layer layer[L];
} demo_weights;

/* Row index of part (0 q, 1 k, 2 v) dimension 0 of head h in query_key_value (docs/model-families.md "QKV layout"). */
static int qkv_row(int h, int part)
{
    return h * 3 * D + part * D;
}

static void clear_head(demo_layer *ly, int h)
{
    memset(&ly->qkv_w[(size_t)qkv_row(h, 0) * C], 0, sizeof(float) * 3 * D * C);
    memset(&ly->qkv_b[qkv_row(h, 0)], 0, sizeof(float) * 3 * D);
    for (int r = 0; r < C; r++)
        for (int k = 0; k < D; k++)
            ly->dense_w[r * C + h * D + k] = 0.0f;
}

/* A head whose query is the constant 1 on dimension 0 and whose key dimension 0 is
 * `key` (a C-vector read from the LayerNorm'd residual): score_j = key·x_j/√d. */
static void plant_key_head(demo_layer *ly, int h, const float *key)
{
    clear_head(ly, h);
    ly->qkv_b[qkv_row(h, 0)] = 1.0f;
    memcpy(&ly->qkv_w[(size_t)qkv_row(h, 1) * C], key, sizeof(float) * C);
}

static void random_layer(demo_layer *ly, hs_demo_rng *r)
{
    for (int h = 0; h < H; h++) {
        for (int row = 0; row < 3 * D; row++)
            for (int c = 0; c < N_CONTENT; c++)
                ly->qkv_w[(size_t)(qkv_row(h, 0) + row) * C + c] =
                    (float)(random_qkv_std * hs_demo_rng_normal(r));
        for (int row = 0; row < N_CONTENT; row++)
            for (int k = 0; k < D; k++)
                ly->dense_w[row * C + h * D + k] = (float)(random_dense_std * hs_demo_rng_normal(r));
    }
    for (int n = FIRST_RANDOM_NEURON; n < FIRST_RANDOM_NEURON + N_RANDOM_NEURONS; n++)
        for (int c = 0; c < N_CONTENT; c++) {
            ly->fc_w[(size_t)n * C + c] = (float)(random_mlp_std * hs_demo_rng_normal(r));
            ly->proj_w[(size_t)c * W + n] = (float)(random_mlp_std * hs_demo_rng_normal(r));
        }
}

/* R: 8 orthonormal rows over the content channels, each with zero sum. */
static void make_copy_projection(hs_demo_rng *r, double R[D][C])
{
    memset(R, 0, sizeof(double) * D * C);
    for (int k = 0; k < D; k++) {
        double mean = 0.0;
        for (int c = 0; c < N_CONTENT; c++)
            mean += (R[k][c] = hs_demo_rng_normal(r));
        mean /= N_CONTENT;
        for (int c = 0; c < N_CONTENT; c++)
            R[k][c] -= mean;
        for (int j = 0; j < k; j++) { /* modified Gram-Schmidt */
            double dot = 0.0;
            for (int c = 0; c < N_CONTENT; c++)
                dot += R[k][c] * R[j][c];
            for (int c = 0; c < N_CONTENT; c++)
                R[k][c] -= dot * R[j][c];
        }
        double norm = 0.0;
        for (int c = 0; c < N_CONTENT; c++)
            norm += R[k][c] * R[k][c];
        norm = sqrt(norm);
        for (int c = 0; c < N_CONTENT; c++)
            R[k][c] /= norm;
    }
}

static void build_weights(demo_weights *w)
{
    memset(w, 0, sizeof *w);
    hs_demo_rng r;
    hs_demo_rng_seed(&r, 0x5eed0fdeadbeefULL);
    /* Embeddings: zero-mean content vectors of norm 8 = sqrt(C), so LayerNorm keeps them. */
    for (int t = 0; t < V; t++) {
        float *e = &w->wte[(size_t)t * C];
        hs_demo_content_embedding(&r, e, N_CONTENT, C);
    }
    for (int l = 0; l < L; l++)
        random_layer(&w->layer[l], &r);

    const double sqrt_d = sqrt((double)D);
    float key[C];

    /* Layer 0: copy head 7 and the first-token flag F in the MLP. */
    demo_layer *l0 = &w->layer[0];
    double R[D][C];
    make_copy_projection(&r, R);
    clear_head(l0, 7);
    for (int k = 0; k < D; k++) {
        for (int c = 0; c < C; c++)
            l0->qkv_w[(size_t)(qkv_row(7, 2) + k) * C + c] = (float)R[k][c];
        l0->dense_w[(COPY_POS + k) * C + 7 * D + k] = (float)copy_gain;
        l0->dense_w[(COPY_NEG + k) * C + 7 * D + k] = (float)-copy_gain;
    }
    int n = 0;
    for (int k = 0; k < N_FLAG_DIRS; k++) {
        double a[D], norm = 0.0;
        for (int j = 0; j < D; j++) {
            a[j] = hs_demo_rng_normal(&r);
            norm += a[j] * a[j];
        }
        norm = sqrt(norm);
        double read[C] = {0};
        for (int j = 0; j < D; j++) {
            a[j] /= norm;
            for (int c = 0; c < C; c++)
                read[c] += R[j][c] * a[j];
            read[COPY_POS + j] -= a[j] / (2.0 * copy_gain);
            read[COPY_NEG + j] += a[j] / (2.0 * copy_gain);
        }
        for (int sign = 1; sign >= -1; sign -= 2)
            for (int part = 0; part < 2; part++, n++) {
                for (int c = 0; c < C; c++)
                    l0->fc_w[(size_t)n * C + c] = (float)(sign * flag_gamma * read[c]);
                l0->fc_b[n] = part ? (float)-flag_saturation : 0.0f;
                float col[C] = {0};
                hs_demo_add_pair(col, FLAG_F, part ? flag_kappa : -flag_kappa);
                for (int c = 0; c < C; c++)
                    l0->proj_w[(size_t)c * W + n] = col[c];
            }
    }
    hs_demo_add_pair(l0->proj_b, FLAG_F, flag_base);

    /* Layer 1: dead head 6 on F; MLP neurons 0, 1: the clean step B. */
    demo_layer *l1 = &w->layer[1];
    memset(key, 0, sizeof key);
    hs_demo_add_pair(key, FLAG_F, dead_gap * sqrt_d / 0.28);
    plant_key_head(l1, 6, key);
    for (int part = 0; part < 2; part++) {
        float read[C] = {0}, col[C] = {0};
        hs_demo_add_pair(read, FLAG_F, step_lambda);
        hs_demo_add_pair(col, FLAG_B, part ? -1.0 : 1.0);
        for (int c = 0; c < C; c++) {
            l1->fc_w[(size_t)part * C + c] = read[c];
            l1->proj_w[(size_t)c * W + part] = col[c];
        }
        l1->fc_b[part] = (float)(-step_lambda * step_threshold - (part ? step_height : 0.0));
    }

    /* Layer 2: code head 7 (pure ALiBi average of B) and dead head 6 on B. */
    demo_layer *l2 = &w->layer[2];
    clear_head(l2, 7);
    float readb[C] = {0}, writek[C] = {0};
    hs_demo_add_pair(readb, FLAG_B, 1.0);
    hs_demo_add_pair(writek, CODE_K, 1.0);
    memcpy(&l2->qkv_w[(size_t)qkv_row(7, 2) * C], readb, sizeof readb);
    for (int c = 0; c < C; c++)
        l2->dense_w[c * C + 7 * D] = writek[c];
    memset(key, 0, sizeof key);
    hs_demo_add_pair(key, FLAG_B, dead_gap * sqrt_d / 2.9);
    plant_key_head(l2, 6, key);

    /* Layer 3: dead head 4 on B, sink heads 6 and 7 on B and the code K. */
    demo_layer *l3 = &w->layer[3];
    memset(key, 0, sizeof key);
    hs_demo_add_pair(key, FLAG_B, 2.0 * dead_gap * sqrt_d / 2.9);
    plant_key_head(l3, 4, key);
    const double sink_a[2] = {sink_a_head6, sink_a_head7};
    for (int i = 0; i < 2; i++) {
        memset(key, 0, sizeof key);
        hs_demo_add_pair(key, FLAG_B, sink_a[i] / 2.9 * sqrt_d);
        hs_demo_add_pair(key, CODE_K, sink_code_b / 2.7 * sqrt_d);
        plant_key_head(l3, 6 + i, key);
    }
}

/* ---- writing ---------------------------------------------------------------------------- */

static int add_tensor(hs_st_writer *wr, const char *name, int ndim, int64_t d0, int64_t d1,
                      const float *data, char *err, size_t errlen)
{
    const int64_t shape[2] = {d0, d1};
    return hs_st_writer_add_f32(wr, name, HS_DTYPE_F32, ndim, shape, data, err, errlen);
}

static int write_safetensors(const demo_weights *w, const char *path, char *err, size_t errlen)
{
    static float ones[C], zeros[C];
    for (int c = 0; c < C; c++)
        ones[c] = 1.0f;
    hs_st_writer *wr = hs_st_writer_new();
    if (!wr)
        return hs_errf(err, errlen, "%s: out of memory", path);
    int rc = add_tensor(wr, "word_embeddings.weight", 2, V, C, w->wte, err, errlen);
    if (rc == 0)
        rc = add_tensor(wr, "word_embeddings_layernorm.weight", 1, C, 0, ones, err, errlen);
    if (rc == 0)
        rc = add_tensor(wr, "word_embeddings_layernorm.bias", 1, C, 0, zeros, err, errlen);
    for (int l = 0; l < L && rc == 0; l++) {
        const demo_layer *ly = &w->layer[l];
        const struct {
            const char *suffix;
            int ndim;
            int64_t d0, d1;
            const float *data;
        } t[] = {
            {"input_layernorm.weight", 1, C, 0, ones},
            {"input_layernorm.bias", 1, C, 0, zeros},
            {"self_attention.query_key_value.weight", 2, 3 * C, C, ly->qkv_w},
            {"self_attention.query_key_value.bias", 1, 3 * C, 0, ly->qkv_b},
            {"self_attention.dense.weight", 2, C, C, ly->dense_w},
            {"self_attention.dense.bias", 1, C, 0, ly->dense_b},
            {"post_attention_layernorm.weight", 1, C, 0, ones},
            {"post_attention_layernorm.bias", 1, C, 0, zeros},
            {"mlp.dense_h_to_4h.weight", 2, W, C, ly->fc_w},
            {"mlp.dense_h_to_4h.bias", 1, W, 0, ly->fc_b},
            {"mlp.dense_4h_to_h.weight", 2, C, W, ly->proj_w},
            {"mlp.dense_4h_to_h.bias", 1, C, 0, ly->proj_b},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0] && rc == 0; i++) {
            char name[96];
            snprintf(name, sizeof name, "h.%d.%s", l, t[i].suffix);
            rc = add_tensor(wr, name, t[i].ndim, t[i].d0, t[i].d1, t[i].data, err, errlen);
        }
    }
    /* ln_f scaled down so that the tied LM head gives logits of order 1, not 64. */
    static float lnf_w[C];
    for (int c = 0; c < C; c++)
        lnf_w[c] = (float)lnf_scale;
    if (rc == 0)
        rc = add_tensor(wr, "ln_f.weight", 1, C, 0, lnf_w, err, errlen);
    if (rc == 0)
        rc = add_tensor(wr, "ln_f.bias", 1, C, 0, zeros, err, errlen);
    if (rc == 0)
        rc = hs_st_writer_write(wr, path, err, errlen);
    hs_st_writer_free(wr);
    return rc;
}

static const char tokenizer_config_json[] =
    "{\n  \"tokenizer_class\": \"BloomTokenizerFast\",\n  \"unk_token\": \"<unk>\",\n"
    "  \"bos_token\": \"<s>\",\n  \"eos_token\": \"</s>\",\n  \"pad_token\": \"<pad>\",\n"
    "  \"padding_side\": \"left\",\n  \"add_prefix_space\": false,\n"
    "  \"clean_up_tokenization_spaces\": false,\n  \"model_max_length\": 2048\n}\n";

static const char generic_tokenizer_config_json[] =
    "{\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"unk_token\": \"<unk>\",\n"
    "  \"bos_token\": \"<s>\",\n  \"eos_token\": \"</s>\",\n  \"pad_token\": \"<pad>\",\n"
    "  \"clean_up_tokenization_spaces\": false,\n  \"model_max_length\": 2048\n}\n";

/* The BLOOM demo's weights and config.json. */
static int write_bloom_weights(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    demo_weights *w = malloc(sizeof *w);
    if (!w)
        return hs_errf(err, errlen, "demo model: out of memory for the weights");
    build_weights(w);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = write_safetensors(w, path, err, errlen);
    free(w);
    if (rc != 0)
        return -1;
    return hs_demo_write_config(dir, "bloom", err, errlen);
}

int hs_demo_write_config(const char *dir, const char *family, char *err, size_t errlen)
{
    /* the shape and special tokens both demo models share (<s> = 1, </s> = 2, <pad> = 3) */
    hs_model_config cfg = {
        .family = hs_family_find(family), .vocab_size = V, .hidden_size = C, .n_head = H,
        .n_layer = L, .head_dim = D, .mlp_hidden = W, .layer_norm_epsilon = 1e-5,
        .bos_token_id = 1, .eos_token_id = 2, .pad_token_id = 3, .unk_token_id = 0,
        .alibi_bias_max = 8, .max_seq_len = 2048, .torch_dtype = "float32"};
    if (!cfg.family)
        return hs_errf(err, errlen, "demo model: no family \"%s\"", family);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return hs_model_config_write(&cfg, path, err, errlen);
}

static int write_files(const char *dir, bool mpt, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    if ((mpt ? hs_demo_mpt_write_weights(dir, err, errlen)
             : write_bloom_weights(dir, err, errlen)) != 0)
        return -1;
    int n_ids = 0;
    char *tok = hs_demo_tokenizer_json(V, &n_ids, err, errlen);
    if (!tok)
        return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = hs_write_file_synced(path, tok, strlen(tok), err, errlen);
    free(tok);
    if (rc != 0)
        return -1;
    const char *tc = mpt ? generic_tokenizer_config_json : tokenizer_config_json;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    return hs_write_file_synced(path, tc, strlen(tc), err, errlen);
}

int hs_demo_model_write(const char *out_dir, bool force, char *err, size_t errlen)
{
    return hs_demo_model_write_family(out_dir, "bloom", force, err, errlen);
}

int hs_demo_model_write_family(const char *out_dir, const char *family, bool force, char *err,
                               size_t errlen)
{
    bool mpt = family && strcmp(family, "mpt") == 0;
    if (!mpt && (!family || strcmp(family, "bloom") != 0))
        return hs_errf(err, errlen, "--family: \"%s\" has no demo model (bloom, mpt)",
                       family ? family : "");
    char dir[PATH_MAX], tmp[PATH_MAX + 32], old[PATH_MAX + 32];
    size_t len = strlen(out_dir);
    while (len > 1 && out_dir[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof dir - 32)
        return hs_errf(err, errlen, "--out: invalid directory name \"%s\"", out_dir);
    memcpy(dir, out_dir, len);
    dir[len] = '\0';
    struct stat st;
    bool exists = stat(dir, &st) == 0;
    if (exists && !force)
        return hs_errf(err, errlen, "%s already exists (use --force to replace it)", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    snprintf(old, sizeof old, "%s.old.%ld", dir, (long)getpid());
    hs_remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0)
        return hs_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    if (write_files(tmp, mpt, err, errlen) != 0) {
        hs_remove_tree(tmp);
        return -1;
    }
    if (exists && rename(dir, old) != 0) {
        int e = errno;
        hs_remove_tree(tmp);
        return hs_errf(err, errlen, "%s: cannot move the old directory aside: %s", dir,
                       strerror(e));
    }
    if (rename(tmp, dir) != 0) {
        int e = errno;
        if (exists && rename(old, dir) != 0)
            return hs_errf(err, errlen, "%s: rename failed (%s); the old model is at %s", dir,
                           strerror(e), old);
        hs_remove_tree(tmp);
        return hs_errf(err, errlen, "%s: cannot rename %s into place: %s", dir, tmp,
                       strerror(e));
    }
    if (exists)
        hs_remove_tree(old);
    return hs_fsync_parent_dir(dir, err, errlen);
}
