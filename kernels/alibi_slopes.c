/* ALiBi slopes as HF's build_alibi_tensor computes them (docs/model-families.md "ALiBi slopes"): float32 base
 * 2^(−8/cp2) raised with powf to 1..cp2, then, when n_head is not a power of two, the
 * float32 extra base 2^(−4/cp2) raised to the odd powers 1, 3, 5, … Shared by every backend. */
#include "ops.h"
#include <math.h>

void hs_alibi_slopes(int n_head, float *slopes)
{
    int cp2 = 1;
    while (cp2 * 2 <= n_head)
        cp2 *= 2;
    /* HF: base = 2 ** (-(2 ** -(log2(cp2) - 3))) evaluated in Python double, then stored
     * in a float32 tensor; torch.pow(float32 base, int32 k) then runs in float32. */
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
