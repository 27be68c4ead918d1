/* What the inspect job keeps of chosen heads' attention matrices: per query token the BOS
 * mass, entropy and local mass (the diagnosis's statistics, before averaging over tokens), and
 * the matrices themselves as fp16 in one safetensors file (tensor "l<layer>.h<head>", [T, T],
 * rows above the diagonal 0), written atomically; and reading one matrix back. */
#ifndef HS_INSPECT_H
#define HS_INSPECT_H
#include "engine/model/model_train.h"
#include <stddef.h>

/* For query rows t of map [T, T]: bos[t] = A[t,0]; entropy[t] = −Σ_j A[t,j]·ln A[t,j]
 * (0·ln 0 = 0); local[t] = Σ_{j=max(0,t−2)..t} A[t,j]; accumulated in double. */
void hs_attention_token_stats(const float *map, int T, double *bos, double *entropy,
                              double *local);

/* The file name inside a run's directory. */
#define HS_INSPECT_FILE "attention.safetensors"

/* Writes maps [n, T, T] of heads[n] as F16 tensors to path (atomically). */
int hs_inspect_write(const char *path, const hs_head_target *heads, int n, const float *maps,
                     int T, char *err, size_t errlen);
/* Reads head (layer, head) back from such a file: *map malloc'd [T, T] fp32, *T its size.
 * Returns 0, 1 when the file has no such head (*map NULL), -1 with err when the file cannot
 * be read. */
int hs_inspect_read(const char *path, int layer, int head, float **map, int *T, char *err,
                    size_t errlen);

/* The heads such a file holds, in file order: *heads malloc'd [*n] (NULL when 0), each
 * matrix's size in *T. 0, or -1 with err. */
int hs_inspect_list(const char *path, hs_head_target **heads, int *n, int *T, char *err,
                    size_t errlen);

#endif
