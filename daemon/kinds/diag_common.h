/* What the `diagnose` and `evaluate` job kinds share: the spec fields model / texts /
 * text_file / max_length, their cross-field check (exactly one of texts and text_file, the
 * model and file names resolved inside their roots), loading the texts (the array, or one
 * text per non-empty line of text_file), a job's model and token sequences, running the
 * engine over them, and the diagnosis part of the result. */
#ifndef HS_JOB_DIAG_COMMON_H
#define HS_JOB_DIAG_COMMON_H
#include "engine/diagnosis/diagnosis.h"
#include "kinds.h"
#include <stdbool.h>

#define HS_DIAG_FIELD_MODEL                                                                    \
    {.name = "model", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 4096,        \
     .help = "model directory under --model-root, or run:<id>/<checkpoint>"}
#define HS_DIAG_FIELD_TEXTS                                                                    \
    {.name = "texts", .type = HS_FIELD_STRING_ARRAY, .min = 1, .max = 100000,                  \
     .help = "the texts, each tokenized and truncated to max_length (or text_file)"}
#define HS_DIAG_FIELD_TEXT_FILE                                                                \
    {.name = "text_file", .type = HS_FIELD_STRING, .min = 1, .max = 4096,                      \
     .help = "file under --corpus-root or upload:<name>, one text per non-empty line (or "     \
             "texts)"}
#define HS_DIAG_FIELD_STRIDE                                                                   \
    {.name = "stride", .type = HS_FIELD_INT, .min = 1, .max = 8192,                            \
     .help = "perplexity of a text longer than max_length: windows of max_length tokens "     \
             "advance by stride, each scoring the tokens the previous one did not (default "   \
             "max_length)"}
#define HS_DIAG_FIELD_MAX_LENGTH                                                               \
    {.name = "max_length", .type = HS_FIELD_INT, .min = 2, .max = 8192,                        \
     .help = "tokens kept per text (default 512)"}

/* The shared cross-field checks: exactly one of texts/text_file, the model name resolves
 * (field "model"), text_file resolves (field "text_file"). */
int hs_diag_check_common(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e);

/* stride <= max_length (both as the spec gives them or their defaults). 0, or -1 with e. */
int hs_check_stride(const cJSON *spec, hs_spec_error *e);

/* A job's inputs, ready to run. */
typedef struct hs_diag_inputs {
    char **texts;
    int n_texts;
    hs_model *model; /* owned by the device cache */
    hs_token_seq *seqs;    /* [n_texts] */
    long long n_tokens;    /* Σ T */
    hs_ppl_window window;  /* whole texts: perplexity windows (max_length, stride) */
    bool whole_texts;      /* seqs are untruncated and window applies */
} hs_diag_inputs;

/* Loads texts, resolves and loads the model on ctx->device, tokenizes (max_length from the
 * spec, default 512): truncated to max_length, or, with whole_texts (perplexity), whole, with
 * in->window from max_length and stride. 0, or -1 with a reason naming the file or text at
 * fault. */
int hs_diag_inputs_load(hs_job_ctx *ctx, const cJSON *spec, bool prepend_bos, bool whole_texts,
                        hs_diag_inputs *in, char *err, size_t errlen);
void hs_diag_inputs_free(hs_diag_inputs *in);

/* Runs hs_diagnose_and_perplexity over in (d and/or p; either may be NULL) with the job's
 * progress and cancellation: 0; 1 when cancelled (logged as such), -1 with err — in both of
 * which in has been freed. */
int hs_diag_run(hs_job_ctx *ctx, hs_diag_inputs *in, const hs_diag_thresholds *t,
                hs_diagnosis *d, hs_perplexity *p, char *err, size_t errlen);
/* hs_diagnosis_to_json with the spec's model name as "model"."name"; NULL when out of
 * memory. */
cJSON *hs_diag_result_json(const hs_diagnosis *d, const hs_diag_inputs *in, const cJSON *spec);

/* Progress callback for the engine: "text i of n" through the runner API. */
void hs_diag_progress(void *ctx, int done, int total);
/* should_stop for the engine: the runner API's. */
bool hs_diag_should_stop(void *ctx);

/* The rows of a diagnosis for store_head_stats (checkpoint ""). 0 or -1 with err. */
int hs_diag_store_heads(hs_job_ctx *ctx, const hs_diagnosis *d, char *err, size_t errlen);

#endif
