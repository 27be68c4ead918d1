/* Warm-up + cosine learning-rate schedule of the surgery (see surgery_schedule.h). */
#include "surgery_schedule.h"
#include <math.h>

int64_t hs_surgery_default_warmup(int64_t total)
{
    int64_t quarter = total / 4;
    return quarter < 100 ? quarter : 100;
}

double hs_surgery_lr_at(const hs_lr_schedule *s, int64_t step)
{
    if (step < s->warmup)
        return s->peak_lr * (double)step / (double)(s->warmup > 1 ? s->warmup : 1);
    int64_t span = s->total - s->warmup;
    double progress = (double)(step - s->warmup) / (double)(span > 1 ? span : 1);
    double factor = 0.5 * (1.0 + cos(M_PI * progress));
    return s->peak_lr * (factor > 0.0 ? factor : 0.0);
}
