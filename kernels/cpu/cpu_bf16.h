/* Private to the CPU backend: the fp32 → bf16 rounding the bf16 GEMMs feed oneDNN with
 * (cpu_gemm_bf16.c), and its inverse. bf16 is the upper half of an fp32: sign, the same 8
 * exponent bits, 7 mantissa bits. Rounding is to nearest, ties to even; infinities stay
 * infinities, NaNs stay (quiet) NaNs of the same sign, finite values above the largest bf16
 * round to infinity as IEEE rounding does. */
#ifndef HS_CPU_BF16_H
#define HS_CPU_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t hs_cpu_bf16_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)  /* NaN: truncating could leave an infinity */
        return (uint16_t)((u >> 16) | 0x0040u); /* set the quiet bit */
    u += 0x7fffu + ((u >> 16) & 1u);         /* add half an ulp, one more when the kept lsb is
                                              * odd: ties go to the even neighbour */
    return (uint16_t)(u >> 16);
}

static inline float hs_cpu_f32_from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
