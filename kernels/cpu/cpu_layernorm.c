/* CPU backend: LayerNorm forward and backward as torch.nn.LayerNorm defines them (biased
 * variance, eps inside the square root; docs/model-families.md "LayerNorm"). Row statistics are accumulated in double
 * and handed to the backward pass as float mean/rstd, rows spread over OpenMP threads. */
#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>

#define PARALLEL_MIN_ELEMENTS 32768
/* Columns one thread reduces at a time for dw/db (a double accumulator pair in L1). */
#define PARAM_COLUMN_BLOCK 256

int hs_cpu_layernorm(hs_backend_ctx *ctx, float *out, float *mean, float *rstd, const float *in,
                     const float *w, const float *b, int N, int C, float eps)
{
    if (!ctx)
        return -1;
    if (N < 0 || C <= 0)
        return hs_cpu_fail(ctx, "cpu layernorm: bad shape N=%d C=%d (C must be positive)", N, C);
    if (N == 0)
        return 0;
    if (!out || !in || !w)
        return hs_cpu_fail(ctx, "cpu layernorm: %s is NULL", !out ? "out" : !in ? "in" : "weight");
    if (!(eps >= 0.0f))
        return hs_cpu_fail(ctx, "cpu layernorm: eps=%g must be >= 0", (double)eps);

#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PARALLEL_MIN_ELEMENTS)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double sum = 0.0;
        for (int c = 0; c < C; c++)
            sum += x[c];
        double mu = sum / C;
        double sq = 0.0;
        for (int c = 0; c < C; c++) {
            double dev = x[c] - mu;
            sq += dev * dev;
        }
        double var = sq / C; /* biased, as torch */
        float mu_f = (float)mu;
        float rs_f = (float)(1.0 / sqrt(var + (double)eps));
        if (mean)
            mean[n] = mu_f;
        if (rstd)
            rstd[n] = rs_f;
        if (b)
            for (int c = 0; c < C; c++)
                y[c] = (x[c] - mu_f) * rs_f * w[c] + b[c];
        else
            for (int c = 0; c < C; c++)
                y[c] = (x[c] - mu_f) * rs_f * w[c];
    }
    return 0;
}

int hs_cpu_layernorm_backward(hs_backend_ctx *ctx, float *din, float *dw, float *db,
                              const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *w, int N, int C)
{
    if (!ctx)
        return -1;
    if (N < 0 || C <= 0)
        return hs_cpu_fail(ctx, "cpu layernorm_backward: bad shape N=%d C=%d", N, C);
    if (N == 0)
        return 0;
    if (!din || !dout || !in || !mean || !rstd || !w)
        return hs_cpu_fail(ctx, "cpu layernorm_backward: %s is NULL",
                           !din    ? "din"
                           : !dout ? "dout"
                           : !in   ? "in"
                           : !mean ? "mean (from layernorm())"
                           : !rstd ? "rstd (from layernorm())"
                                   : "weight");

    /* din += rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dout·w and x̂ = (x − mean)·rstd. */
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PARALLEL_MIN_ELEMENTS)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float *dx = din + (size_t)n * C;
        float mu = mean[n], rs = rstd[n];
        double g_sum = 0.0, gx_sum = 0.0;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * w[c];
            g_sum += g;
            gx_sum += g * (double)((x[c] - mu) * rs);
        }
        float g_mean = (float)(g_sum / C);
        float gx_mean = (float)(gx_sum / C);
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mu) * rs;
            dx[c] += rs * (dy[c] * w[c] - g_mean - xhat * gx_mean);
        }
    }

    if (!dw && !db)
        return 0;
    /* Parameter gradients reduce over rows: split the columns instead, so no two threads
     * write the same element. */
    int blocks = (C + PARAM_COLUMN_BLOCK - 1) / PARAM_COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)C >= PARALLEL_MIN_ELEMENTS)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * PARAM_COLUMN_BLOCK;
        int width = C - c0 < PARAM_COLUMN_BLOCK ? C - c0 : PARAM_COLUMN_BLOCK;
        double w_acc[PARAM_COLUMN_BLOCK] = {0}, b_acc[PARAM_COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * C + c0;
            const float *dy = dout + (size_t)n * C + c0;
            float mu = mean[n], rs = rstd[n];
            for (int c = 0; c < width; c++) {
                w_acc[c] += (double)dy[c] * (double)((x[c] - mu) * rs);
                b_acc[c] += dy[c];
            }
        }
        for (int c = 0; c < width; c++) {
            if (dw)
                dw[c0 + c] += (float)w_acc[c];
            if (db)
                db[c0 + c] += (float)b_acc[c];
        }
    }
    return 0;
}
