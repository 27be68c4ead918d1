/* Private to the CPU backend: exp and tanh for fp32 data, evaluated in double precision and
 * rounded once to float, written branch-free so that GCC vectorises the loops that call them
 * (glibc's scalar expf/tanhf cost 10–30 ns each and cannot be vectorised without -ffast-math;
 * they dominated the softmax, LM-head and GELU loops).
 *
 * Accuracy: the double evaluation is good to ~1e-15 relative, so the float result is the
 * correctly rounded e^x / tanh(x) except where the exact value lies within ~1e-15 relative of a
 * rounding boundary. test_kernels_vecmath.c checks them against (float)exp((double)x) and
 * (float)tanh((double)x) on sweeps of the float range. (glibc's tanhf itself differs from the
 * correctly rounded value on ~3% of floats, PyTorch's CPU tanh is Sleef's 1-ulp version.) */
#ifndef HS_CPU_VECMATH_H
#define HS_CPU_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^y for y in [-708, 709] (no range checks): Cody–Waite reduction y = k·ln2 + r with
 * |r| <= ln2/2, degree-11 Taylor polynomial for e^r (truncation < 7e-15 relative), then the
 * exponent bits of 2^k. k is read from the low mantissa bits of y·log2(e) + 1.5·2^52 rather than
 * converted, which keeps the function free of anything the vectoriser refuses. */
static inline double hs_cpu_exp_d(double y)
{
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 0x1.62e42fefa3800p-1; /* ln 2 split so k·ln2_hi is exact */
    const double ln2_lo = 0x1.ef35793c76730p-45;
    const double shifter = 0x1.8p52;
    double shifted_k = y * log2e + shifter;
    double kd = shifted_k - shifter;
    double r = (y - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t kbits;
    memcpy(&kbits, &shifted_k, sizeof kbits);
    uint64_t scale_bits = (kbits - 0x4338000000000000ull + 1023u) << 52; /* 2^k */
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

/* e^x rounded to float, for x <= 0 (softmax and log-softmax arguments after subtracting the
 * maximum). x below −104 (down to −inf) gives +0, as expf does; NaN stays NaN. The clamp works
 * on the bit pattern (for x <= 0 a larger pattern is a more negative number), as integer
 * compares the vectoriser accepts where a float compare against a constant is not. */
static inline float hs_cpu_expf_nonpos(float x)
{
    const uint32_t clamp_bits = 0xC2D00000u;     /* −104.0f */
    const uint32_t minus_inf_bits = 0xFF800000u; /* −inf; negative NaNs lie above it */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    /* a mask blend, not a ?: — GCC would otherwise fold e^-104 into a separate branch, which
     * stops the loop from vectorising */
    uint32_t below = (uint32_t)(u > clamp_bits) & (uint32_t)(u <= minus_inf_bits);
    u ^= (u ^ clamp_bits) & (0u - below);
    float clamped;
    memcpy(&clamped, &u, sizeof clamped);
    return (float)hs_cpu_exp_d((double)clamped);
}

/* tanh(x) rounded to float: odd Taylor series to x^11 below |x| = 1/16 (truncation < 1e-17
 * relative), (e^2a − 1)/(e^2a + 1) above (a = |x| clamped at 10, where tanh rounds to 1 in
 * float), sign restored with copysign so that tanh(−0) = −0; NaN takes the series branch and
 * stays NaN. */
static inline float hs_cpu_tanhf(float x)
{
    double a = fabs((double)x);
    double a2 = a * a;
    double s = -1382.0 / 155925.0;
    s = s * a2 + 62.0 / 2835.0;
    s = s * a2 - 17.0 / 315.0;
    s = s * a2 + 2.0 / 15.0;
    s = s * a2 - 1.0 / 3.0;
    double small = a + a * a2 * s;
    double e = hs_cpu_exp_d(2.0 * (a < 10.0 ? a : 10.0));
    double large = (e - 1.0) / (e + 1.0);
    float t = (float)(a >= 0.0625 ? large : small);
    return copysignf(t, x);
}

#endif
