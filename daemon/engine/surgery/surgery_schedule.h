/* The surgery's learning-rate schedule (docs/architecture.md "Training semantics"): linear warm-up over
 * `warmup` optimizer steps, then cosine decay to 0 at `total`, evaluated for the 0-based
 * optimizer step s counted over the whole run — the lambda torch's LambdaLR applies in the
 * reference scripts (so step 0 uses lr 0 when warm-up is on). Pure arithmetic, no state. */
#ifndef HS_SURGERY_SCHEDULE_H
#define HS_SURGERY_SCHEDULE_H
#include <stdint.h>

typedef struct hs_lr_schedule {
    double peak_lr;  /* the spec's lr */
    int64_t warmup;  /* warm-up steps (>= 0) */
    int64_t total;   /* optimizer steps of the whole run (>= 1) */
} hs_lr_schedule;

/* warmup_steps's default: min(100, total // 4). */
int64_t hs_surgery_default_warmup(int64_t total);
/* Learning rate of optimizer step `step` (0-based). */
double hs_surgery_lr_at(const hs_lr_schedule *s, int64_t step);

#endif
