/* CPU backend: the AdamW update, step by step as torch.optim.AdamW's single-tensor path
 * performs it in fp32 (decoupled weight decay first, exp_avg by lerp, exp_avg_sq, then the
 * bias-corrected step). Bias corrections bc1/bc2 come from the caller, who knows the step. */
#include "cpu_ops.h"

#include <math.h>

#define PARALLEL_MIN_ELEMENTS 32768

int hs_cpu_adamw(hs_backend_ctx *ctx, float *param, const float *grad, float *m, float *v,
                 size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float bc1, float bc2)
{
    if (!ctx)
        return -1;
    if (n == 0)
        return 0;
    if (!param || !grad || !m || !v)
        return hs_cpu_fail(ctx, "cpu adamw: %s is NULL",
                           !param ? "param" : !grad ? "grad" : !m ? "m" : "v");
    if (!(bc1 > 0.0f) || !(bc2 > 0.0f))
        return hs_cpu_fail(ctx, "cpu adamw: bias corrections bc1=%g bc2=%g must be positive",
                           (double)bc1, (double)bc2);

    float decay = 1.0f - lr * weight_decay;
    float m_weight = 1.0f - beta1;
    float v_weight = 1.0f - beta2;
    float step_size = lr / bc1;
    float bc2_sqrt = sqrtf(bc2);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        /* torch.lerp(m, g, w): m + w·(g − m) for w < 0.5, else g − (g − m)·(1 − w). */
        float diff = g - m[i];
        float mi = m_weight < 0.5f ? m[i] + m_weight * diff : g - diff * (1.0f - m_weight);
        float vi = v[i] * beta2 + (v_weight * g) * g; /* addcmul: self + value·t1·t2 */
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
    return 0;
}
