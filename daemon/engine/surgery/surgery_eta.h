/* The surgery's ETA arithmetic and the step-evaluation calendar (docs/architecture.md
 * "Training semantics", "Sub-epoch trajectory"): which optimizer steps get a perplexity or a
 * diagnosis on the eval texts (eval_every_steps, diagnose_every_steps), how many of those are
 * still to come, and the remaining time as training time per step × steps left plus the cost
 * of one step evaluation × evaluations left. Pure arithmetic, no state. */
#ifndef HS_SURGERY_ETA_H
#define HS_SURGERY_ETA_H
#include <stdbool.h>
#include <stdint.h>

/* Whether `step` (>= 1) is a multiple of `every` (0: off, never). */
bool hs_surgery_step_due(int64_t step, int64_t every);

/* Steps s with after < s <= upto that are a multiple of every_a or of every_b (0: off).
 * 0 when upto <= after. every_a, every_b <= 1e9 (so their lcm fits in 64 bits). */
int64_t hs_surgery_evals_due(int64_t after, int64_t upto, int64_t every_a, int64_t every_b);

typedef struct hs_surgery_eta_in {
    double elapsed_s;     /* wall time since training started in this process */
    double eval_spent_s;  /* the part of elapsed_s spent in step evaluations */
    int64_t steps_done;   /* optimizer steps done in this process (>= 1 for an estimate) */
    int64_t steps_left;   /* optimizer steps still to train */
    double eval_each_s;   /* seconds one step evaluation takes (< 0: not known yet) */
    int64_t evals_left;   /* step evaluations still to run */
} hs_surgery_eta_in;

/* Seconds left: (elapsed − eval_spent) / steps_done × steps_left + eval_each × evals_left
 * (the second term 0 while eval_each is not known). NAN without a step done. */
double hs_surgery_eta_s(const hs_surgery_eta_in *in);

#endif
