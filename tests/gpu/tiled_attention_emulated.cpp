/* The tiled attention kernels of the CUDA backend (kernels/cuda/cuda_attention_tiled_kernels.cuh),
 * their very source, run on the CPU without a GPU: every CUDA thread of a block is a
 * std::thread, blocks run one after another, __syncthreads() is a barrier of the block and a
 * warp shuffle an exchange through a barrier of the warp's 32 threads. Shared memory starts as
 * NaN each block, so a read of anything not written shows up. Forward output, per-head
 * statistics and the backward (with and without a head mask) are compared with a
 * double-precision reference at every instantiated head-dim tile (32, 64, 128, 256), several
 * query/key tiles and padding rows; NMSE must stay below 1e-10. It checks the kernels' logic
 * (indexing, tiling, online softmax, synchronisation), not the GPU's arithmetic or speed:
 * tests/gpu/check.sh does that on a GPU. `make gpu-emulate` builds and runs it (exit 0 = pass).
 */
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>
extern "C" {
#include "ops.h"
}

/* ---- the CUDA built-ins the kernels use, for the host ---------------------------------- */
using std::min;
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct emu_idx {
    unsigned x, y, z;
};
static thread_local emu_idx threadIdx;
static emu_idx blockIdx;
static dim3 gridDim, blockDim;
static float emu_smem[1 << 16];
static std::barrier<> *emu_block_barrier;
static std::barrier<> *emu_warp_barrier[32];
static float emu_slots[32][32];
#define __global__
#define __device__
#define __forceinline__
#define __launch_bounds__(x)
#define __shared__ static
#define HS_DYNAMIC_SHARED(name) float *name = emu_smem
static inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
static inline float emu_shfl(float v, int src)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    emu_slots[warp][lane] = v;
    emu_warp_barrier[warp]->arrive_and_wait();
    float r = emu_slots[warp][src & 31];
    emu_warp_barrier[warp]->arrive_and_wait();
    return r;
}
static inline float __shfl_xor_sync(unsigned, float v, int off)
{
    return emu_shfl(v, (int)(threadIdx.x % 32) ^ off);
}
static inline float __shfl_sync(unsigned, float v, int src) { return emu_shfl(v, src); }

#define HS_CUDA_HOST_EMULATION
#include "cuda/cuda_attention_tiled_kernels.cuh"

/* ---- launching and checking ------------------------------------------------------------ */
/* Runs body as every thread of every block of grid, one block at a time. */
template <class F> static void launch(dim3 grid, unsigned threads, size_t smem_bytes, F body)
{
    if (smem_bytes > sizeof emu_smem) {
        printf("shared memory of %zu bytes above the emulator's %zu\n", smem_bytes,
               sizeof emu_smem);
        exit(1);
    }
    gridDim = grid;
    blockDim = dim3(threads);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = {x, y, z};
                for (size_t i = 0; i < sizeof emu_smem / 4; i++)
                    emu_smem[i] = NAN; /* unwritten shared memory poisons what reads it */
                std::barrier<> bb(threads);
                emu_block_barrier = &bb;
                std::vector<std::unique_ptr<std::barrier<>>> wb;
                for (unsigned w = 0; w < threads / 32; w++) {
                    wb.emplace_back(new std::barrier<>(32));
                    emu_warp_barrier[w] = wb.back().get();
                }
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < threads; t++)
                    ts.emplace_back([t, &body] { threadIdx = {t, 0, 0}; body(); });
                for (auto &th : ts) th.join();
            }
}

static double worst = 0;
static void cmp(const char *what, const std::vector<float> &a, const std::vector<double> &ref)
{
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < a.size(); i++) {
        double dd = a[i] - ref[i];
        if (std::isnan(a[i])) dd = 1e30;
        num += dd * dd; den += ref[i] * ref[i]; mx = std::max(mx, std::fabs(dd));
    }
    double n = den > 0 ? num / den : num;
    worst = std::max(worst, n);
    printf("  %-10s nmse %.3e  max abs %.3e %s\n", what, n, mx, n < 1e-10 ? "ok" : "FAIL");
}

/* One shape through the forward (with statistics), the backward's first pass and the dQ and
 * dK/dV kernels, against the reference computed here in double. */
