/* The demo model: a tiny BLOOM in HF layout (config.json, model.safetensors in F32,
 * tokenizer.json, tokenizer_config.json) whose weights are constructed by hand so that a
 * documented set of attention heads collapses onto position 0 on ordinary English text,
 * without any BOS token (prepend_bos false, as HF's tokenizer adds none). Written atomically
 * (a temporary directory next to the target, then rename). `surgeond demo-model --out DIR`
 * and `make run` use it.
 *
 * Shape: 4 layers × 8 heads, hidden 64 (head_dim 8), vocabulary 512 (4 special tokens, 256
 * byte symbols, 252 BPE merges trained on a built-in English text, demo_tokenizer.h).
 * ALiBi slopes of the 8 heads: 2^-1 .. 2^-8 (head 7 is the flattest).
 *
 * How position 0 is made visible (BLOOM has no position embedding, and with
 * prepend_bos=false position 0 is just the first word). Residual channels:
 *   0..39  content: each token's embedding row is a random zero-mean vector of norm 8 there
 *          (so the embedding LayerNorm is the identity on it); every unplanted head reads
 *          and writes only these channels (small random weights), so it stays healthy.
 *   40..55 "copy" slot; 56/57 raw first-token flag F; 58/59 clean flag B; 60/61 code K.
 *   Every written direction has zero channel mean, so LayerNorm's mean subtraction never
 *   mixes the slots, and all LayerNorm weights are 1 and biases 0.
 * 1. Layer 0, head 7 (copy head, zero query/key, so pure ALiBi averaging over the prefix)
 *    copies an 8-dimensional projection R·x of the token content into the copy slot.
 * 2. Layer 0 MLP (neurons 0..63) measures 16 saturated absolute values of a_k·(R·x_t − copy_t).
 *    At position 0 the head can only attend to itself, so copy = R·x exactly and every
 *    measurement is 0; anywhere else the copy is an average over earlier, different tokens.
 *    It writes F = 0.3 − 0.02·Σ|…| : about +0.3 at position 0, negative elsewhere (a text whose
 *    first tokens repeat the very same token defeats it).
 * 3. Layer 1 MLP (neurons 0, 1) turns F into a clean step B ≈ 3 at position 0, ≈ 0 elsewhere.
 * 4. Layer 2, head 7 (code head, pure ALiBi averaging) reads B: K_t ≈ B_0/(t+1).
 * Planted heads: the query is a constant (query bias), the key reads the flags:
 *   DEAD     (1,6) key ∝ F;  (2,6) key ∝ B;  (3,4) key ∝ B — position 0 outscores every other
 *            position by ≥ 18 nats, so bos_mass ≈ 1.0 for texts up to 512 tokens.
 *   BOS-SINK (3,6) and (3,7): key = a·B + b·K: position 0 beats position 1 by ~0.9 resp.
 *            ~1.2 nats and position 1 beats every later position by ≥ 4 nats, so each query
 *            row splits between positions 0 and 1: bos_mass ≈ 0.7 resp. 0.78, independent
 *            of the text length (0.60–0.87 resp. 0.67–0.90 over 44 English texts of 15–512
 *            tokens).
 * Every other head is healthy on English text of more than ~15 tokens (heads 0..1 "local",
 * the rest "distributed"); the helper heads (0,7) and (2,7) are healthy too.
 * MLP dormancy (threshold 0.01): layer 0: 128 of 256 neurons dormant, layer 1: 190,
 * layers 2 and 3: 192 (only 64 random neurons plus the mechanism neurons are non-zero).
 * ln_f's weight is 0.02 so that the tied LM head stays near uniform: perplexity ≈ 500 (the
 * model is not trained; it exists to be diagnosed and operated on).
 * Checked against HF: transformers (BloomForCausalLM, eager, fp32) and tokenizers load the
 * directory as written and give the same ids, per-head BOS mass and perplexity. */
#ifndef HS_DEMO_MODEL_H
#define HS_DEMO_MODEL_H
#include "engine/diagnosis/diagnosis.h"
#include <stdbool.h>
#include <stddef.h>

enum {
    HS_DEMO_N_LAYER = 4,
    HS_DEMO_N_HEAD = 8,
    HS_DEMO_HIDDEN = 64,
    HS_DEMO_VOCAB = 512,
};

typedef struct hs_demo_planted_head {
    int layer, head;
    hs_head_class cls;
} hs_demo_planted_head;

/* The planted heads (all others are built healthy); hs_demo_planted_count entries. */
extern const hs_demo_planted_head hs_demo_planted[];
extern const int hs_demo_planted_count;
/* Dormant MLP neurons per layer by construction (threshold 0.01). */
extern const int hs_demo_dormant_neurons[HS_DEMO_N_LAYER];

/* Writes the demo model into out_dir (which must not exist unless force is set; with force
 * an existing directory is replaced only after the new one is complete). */
int hs_demo_model_write(const char *out_dir, bool force, char *err, size_t errlen);
/* The same for a family: "bloom" (the model above) or "mpt" (demo_model_mpt.c: the same
 * shape and tokenizer as an MptForCausalLM, DEAD heads (0,7) (1,6) (2,5) (3,7) planted on the
 * `<s>` token, so they show when texts are diagnosed with prepend_bos; every other head is
 * healthy). */
int hs_demo_model_write_family(const char *out_dir, const char *family, bool force, char *err,
                               size_t errlen);
extern const hs_demo_planted_head hs_demo_mpt_planted[];
extern const int hs_demo_mpt_planted_count;
/* Private to the demo files: the MPT demo's model.safetensors and config.json into dir, and
 * the config.json of either demo (the shape and special tokens they share). */
int hs_demo_mpt_write_weights(const char *dir, char *err, size_t errlen);
int hs_demo_write_config(const char *dir, const char *family, char *err, size_t errlen);

#endif
