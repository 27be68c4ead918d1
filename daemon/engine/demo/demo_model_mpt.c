/* The MPT demo model's weights and config (demo_model.h): a tiny MptForCausalLM (4 layers × 8
 * heads, hidden 64, no biases, erf GELU, Wqkv stored as [q | k | v] blocks) with DEAD heads
 * planted on the `<s>` token, so a diagnosis with prepend_bos finds them.
 *
 * MPT has no bias anywhere, so the demo BLOOM's construction (constant queries from a query
 * bias) does not carry over. Instead every token embedding carries the same component along a
 * "constant" direction (e62 − e63)/√2, and only `<s>` (id 1) carries a flag (e60 − e61)/√2.
 * Content lives on channels 0..39 (zero-mean rows of norm 8), so every layernorm input has zero
 * mean and nearly the same norm at every position: a query that reads the constant direction is
 * nearly constant, and a key that reads the flag is large only at `<s>`. A planted head's score
 * for `<s>` is about 26 nats above any other key; the ALiBi penalty of the flat heads used
 * (slopes 2^-6..2^-8) is at most 8 over 512 tokens, so its BOS mass stays above 0.95. Its value
 * and output rows are zero. Every other head and 64 MLP neurons per layer read and write only
 * the content channels with small random weights, so they stay healthy; nothing writes the
 * constant or flag directions, which therefore survive every block. Without `<s>` the planted
 * heads see no flag and are healthy too. */
#include "demo_model.h"
#include "demo_rng.h"
#include "engine/families/model_config.h"
#include "common/errors.h"
#include "engine/formats/safetensors.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const hs_demo_planted_head hs_demo_mpt_planted[] = {
    {.layer = 0, .head = 7, .cls = HS_HEAD_DEAD},
    {.layer = 1, .head = 6, .cls = HS_HEAD_DEAD},
    {.layer = 2, .head = 5, .cls = HS_HEAD_DEAD},
    {.layer = 3, .head = 7, .cls = HS_HEAD_DEAD},
};
const int hs_demo_mpt_planted_count =
    (int)(sizeof hs_demo_mpt_planted / sizeof hs_demo_mpt_planted[0]);

enum {
    C = HS_DEMO_HIDDEN,
    H = HS_DEMO_N_HEAD,
    D = HS_DEMO_HIDDEN / HS_DEMO_N_HEAD,
    L = HS_DEMO_N_LAYER,
    V = HS_DEMO_VOCAB,
    W = 4 * HS_DEMO_HIDDEN,
    N_CONTENT = 40,
    FLAG = 60,          /* (e60 − e61)/√2: only the <s> embedding */
    CONSTANT = 62,      /* (e62 − e63)/√2: every embedding */
    N_RANDOM_NEURONS = 64,
    BOS_ID = 1,
};

static const double constant_amount = 4.0; /* along CONSTANT in every embedding */
static const double flag_amount = 4.0;     /* along FLAG in the <s> embedding */
static const double query_gain = 2.5;      /* planted query row reads CONSTANT */
static const double key_gain = 2.5;        /* planted key row reads FLAG */
static const double random_qkv_std = 0.05;
static const double random_out_std = 0.02;
static const double random_mlp_std = 0.05;
static const double norm_f_scale = 0.02;   /* keeps the tied LM head near uniform */

typedef struct mpt_layer {
    float wqkv[3 * C * C]; /* file layout: rows [q all heads | k | v] */
    float out_proj[C * C];
    float up[W * C];
    float down[C * W];
} mpt_layer;

typedef struct mpt_weights {
    float wte[V * C];
    mpt_layer layer[L];
} mpt_weights;

/* Row of Wqkv for part (0 q, 1 k, 2 v), head h, dimension i, in MPT's block layout. */
static size_t wqkv_row(int part, int h, int i)
{
    return (size_t)part * C + (size_t)h * D + (size_t)i;
}

static void random_layer(mpt_layer *ly, hs_demo_rng *r)
{
    for (int part = 0; part < 3; part++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < D; i++)
                for (int c = 0; c < N_CONTENT; c++)
                    ly->wqkv[wqkv_row(part, h, i) * C + c] =
                        (float)(random_qkv_std * hs_demo_rng_normal(r));
    for (int row = 0; row < N_CONTENT; row++)
        for (int col = 0; col < C; col++)
            ly->out_proj[(size_t)row * C + col] = (float)(random_out_std * hs_demo_rng_normal(r));
    for (int n = 0; n < N_RANDOM_NEURONS; n++)
        for (int c = 0; c < N_CONTENT; c++) {
            ly->up[(size_t)n * C + c] = (float)(random_mlp_std * hs_demo_rng_normal(r));
            ly->down[(size_t)c * W + n] = (float)(random_mlp_std * hs_demo_rng_normal(r));
        }
}

