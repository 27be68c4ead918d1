/* Scalar fp32 -> fp16/bf16 conversions (round to nearest even, the NaN results torch gives;
 * the exact widening the other way is kernels/half_float.h) and the tensor upcast hs_st_to_f32. Owns no file handling. */
#include "common/errors.h"
#include "safetensors.h"
#include <string.h>

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

uint16_t hs_f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7FFFFFFFu;
    if (abs > 0x7F800000u) /* NaN: torch (FP16 library) gives the canonical quiet NaN */
        return sign | 0x7E00u;
    if (abs >= 0x47800000u) /* >= 65536: above the largest finite after rounding, or Inf */
        return sign | 0x7C00u;
    int32_t exp = (int32_t)(abs >> 23) - 127;
    uint32_t mant = abs & 0x7FFFFFu;
    if (exp >= -14) { /* normal fp16 (may round up into the next binade or to Inf) */
        uint32_t h = ((uint32_t)(exp + 15) << 10) | (mant >> 13);
        uint32_t rest = mant & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            h++;
        return sign | (uint16_t)h; /* a carry into exponent 31 yields exactly Inf */
    }
    if (exp < -25) /* below half the smallest subnormal: rounds to zero */
        return sign;
    /* subnormal: value = full * 2^(exp-23) with full = 1.mant; result units of 2^-24 */
    uint32_t full = mant | 0x800000u;
    int shift = -exp - 14 + 13; /* 14..24 */
    uint32_t h = full >> shift;
    uint32_t rest = full & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u)))
        h++;
    return sign | (uint16_t)h;
}

uint16_t hs_f32_to_bf16(float f)
{
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: torch's c10::BFloat16 gives 0x7FC0 */
        return 0x7FC0u;
    uint32_t bias = ((u >> 16) & 1u) + 0x7FFFu;
    return (uint16_t)((u + bias) >> 16);
}

int hs_st_to_f32(const hs_st_tensor *t, float *dst, char *err, size_t errlen)
{
    const unsigned char *src = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case HS_DTYPE_F32:
        if (n)
            memcpy(dst, src, n * sizeof(float));
        return 0;
    case HS_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = hs_f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        return 0;
    case HS_DTYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = hs_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        return 0;
    default:
        return hs_errf(err, errlen, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 convert "
                       "to fp32", t->file, t->name, hs_dtype_name(t->dtype));
    }
}
