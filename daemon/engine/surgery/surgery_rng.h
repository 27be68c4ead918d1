/* The surgery's seeded, counter-based random numbers: value i of stream s under seed k is a
 * pure function of (k, s, i), so re-initialisation and data shuffling do not depend on the
 * order in which heads or epochs are processed, and a resumed run reproduces them exactly.
 * The mixing function is SplitMix64's finaliser applied twice (keyed by seed and stream).
 * Owns nothing else: the distributions built on it live with their users. */
#ifndef HS_SURGERY_RNG_H
#define HS_SURGERY_RNG_H
#include <stdint.h>

static inline uint64_t hs_surgery_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 64 random bits: element `counter` of stream `stream` under `seed`. */
static inline uint64_t hs_surgery_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    uint64_t key = hs_surgery_mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
    return hs_surgery_mix64(key ^ (counter * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL));
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double hs_surgery_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return (double)(hs_surgery_rng_u64(seed, stream, counter) >> 11) * 0x1.0p-53;
}

#endif