/* Head h of ly: query dimension 0 reads CONSTANT, key dimension 0 reads FLAG, everything
 * else of the head (other q/k dimensions, v, its out_proj columns) zero. */
static void plant_dead_head(mpt_layer *ly, int h)
{
    for (int part = 0; part < 3; part++)
        for (int i = 0; i < D; i++)
            memset(&ly->wqkv[wqkv_row(part, h, i) * C], 0, sizeof(float) * C);
    for (int row = 0; row < C; row++)
        for (int i = 0; i < D; i++)
            ly->out_proj[(size_t)row * C + (size_t)h * D + i] = 0.0f;
    hs_demo_add_pair(&ly->wqkv[wqkv_row(0, h, 0) * C], CONSTANT, query_gain);
    hs_demo_add_pair(&ly->wqkv[wqkv_row(1, h, 0) * C], FLAG, key_gain);
}

static void build_weights(mpt_weights *w)
{
    memset(w, 0, sizeof *w);
    hs_demo_rng r;
    hs_demo_rng_seed(&r, 0x3917deadc0deULL);
    for (int t = 0; t < V; t++) {
        float *e = &w->wte[(size_t)t * C];
        hs_demo_content_embedding(&r, e, N_CONTENT, C);
        hs_demo_add_pair(e, CONSTANT, constant_amount);
        if (t == BOS_ID)
            hs_demo_add_pair(e, FLAG, flag_amount);
    }
    for (int l = 0; l < L; l++)
        random_layer(&w->layer[l], &r);
    for (int i = 0; i < hs_demo_mpt_planted_count; i++)
        plant_dead_head(&w->layer[hs_demo_mpt_planted[i].layer], hs_demo_mpt_planted[i].head);
}

static int add_tensor(hs_st_writer *wr, const char *name, int ndim, int64_t d0, int64_t d1,
                      const float *data, char *err, size_t errlen)
{
    const int64_t shape[2] = {d0, d1};
    return hs_st_writer_add_f32(wr, name, HS_DTYPE_F32, ndim, shape, data, err, errlen);
}

static int write_safetensors(const mpt_weights *w, const char *path, char *err, size_t errlen)
{
    static float ones[C], norm_f[C];
    for (int c = 0; c < C; c++) {
        ones[c] = 1.0f;
        norm_f[c] = (float)norm_f_scale;
    }
    hs_st_writer *wr = hs_st_writer_new();
    if (!wr)
        return hs_errf(err, errlen, "%s: out of memory", path);
    int rc = add_tensor(wr, "transformer.wte.weight", 2, V, C, w->wte, err, errlen);
    for (int l = 0; l < L && rc == 0; l++) {
        const mpt_layer *ly = &w->layer[l];
        const struct {
            const char *suffix;
            int ndim;
            int64_t d0, d1;
            const float *data;
        } t[] = {
            {"norm_1.weight", 1, C, 0, ones},
            {"attn.Wqkv.weight", 2, 3 * C, C, ly->wqkv},
            {"attn.out_proj.weight", 2, C, C, ly->out_proj},
            {"norm_2.weight", 1, C, 0, ones},
            {"ffn.up_proj.weight", 2, W, C, ly->up},
            {"ffn.down_proj.weight", 2, C, W, ly->down},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0] && rc == 0; i++) {
            char name[96];
            snprintf(name, sizeof name, "transformer.blocks.%d.%s", l, t[i].suffix);
            rc = add_tensor(wr, name, t[i].ndim, t[i].d0, t[i].d1, t[i].data, err, errlen);
        }
    }
    if (rc == 0)
        rc = add_tensor(wr, "transformer.norm_f.weight", 1, C, 0, norm_f, err, errlen);
    if (rc == 0)
        rc = hs_st_writer_write(wr, path, err, errlen);
    hs_st_writer_free(wr);
    return rc;
}

int hs_demo_mpt_write_weights(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    mpt_weights *w = malloc(sizeof *w);
    if (!w)
        return hs_errf(err, errlen, "demo model: out of memory for the weights");
    build_weights(w);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = write_safetensors(w, path, err, errlen);
    free(w);
    if (rc != 0)
        return -1;
    return hs_demo_write_config(dir, "mpt", err, errlen);
}