template <int D>
static void run(int B, int T, int H, int d, bool masked)
{
    printf("B=%d T=%d H=%d d=%d (D=%d)%s\n", B, T, H, d, D, masked ? " mask" : "");
    std::mt19937 rng(T * 131 + d);
    std::uniform_real_distribution<float> u(-2, 2), u1(-1, 1);
    size_t nqkv = (size_t)B * T * 3 * H * d, nout = (size_t)B * T * H * d;
    std::vector<float> qkv(nqkv), dout(nout), slopes(H);
    for (auto &x : qkv) x = u(rng);
    for (auto &x : dout) x = u1(rng);
    /* BLOOM-like positive slopes: later keys score higher, so the running max moves tile
     * after tile and the rescaling is exercised */
    for (int h = 0; h < H; h++)
        slopes[h] = std::pow(2.0f, -(float)(h + 1));
    std::vector<uint8_t> mask(H);
    for (int h = 0; h < H; h++) mask[h] = h % 3 == 1;
    float alpha = (float)(1.0 / sqrt((double)d));
    // reference in double
    std::vector<double> ref_out(nout), ref_dqkv(nqkv, 0.0), ref_stats((size_t)B * H * 3, 0.0);
    size_t ld = (size_t)3 * H * d;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            auto Q = [&](int i, int k) { return (double)qkv[((size_t)b * T + i) * ld + h * 3 * d + k]; };
            auto K = [&](int i, int k) { return (double)qkv[((size_t)b * T + i) * ld + h * 3 * d + d + k]; };
            auto V = [&](int i, int k) { return (double)qkv[((size_t)b * T + i) * ld + h * 3 * d + 2 * d + k]; };
            auto dO = [&](int i, int k) { return (double)dout[((size_t)b * T + i) * H * d + h * d + k]; };
            std::vector<double> P((size_t)T * T, 0.0), dS((size_t)T * T, 0.0);
            for (int i = 0; i < T; i++) {
                double mx = -1e300;
                std::vector<double> s(i + 1);
                for (int j = 0; j <= i; j++) {
                    double dot = 0; for (int k = 0; k < d; k++) dot += Q(i, k) * K(j, k);
                    s[j] = alpha * dot + slopes[h] * (double)j; mx = std::max(mx, s[j]);
                }
                double sum = 0; for (int j = 0; j <= i; j++) sum += exp(s[j] - mx);
                double ent = 0, loc = 0;
                for (int j = 0; j <= i; j++) {
                    double p = exp(s[j] - mx) / sum; P[(size_t)i * T + j] = p;
                    if (p > 0) ent -= p * log(p);
                    if (j >= i - 2) loc += p;
                }
                ref_stats[((size_t)b * H + h) * 3 + 0] += P[(size_t)i * T] / T;
                ref_stats[((size_t)b * H + h) * 3 + 1] += ent / T;
                ref_stats[((size_t)b * H + h) * 3 + 2] += loc / T;
                for (int k = 0; k < d; k++) {
                    double o = 0; for (int j = 0; j <= i; j++) o += P[(size_t)i * T + j] * V(j, k);
                    ref_out[((size_t)b * T + i) * H * d + h * d + k] = o;
                }
                double dl = 0;
                std::vector<double> dp(i + 1);
                for (int j = 0; j <= i; j++) {
                    double x = 0; for (int k = 0; k < d; k++) x += dO(i, k) * V(j, k);
                    dp[j] = x; dl += x * P[(size_t)i * T + j];
                }
                for (int j = 0; j <= i; j++) dS[(size_t)i * T + j] = P[(size_t)i * T + j] * (dp[j] - dl);
            }
            if (masked && !mask[h]) continue;
            for (int i = 0; i < T; i++)
                for (int k = 0; k < d; k++) {
                    double dq = 0, dk = 0, dv = 0;
                    for (int j = 0; j < T; j++) {
                        dq += dS[(size_t)i * T + j] * K(j, k);
                        dk += dS[(size_t)j * T + i] * Q(j, k);
                        dv += P[(size_t)j * T + i] * dO(j, k);
                    }
                    double *row = &ref_dqkv[((size_t)b * T + i) * ld + h * 3 * d];
                    row[k] = alpha * dq; row[d + k] = alpha * dk; row[2 * d + k] = dv;
                }
        }
    // forward
    std::vector<float> out(nout, NAN), lse((size_t)B * H * T, NAN), delta((size_t)B * H * T, NAN),
        dqkv(nqkv, 0.0f);
    std::vector<double> row_stats((size_t)B * H * T * 3, NAN);
    dim3 grid((T + TILE - 1) / TILE, H, B);
    launch(grid, TILE_THREADS, forward_smem_floats<D>() * 4, [&] {
        tiled_forward_kernel<D, false>(out.data(), row_stats.data(), nullptr, nullptr, nullptr,
                                       qkv.data(), slopes.data(), nullptr, T, H, d, alpha);
    });
    std::vector<float> stats((size_t)B * H * 3, NAN);
    launch(dim3((unsigned)(B * H)), TILE_THREADS, 0, [&] {
        tiled_row_stats_mean_kernel(stats.data(), row_stats.data(), T);
    });
    cmp("out", out, ref_out);
    cmp("stats", stats, ref_stats);
    const uint8_t *hm = masked ? mask.data() : nullptr;
    launch(grid, TILE_THREADS, forward_smem_floats<D>() * 4, [&] {
        tiled_forward_kernel<D, true>(nullptr, nullptr, lse.data(), delta.data(), dout.data(),
                                      qkv.data(), slopes.data(), hm, T, H, d, alpha);
    });
    launch(grid, TILE_THREADS, backward_smem_floats<D>() * 4, [&] {
        tiled_backward_dq_kernel<D>(dqkv.data(), dout.data(), qkv.data(), slopes.data(), lse.data(),
                                    delta.data(), hm, T, H, d, alpha);
    });
    launch(grid, TILE_THREADS, backward_smem_floats<D>() * 4, [&] {
        tiled_backward_dkdv_kernel<D>(dqkv.data(), dout.data(), qkv.data(), slopes.data(),
                                      lse.data(), delta.data(), hm, T, H, d, alpha);
    });
    cmp("dqkv", dqkv, ref_dqkv);
}

int main()
{
    run<32>(2, 37, 3, 8, false);
    run<32>(1, 77, 3, 16, true);
    run<64>(1, 70, 2, 64, false);
    run<128>(1, 33, 2, 100, true);
    run<256>(1, 40, 1, 256, false);
    printf("worst nmse %.3e\n", worst);
    return worst < 1e-10 ? 0 : 1;
}
