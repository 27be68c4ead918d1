/* The demo models' deterministic random numbers (xoshiro256** seeded through splitmix64, and
 * Box-Muller normals) and the two construction pieces both demo models use: a token's content
 * embedding and a zero-mean "flag" direction. Header-only (static inline) so each demo
 * construction owns its stream. */
#ifndef HS_DEMO_RNG_H
#define HS_DEMO_RNG_H
#include <math.h>
#include <stdint.h>

typedef struct hs_demo_rng {
    uint64_t s[4];
} hs_demo_rng;

static inline uint64_t hs_demo_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void hs_demo_rng_seed(hs_demo_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = hs_demo_splitmix64(&seed);
}

static inline uint64_t hs_demo_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t hs_demo_rng_next(hs_demo_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = hs_demo_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hs_demo_rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1). */
static inline double hs_demo_rng_uniform(hs_demo_rng *r)
{
    return ((double)(hs_demo_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double hs_demo_rng_normal(hs_demo_rng *r)
{
    double u1 = hs_demo_rng_uniform(r), u2 = hs_demo_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Adds s·(e_a − e_{a+1})/√2 to v: a direction with zero channel mean, so layernorm's mean
 * subtraction never mixes it with other channels. */
static inline void hs_demo_add_pair(float *v, int a, double s)
{
    v[a] += (float)(s / sqrt(2.0));
    v[a + 1] -= (float)(s / sqrt(2.0));
}

/* row[0..n_content) = a random zero-mean vector of norm sqrt(C) (layernorm keeps it); the
 * other channels are left as they are. */
static inline void hs_demo_content_embedding(hs_demo_rng *r, float *row, int n_content, int C)
{
    double v[256], mean = 0.0, norm = 0.0;
    for (int c = 0; c < n_content; c++)
        mean += (v[c] = hs_demo_rng_normal(r));
    mean /= n_content;
    for (int c = 0; c < n_content; c++)
        norm += (v[c] - mean) * (v[c] - mean);
    norm = sqrt(norm);
    for (int c = 0; c < n_content; c++)
        row[c] = (float)((v[c] - mean) * sqrt((double)C) / norm);
}

#endif
