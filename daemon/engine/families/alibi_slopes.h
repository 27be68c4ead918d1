/* ALiBi slope rules, one per family that defines its own (docs/model-families.md "ALiBi
 * slopes"). Host memory, n_head floats. */
#ifndef HS_ALIBI_SLOPES_H
#define HS_ALIBI_SLOPES_H

/* BLOOM's build_alibi_tensor: powf of the fp32-rounded base 2^(−8/cp2) (cp2 = the largest
 * power of two <= n_head) to 1..cp2, then, when n_head is not a power of two, the fp32 base
 * 2^(−4/cp2) to the odd powers 1, 3, 5, ... */
void hs_alibi_slopes_bloom(int n_head, float *slopes);

/* MPT's build_mpt_alibi_tensor: 1 / 2^(k·alibi_bias_max/n2) for k = 1..n2 (n2 = the smallest
 * power of two >= n_head); when n_head < n2, the slopes at k = 2, 4, ... followed by those at
 * k = 1, 3, ..., cut to n_head. */
void hs_alibi_slopes_mpt(int n_head, double alibi_bias_max, float *slopes);

#endif
