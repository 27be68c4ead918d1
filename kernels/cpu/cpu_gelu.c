/* CPU backend: the GELU variants of ops.h and their backwards (docs/model-families.md "GELU").
 * HS_GELU_TANH is BLOOM's tanh form and custom backward, evaluated operation by operation in
 * the order transformers' bloom_gelu_forward / bloom_gelu_back evaluate them in fp32, so each
 * intermediate rounds where PyTorch's does. The build is ISO C (-std=c11), where GCC does not
 * contract a·b + c into an FMA, which keeps those roundings. tanh is the correctly rounded fp32
 * tanh of cpu_vecmath.h (vectorisable; glibc's tanhf is neither).
 * HS_GELU_ERF is the exact GELU (torch nn.GELU()), evaluated in double and rounded once, so
 * each result is within one rounding of the exact value. */
#include "cpu_ops.h"

#include "cpu_vecmath.h"

#include <math.h>

#define PARALLEL_MIN_ELEMENTS 32768

/* 0.79788456 ≈ sqrt(2/π), 0.044715 and 0.1070322243 = 3·0.79788456·0.044715, as float
 * scalars, which is how PyTorch applies a Python float to a float32 tensor. */
static const float GELU_K0 = 0.79788456f;
static const float GELU_K1 = 0.044715f;
static const float GELU_DK = 0.1070322243f;

static inline float bloom_gelu(float x)
{
    float t1 = x * 0.5f;
    float t2 = GELU_K0 * x;
    float t3 = (GELU_K1 * x) * x;
    float t4 = 1.0f + t3;
    float t5 = t2 * t4;
    float t6 = hs_cpu_tanhf(t5);
    return t1 * (1.0f + t6);
}

/* ff = 0.5·x·((1 − t²)·(0.79788456 + 0.1070322243·x²)) + 0.5·(1 + t), t as in the forward. */
static inline float bloom_gelu_derivative(float x)
{
    float t = hs_cpu_tanhf((GELU_K0 * x) * (1.0f + (GELU_K1 * x) * x));
    float half_x = 0.5f * x;
    float one_minus_t2 = 1.0f - t * t;
    float poly = GELU_K0 + (GELU_DK * x) * x;
    float left = half_x * (one_minus_t2 * poly);
    float right = 0.5f * (1.0f + t);
    return left + right;
}

/* Φ(x) = 0.5·(1 + erf(x/√2)) = 0.5·erfc(−x/√2); erfc keeps full relative precision in the
 * negative tail, where 1 + erf cancels. */
static inline double normal_cdf(double x)
{
    return 0.5 * erfc(-x * M_SQRT1_2);
}

/* x·Φ(x) */
static inline float erf_gelu(float x)
{
    double xd = x;
    return (float)(xd * normal_cdf(xd));
}

/* d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π) */
static inline float erf_gelu_derivative(float x)
{
    double xd = x;
    const double inv_sqrt_2pi = 0.39894228040143267794;
    return (float)(normal_cdf(xd) + xd * inv_sqrt_2pi * exp(-0.5 * xd * xd));
}

static int check_kind(hs_backend_ctx *ctx, const char *op, hs_gelu_kind kind)
{
    if (kind != HS_GELU_TANH && kind != HS_GELU_ERF)
        return hs_cpu_fail(ctx, "cpu %s: unknown GELU variant %d", op, (int)kind);
    return 0;
}

int hs_cpu_gelu(hs_backend_ctx *ctx, float *out, const float *in, size_t n, hs_gelu_kind kind)
{
    if (!ctx)
        return -1;
    if (check_kind(ctx, "gelu", kind) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (!out || !in)
        return hs_cpu_fail(ctx, "cpu gelu: %s is NULL", !out ? "out" : "in");
    if (kind == HS_GELU_TANH) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (size_t i = 0; i < n; i++)
            out[i] = bloom_gelu(in[i]);
    } else {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (size_t i = 0; i < n; i++)
            out[i] = erf_gelu(in[i]);
    }
    return 0;
}

int hs_cpu_gelu_backward(hs_backend_ctx *ctx, float *din, const float *in, const float *dout,
                         size_t n, hs_gelu_kind kind)
{
    if (!ctx)
        return -1;
    if (check_kind(ctx, "gelu_backward", kind) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (!din || !in || !dout)
        return hs_cpu_fail(ctx, "cpu gelu_backward: %s is NULL",
                           !din ? "din" : !in ? "in" : "dout");
    if (kind == HS_GELU_TANH) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (size_t i = 0; i < n; i++)
            din[i] = bloom_gelu_derivative(in[i]) * dout[i];
    } else {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (size_t i = 0; i < n; i++)
            din[i] = erf_gelu_derivative(in[i]) * dout[i];
    }
    return 0;
}
