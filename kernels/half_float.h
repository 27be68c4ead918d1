/* Exact widening of IEEE fp16 and bfloat16 values to fp32, the one definition the loader,
 * the safetensors reader and the backends' table ops share. Widening is exact for every bit
 * pattern: normals, subnormals (fp16 subnormals become fp32 normals), ±0, ±inf, and NaN with
 * its payload kept. Header-only so kernels/ and daemon/ both use it without a link seam. */
#ifndef HS_HALF_FLOAT_H
#define HS_HALF_FLOAT_H

#include <stdint.h>
#include <string.h>

static inline float hs_half_bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 → binary32. */
static inline float hs_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) /* Inf or NaN: keep the payload */
        return hs_half_bits_to_f32(sign | 0x7F800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return hs_half_bits_to_f32(sign);
        /* subnormal: normalise the mantissa into an fp32 normal */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while ((mant & 0x400u) == 0);
        mant &= 0x3FFu;
        return hs_half_bits_to_f32(sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13));
    }
    return hs_half_bits_to_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

/* bfloat16 → binary32: the upper half of the fp32 bit pattern. */
static inline float hs_bf16_to_f32(uint16_t b)
{
    return hs_half_bits_to_f32((uint32_t)b << 16);
}

#endif
