/* Diagnosis of a model over texts: per-head statistics averaged across texts (mean and
 * population standard deviation), the class of each head, counts per class, the "sick band"
 * (per head index, how many layers have it sick) and MLP dormancy per layer; plus perplexity
 * over texts. Classes (docs/architecture.md "Diagnosis"): DEAD bos > dead_bos; BOS-sink sink_bos < bos <= dead_bos;
 * low-entropy bos <= sink_bos and entropy < low_entropy; healthy otherwise, with sub-pattern
 * "local" when local mass > local_mass, else "distributed". Used by the diagnose, evaluate and
 * surgery jobs. */
#ifndef HS_DIAGNOSIS_H
#define HS_DIAGNOSIS_H
#include "engine/model/model.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct hs_diag_thresholds {
    double dead_bos;    /* 0.95 */
    double sink_bos;    /* 0.5 */
    double low_entropy; /* 0.5 */
    double local_mass;  /* 0.6 */
    /* MLP neuron i of a layer is dormant when ‖row i of dense_h_to_4h.weight‖ ·
     * ‖column i of dense_4h_to_h.weight‖ < mlp_dormancy (0.01). A value <= 0 (e.g. left out
     * of an initialiser) means the default 0.01. */
    double mlp_dormancy;
} hs_diag_thresholds;
extern const hs_diag_thresholds hs_diag_default_thresholds;

typedef enum hs_head_class {
    HS_HEAD_HEALTHY, HS_HEAD_BOS_SINK, HS_HEAD_DEAD, HS_HEAD_LOW_ENTROPY
} hs_head_class;
const char *hs_head_class_name(hs_head_class c); /* "healthy" "bos-sink" "dead" "low-entropy" */
int hs_head_class_from_name(const char *name, hs_head_class *out);
hs_head_class hs_classify_head(double bos, double entropy, const hs_diag_thresholds *t);

/* Tokenized inputs of a job: each text tokenized, optionally BOS-prepended, truncated to
 * max_length. */
typedef struct hs_token_seq {
    int32_t *ids;
    int T;
} hs_token_seq;
int hs_tokenize_texts(const hs_model *m, const char *const *texts, int n_texts,
                      int max_length, bool prepend_bos, hs_token_seq **seqs, char *err,
                      size_t errlen);
void hs_token_seqs_free(hs_token_seq *seqs, int n);

typedef struct hs_head_result {
    int layer, head;
    double bos_mass, entropy, local_mass;          /* mean over texts */
    double bos_std, entropy_std, local_std;        /* population std over texts */
    hs_head_class cls;
    bool local_pattern;                            /* healthy and local mass > local_mass */
} hs_head_result;

typedef struct hs_diagnosis {
    int n_layer, n_head, n_texts;
    hs_head_result *heads;        /* [L·H], layer-major */
    int counts[4];                /* per hs_head_class */
    int *sick_band;               /* [H]: layers where head index h is not healthy */
    int *mlp_dormant;             /* [L]: dormant neurons per layer */
    int mlp_width;                /* 4C */
} hs_diagnosis;

/* Runs the statistics over every sequence; progress(i, n) after each when not NULL. */
int hs_diagnose(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                const hs_diag_thresholds *t, hs_diagnosis *out,
                void (*progress)(void *arg, int done, int total), void *arg, char *err,
                size_t errlen);
void hs_diagnosis_free(hs_diagnosis *d);
/* The result JSON of a diagnose job (docs/api.md "Diagnose result"): model, heads, summary, sick_band,
 * mlp_dormancy. */
cJSON *hs_diagnosis_to_json(const hs_diagnosis *d, const hs_model *m);

typedef struct hs_perplexity {
    double ppl;          /* exp(total NLL / predicted tokens) */
    long long tokens;    /* predicted tokens */
    double *text_nll;    /* [n] Σ NLL per text */
    int *text_tokens;    /* [n] predicted tokens per text */
    int n;
} hs_perplexity;
/* Sequences shorter than 2 tokens are an error naming the text index. */
int hs_perplexity_eval(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                       hs_perplexity *out, void (*progress)(void *arg, int done, int total),
                       void *arg, char *err, size_t errlen);
void hs_perplexity_free(hs_perplexity *p);

/* Diagnosis and perplexity from ONE forward pass per sequence (evaluate with diagnose=true):
 * either output may be NULL (not both). Same errors as the two functions above. When
 * should_stop is not NULL it is asked before each sequence; if it says true the function
 * returns 1 with nothing in the outputs (a cancelled job). */
int hs_diagnose_and_perplexity(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                               const hs_diag_thresholds *t, hs_diagnosis *diag,
                               hs_perplexity *ppl,
                               void (*progress)(void *arg, int done, int total),
                               bool (*should_stop)(void *arg), void *arg, char *err,
                               size_t errlen);
/* Perplexity of texts longer than max_length: windows of max_length tokens starting every
 * stride tokens (stride <= max_length; 0: max_length), each scoring only the tokens that the
 * previous window did not (transformers' sliding-window perplexity). The statistics of a
 * diagnosis come from the first window. */
typedef struct hs_ppl_window {
    int max_length, stride;
} hs_ppl_window;
/* hs_diagnose_and_perplexity over untruncated sequences with windows w (NULL: each sequence
 * in one pass, as hs_diagnose_and_perplexity). */
int hs_diagnose_and_perplexity_windowed(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                                        const hs_ppl_window *w, const hs_diag_thresholds *t,
                                        hs_diagnosis *diag, hs_perplexity *ppl,
                                        void (*progress)(void *arg, int done, int total),
                                        bool (*should_stop)(void *arg), void *arg, char *err,
                                        size_t errlen);
/* The evaluate result JSON: {"ppl", "tokens", "texts": [{"index", "tokens", "nll", "ppl"}]}. */
cJSON *hs_perplexity_to_json(const hs_perplexity *p);

#endif
