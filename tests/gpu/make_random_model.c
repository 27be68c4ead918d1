/* Writes a random-weight BLOOM model directory of a published shape (560m, 1b1, 1b7, 3b, 7b1)
 * or a custom one, for benchmarks on machines without torch: config.json, model.safetensors
 * (F32 or BF16), and the tokenizer.json of an existing model directory (the tokenizer only
 * needs to produce ids below the vocabulary size). Weights: N(0, 0.02)-like uniform values,
 * LayerNorm weights 1 and biases 0, as HF initialises BLOOM. Built by `make gpu-check`. */
#include "engine/families/model_config.h"
#include "common/errors.h"
#include "engine/formats/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct shape {
    const char *name;
    int hidden, layers, heads;
} shape;

static const shape shapes[] = {
    {"560m", 1024, 24, 16}, {"1b1", 1536, 24, 16}, {"1b7", 2048, 24, 16},
    {"3b", 2560, 30, 32},   {"7b1", 4096, 30, 32}, {"tiny", 64, 2, 4},
};

static uint64_t rng = 0x243F6A8885A308D3ull;
static float uniform_std(float std) /* uniform with the given standard deviation */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    float u = (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    return u * std * 1.7320508f;
}

static int add(hs_st_writer *w, const char *name, hs_dtype dt, int64_t rows, int64_t cols,
               int kind /* 0 random, 1 ones, 2 zeros */)
{
    int64_t shape2[2] = {rows, cols};
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    float *v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = kind == 0 ? uniform_std(0.02f) : kind == 1 ? 1.0f : 0.0f;
    char err[HS_ERR_LEN];
    int rc = hs_st_writer_add_f32(w, name, dt, cols ? 2 : 1, shape2, v, err, sizeof err);
    free(v);
    if (rc)
        fprintf(stderr, "%s\n", err);
    return rc;
}

static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    if (!in || !out) {
        if (in) fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t k;
    int rc = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k)
            rc = -1;
    if (ferror(in))
        rc = -1;
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: make_random_model SHAPE OUT_DIR TOKENIZER_MODEL_DIR [f32|bf16]\n"
                        "  SHAPE: 560m 1b1 1b7 3b 7b1 tiny\n");
        return 2;
    }
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].name, argv[1]) == 0)
            s = &shapes[i];
    if (!s) {
        fprintf(stderr, "unknown shape %s\n", argv[1]);
        return 2;
    }
    hs_dtype dt = argc > 4 && strcmp(argv[4], "bf16") == 0 ? HS_DTYPE_BF16 : HS_DTYPE_F32;
    const char *out = argv[2];
    if (mkdir(out, 0755) != 0) {
        perror(out);
        return 1;
    }
    const hs_family *bloom = hs_family_find("bloom");
    if (!bloom) {
        fprintf(stderr, "the bloom family is not in this build\n");
        return 1;
    }
    hs_model_config cfg = {.family = bloom, .vocab_size = 250880, .hidden_size = s->hidden,
                           .n_head = s->heads, .n_layer = s->layers,
                           .head_dim = s->hidden / s->heads,
                           .layer_norm_epsilon = 1e-5, .bos_token_id = 1, .eos_token_id = 2,
                           .pad_token_id = 3, .unk_token_id = 0,
                           .mlp_hidden = 4 * s->hidden};
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s", dt == HS_DTYPE_BF16 ? "bfloat16" : "float32");
    char path[4096], err[HS_ERR_LEN];
    snprintf(path, sizeof path, "%s/config.json", out);
    if (hs_model_config_write(&cfg, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    hs_st_writer *w = hs_st_writer_new();
    int64_t C = s->hidden;
    int rc = w ? 0 : -1;
    rc |= add(w, "word_embeddings.weight", dt, cfg.vocab_size, C, 0);
    rc |= add(w, "word_embeddings_layernorm.weight", dt, C, 0, 1);
    rc |= add(w, "word_embeddings_layernorm.bias", dt, C, 0, 2);
    for (int l = 0; l < s->layers && rc == 0; l++) {
        char n[128];
#define T(suffix, rows, cols, kind) \
    (snprintf(n, sizeof n, "h.%d.%s", l, suffix), add(w, n, dt, rows, cols, kind))
        rc |= T("input_layernorm.weight", C, 0, 1);
        rc |= T("input_layernorm.bias", C, 0, 2);
        rc |= T("self_attention.query_key_value.weight", 3 * C, C, 0);
        rc |= T("self_attention.query_key_value.bias", 3 * C, 0, 2);
        rc |= T("self_attention.dense.weight", C, C, 0);
        rc |= T("self_attention.dense.bias", C, 0, 2);
        rc |= T("post_attention_layernorm.weight", C, 0, 1);
        rc |= T("post_attention_layernorm.bias", C, 0, 2);
        rc |= T("mlp.dense_h_to_4h.weight", 4 * C, C, 0);
        rc |= T("mlp.dense_h_to_4h.bias", 4 * C, 0, 2);
        rc |= T("mlp.dense_4h_to_h.weight", C, 4 * C, 0);
        rc |= T("mlp.dense_4h_to_h.bias", C, 0, 2);
#undef T
    }
    rc |= add(w, "ln_f.weight", dt, C, 0, 1);
    rc |= add(w, "ln_f.bias", dt, C, 0, 2);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (rc != 0 || hs_st_writer_write(w, path, err, sizeof err) != 0) {
        fprintf(stderr, "writing %s failed: %s\n", path, rc ? "tensor add failed" : err);
        hs_st_writer_free(w);
        return 1;
    }
    hs_st_writer_free(w);
    char src[4096];
    snprintf(src, sizeof src, "%s/tokenizer.json", argv[3]);
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    if (copy_file(src, path) != 0) {
        fprintf(stderr, "cannot copy %s\n", src);
        return 1;
    }
    printf("wrote %s (%s, %s)\n", out, s->name, dt == HS_DTYPE_BF16 ? "bf16" : "f32");
    return 0;
}
