/* The ALiBi slope rules of the families (alibi_slopes.h), each exactly as transformers computes
 * it in fp32 (docs/model-families.md "ALiBi slopes"). */
#include "alibi_slopes.h"
#include <math.h>

void hs_alibi_slopes_bloom(int n_head, float *slopes)
{
    int cp2 = 1;
    while (cp2 * 2 <= n_head)
        cp2 *= 2;
    /* base = 2 ** (-(2 ** -(log2(cp2) - 3))) evaluated in Python double, then stored in a
     * float32 tensor; torch.pow(float32 base, int32 k) then runs in float32. */
    float base = (float)pow(2.0, -pow(2.0, -(log2((double)cp2) - 3.0)));
    for (int k = 1; k <= cp2; k++)
        slopes[k - 1] = powf(base, (float)k);
    if (cp2 != n_head) {
        float extra_base = (float)pow(2.0, -pow(2.0, -(log2((double)(2 * cp2)) - 3.0)));
        int n_rem = n_head - cp2 < cp2 ? n_head - cp2 : cp2;
        for (int i = 0; i < n_rem; i++)
            slopes[cp2 + i] = powf(extra_base, (float)(2 * i + 1));
    }
}

void hs_alibi_slopes_mpt(int n_head, double alibi_bias_max, float *slopes)
{
    int n2 = 1;
    while (n2 < n_head)
        n2 *= 2;
    /* base_k = float32(k) · float32(alibi_bias_max / n2); slope_k = 1 / 2^base_k in float32,
     * k = 1..n2. For n_head < n2 the odd-indexed slopes (k = 2, 4, ...) come first, then the
     * even-indexed ones (k = 1, 3, ...), cut to n_head. */
    const float step = (float)(alibi_bias_max / (double)n2);
    int out = 0;
    for (int pass = 0; pass < 2 && out < n_head; pass++) {
        int first = n2 == n_head ? 1 : (pass == 0 ? 2 : 1);
        int stride = n2 == n_head ? 1 : 2;
        for (int k = first; k <= n2 && out < n_head; k += stride)
            slopes[out++] = 1.0f / powf(2.0f, (float)k * step);
        if (n2 == n_head)
            break;
    }
}
