/* The next-token choice of generation (sampler.h), following transformers' logits processors
 * in their order: RepetitionPenaltyLogitsProcessor, then for sampling TemperatureLogitsWarper,
 * TopKLogitsWarper (removes scores below the k-th largest) and TopPLogitsWarper (sorted
 * ascending, removes tokens whose cumulative probability is <= 1 − top_p, keeping at least
 * one), then a categorical draw. Probabilities are computed in double. */
#include "sampler.h"
#include <math.h>
#include <stdlib.h>

hs_sampling hs_sampling_default(void)
{
    return (hs_sampling){.do_sample = false, .temperature = 1.0, .top_k = 50, .top_p = 1.0,
                         .repetition_penalty = 1.0, .seed = 0};
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double hs_sampler_uniform(uint64_t seed, uint64_t stream, uint64_t step)
{
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
    uint64_t bits = mix64(key ^ (step * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL));
    return (double)(bits >> 11) * 0x1.0p-53;
}

void hs_apply_repetition_penalty(float *logits, int V, const int32_t *seen, int n_seen,
                                 double penalty, uint8_t *mark)
{
    if (penalty == 1.0)
        return;
    /* HF gathers the scores of input_ids once, then scatters: a token seen twice is penalised
     * once (mark remembers which are done, and is cleared again afterwards). */
    for (int i = 0; i < n_seen; i++) {
        int32_t id = seen[i];
        if (id < 0 || id >= V || mark[id])
            continue;
        mark[id] = 1;
        float l = logits[id];
        const float p = (float)penalty; /* HF: an fp32 tensor op with the penalty as scalar */
        logits[id] = l < 0 ? l * p : l / p;
    }
    for (int i = 0; i < n_seen; i++)
        if (seen[i] >= 0 && seen[i] < V)
            mark[seen[i]] = 0;
}

/* qsort has no context argument: the keys of the sort in progress on this thread (workers
 * on several devices may sample at once). */
static _Thread_local const double *sort_keys;

static int by_key_descending(const void *a, const void *b)
{
    double x = sort_keys[*(const int *)a], y = sort_keys[*(const int *)b];
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b; /* ties by index: deterministic */
}

/* order[0..n) sorted by keys descending (ties by index). */
static void sort_descending(const double *keys, int *order, int n)
{
    sort_keys = keys;
    qsort(order, (size_t)n, sizeof *order, by_key_descending);
    sort_keys = NULL;
}

/* Zeroes everything below the k-th largest scaled logit (ties with it kept). */
static void apply_top_k(double *scaled, int V, int k, int *order)
{
    if (k <= 0 || k >= V)
        return;
    for (int i = 0; i < V; i++)
        order[i] = i;
    sort_descending(scaled, order, V);
    double kth = scaled[order[k - 1]];
    for (int i = 0; i < V; i++)
        if (scaled[i] < kth)
            scaled[i] = -INFINITY;
}

/* softmax of scaled (−inf entries get 0) into probs. */
static void softmax_into(const double *scaled, int V, double *probs)
{
    double mx = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++)
        mx = scaled[i] > mx ? scaled[i] : mx;
    for (int i = 0; i < V; i++) {
        probs[i] = scaled[i] == -INFINITY ? 0.0 : exp(scaled[i] - mx);
        sum += probs[i];
    }
    for (int i = 0; i < V; i++)
        probs[i] /= sum;
}

/* HF's top-p on probabilities: ascending cumulative sums, tokens with cumsum <= 1 − top_p
 * removed, the most probable token always kept; the rest renormalised. */
static void apply_top_p(double *probs, int V, double top_p, int *order)
{
    if (top_p >= 1.0)
        return;
    int n = 0;
    for (int i = 0; i < V; i++)
        if (probs[i] > 0.0)
            order[n++] = i;
    sort_descending(probs, order, n);
    double cum = 0.0, kept = 0.0;
    for (int r = n - 1; r >= 0; r--) { /* ascending, as HF */
        cum += probs[order[r]];
        if (cum <= 1.0 - top_p && r > 0)
            probs[order[r]] = 0.0;
        else
            kept += probs[order[r]];
    }
    for (int i = 0; i < V; i++)
        probs[i] /= kept;
}

void hs_sampling_distribution(const hs_sampling *s, const float *logits, int V, double *probs,
                              int *order)
{
    double t = s->temperature > 0 ? s->temperature : 1.0;
    for (int i = 0; i < V; i++) /* reuse probs as the scaled logits */
        probs[i] = (double)(float)(logits[i] / (float)t); /* HF divides in fp32 */
    double *scaled = probs;
    apply_top_k(scaled, V, s->top_k, order);
    softmax_into(scaled, V, probs);
    apply_top_p(probs, V, s->top_p, order);
}

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int hs_sample_token(const hs_sampling *s, const float *logits, int V, uint64_t stream,
                    uint64_t step, double *probs, int *order)
{
    if (!s->do_sample)
        return argmax(logits, V);
    hs_sampling_distribution(s, logits, V, probs, order);
    double u = hs_sampler_uniform(s->seed, stream, step), cum = 0.0;
    int last = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] <= 0.0)
            continue;
        cum += probs[i];
        last = i;
        if (u < cum)
            return i;
    }
    return last; /* rounding left u above the final sum */
}
