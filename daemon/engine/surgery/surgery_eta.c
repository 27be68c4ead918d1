/* ETA and step-evaluation calendar of the surgery (see surgery_eta.h). */
#include "surgery_eta.h"
#include <math.h>

bool hs_surgery_step_due(int64_t step, int64_t every)
{
    return every > 0 && step > 0 && step % every == 0;
}

static int64_t multiples_upto(int64_t n, int64_t every)
{
    return every > 0 && n > 0 ? n / every : 0;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Multiples of a or b in [1, n]: inclusion–exclusion over their lcm. */
static int64_t multiples_of_either(int64_t n, int64_t a, int64_t b)
{
    if (a <= 0)
        return multiples_upto(n, b);
    if (b <= 0)
        return multiples_upto(n, a);
    int64_t lcm = a / gcd64(a, b) * b;
    return multiples_upto(n, a) + multiples_upto(n, b) - multiples_upto(n, lcm);
}

int64_t hs_surgery_evals_due(int64_t after, int64_t upto, int64_t every_a, int64_t every_b)
{
    if (upto <= after)
        return 0;
    return multiples_of_either(upto, every_a, every_b) -
           multiples_of_either(after, every_a, every_b);
}

double hs_surgery_eta_s(const hs_surgery_eta_in *in)
{
    if (in->steps_done < 1)
        return NAN;
    double training = in->elapsed_s - in->eval_spent_s;
    if (training < 0)
        training = 0;
    double eta = training / (double)in->steps_done * (double)in->steps_left;
    if (in->eval_each_s >= 0 && in->evals_left > 0)
        eta += in->eval_each_s * (double)in->evals_left;
    return eta;
}
