/* CPU backend: the memory-bound ops with no numerical subtlety — embedding lookup (rows widened
 * from the table's dtype), elementwise
 * add and scale, and the double-accumulated sum of squares used for gradient norms. */
#include "cpu_ops.h"

#include <string.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PARALLEL_MIN_ELEMENTS 32768

int hs_cpu_embedding(hs_backend_ctx *ctx, float *out, const int32_t *ids, hs_table table,
                     int N, int C)
{
    if (!ctx)
        return -1;
    if (N < 0 || C < 0)
        return hs_cpu_fail(ctx, "cpu embedding: negative shape N=%d C=%d", N, C);
    if (N == 0 || C == 0)
        return 0;
    if (!out || !ids || !table.data)
        return hs_cpu_fail(ctx, "cpu embedding: %s is NULL",
                           !out ? "out" : !ids ? "ids" : "table");
    if (!hs_cpu_table_dtype_valid(table.dtype))
        return hs_cpu_fail(ctx, "cpu embedding: unknown table dtype %d", (int)table.dtype);
    /* The op table passes no vocabulary size, so only negative ids can be rejected here. */
    for (int n = 0; n < N; n++)
        if (ids[n] < 0)
            return hs_cpu_fail(ctx, "cpu embedding: token id %d at row %d is negative", ids[n], n);
    const size_t row_bytes = (size_t)C * hs_cpu_table_elem_bytes(table.dtype);
    for (int n = 0; n < N; n++)
        hs_cpu_widen_serial(out + (size_t)n * C,
                            (const unsigned char *)table.data + (size_t)ids[n] * row_bytes,
                            table.dtype, (size_t)C);
    return 0;
}

int hs_cpu_add(hs_backend_ctx *ctx, float *out, const float *a, const float *b, size_t n)
{
    if (!ctx)
        return -1;
    if (n == 0)
        return 0;
    if (!out || !a || !b)
        return hs_cpu_fail(ctx, "cpu add: %s is NULL", !out ? "out" : !a ? "a" : "b");
    /* out may alias a or b: each element is read before it is written. */
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
    return 0;
}

int hs_cpu_sum_squares(hs_backend_ctx *ctx, double *host_out, const float *x, size_t n)
{
    if (!ctx)
        return -1;
    if (!host_out)
        return hs_cpu_fail(ctx, "cpu sum_squares: host_out is NULL");
    if (n > 0 && !x)
        return hs_cpu_fail(ctx, "cpu sum_squares: x is NULL for %zu elements", n);
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (n >= PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < n; i++)
        total += (double)x[i] * (double)x[i];
    *host_out = total;
    return 0;
}

int hs_cpu_scale(hs_backend_ctx *ctx, float *x, float s, size_t n)
{
    if (!ctx)
        return -1;
    if (n == 0)
        return 0;
    if (!x)
        return hs_cpu_fail(ctx, "cpu scale: x is NULL for %zu elements", n);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
    return 0;
}
