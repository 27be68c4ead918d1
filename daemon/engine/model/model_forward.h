/* The forward graph of any family over the op table, in the three forms the jobs need; each skips the
 * work it does not need (no LM head for statistics; the LM head in vocabulary chunks for NLL).
 * Sequences are host int32 token ids; one sequence per call (texts have different lengths). */
#ifndef HS_MODEL_FORWARD_H
#define HS_MODEL_FORWARD_H
#include "model.h"

/* Per-head attention statistics of one sequence of T tokens: stats[(l·H + h)·HS_STAT_COUNT + s]
 * (host, s in HS_STAT_BOS/ENTROPY/LOCAL of ops.h), accumulated by the attention op itself —
 * no attention matrix is kept, and the LM head is not run. */
int hs_model_head_stats(hs_model *m, const int32_t *ids, int T, double *stats, char *err,
                        size_t errlen);
/* Σ NLL of the T−1 shifted targets of one sequence (token t predicts t+1), logits never
 * materialised beyond one vocabulary chunk. T must be >= 2. */
int hs_model_sequence_nll(hs_model *m, const int32_t *ids, int T, double *nll_sum,
                          char *err, size_t errlen);
/* Both of the above from one forward pass (evaluate with diagnose=true). Either output may be
 * NULL. */
int hs_model_stats_and_nll(hs_model *m, const int32_t *ids, int T, double *stats,
                           double *nll_sum, char *err, size_t errlen);
/* hs_model_stats_and_nll scoring only the tokens at positions >= first (1 <= first < T):
 * Σ NLL of predicting ids[first..T-1] from their prefix in this sequence (the sliding-window
 * perplexity's windows, which score only what the previous window did not). */
int hs_model_stats_and_nll_from(hs_model *m, const int32_t *ids, int T, int first,
                                double *stats, double *nll_sum, char *err, size_t errlen);
/* Full logits [T, V] into host memory (tests and checkpoint checks). */
int hs_model_logits(hs_model *m, const int32_t *ids, int T, float *logits, char *err,
                    size_t errlen);

#endif
