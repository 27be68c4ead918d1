/* CPU backend: fp32 GEMMs of a few rows against a B stored transposed,
 *     C[M,N] = alpha·A[M,K]·B[N,K]ᵀ + beta·C   for 1 ≤ M ≤ HS_CPU_FEW_ROWS_MAX,
 * the shape of every linear layer and of the tied LM head in a decode step (a weight matrix is
 * stored [out, in]). OpenBLAS's sgemm packs B into its panel layout on every call; with a few
 * rows of A that copy is most of the work: a batch-8 decode step at BLOOM-560m shape spent 46%
 * of its time in sgemm_incopy against 20% in the multiply kernel. Here B is read once, straight
 * from memory into registers: each block of a few rows of B is dotted with every row of A,
 * and A (a few KiB per row) stays in L1. That makes the GEMM run at the speed memory streams B,
 * which is the bound of a decode step. Written by hand: OpenBLAS's sgemm packs B on every call
 * and its sgemv takes one row; oneDNN's fp32 matmul was not measured for these shapes.
 *
 * Two variants, AVX-512F (16 lanes, up to 8 rows of A × 3 rows of B in 24 of its 32
 * registers; at 8 rows 10% faster than 4 × 4) and AVX2+FMA (8 lanes, 2 × 4 in 8 of its 16),
 * each compiled for its target by function attribute, chosen once by CPUID; on a CPU with
 * neither, hs_cpu_gemm_few_rows returns false and the caller takes the OpenBLAS path. Each C
 * element is the sum of its K products in lanes (lane l holds k ≡ l mod lanes), then the lanes
 * added; alpha scales that sum and beta·C is added after, with C not read when beta is 0 (it
 * may hold NaN). Single-threaded: cpu_matmul.c, the LM head and cpu_gemm_bf16.c cut the
 * columns among threads before calling.
 *
 * The bf16 precision uses the same kernels with a compile-time flag that rounds each vector of
 * B to bf16 in registers after loading it (integer adds and masks; A comes rounded), so a
 * bf16 decode step also reads its weights once instead of writing a rounded copy first. */
#include "cpu_ops.h"

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_VARIANTS 1
#endif

#ifdef HAVE_X86_VARIANTS

/* C[m, n0..n0+nb) from the block's sums (sum[i][j] for A row m0+i, B row n0+j). */
static void store_block(float *c, int ldc, int m0, int mg, int n0, int nb, const float *sum,
                        int sum_cols, float alpha, float beta)
{
    for (int i = 0; i < mg; i++) {
        float *row = c + (size_t)(m0 + i) * ldc + n0;
        const float *s = sum + (size_t)i * sum_cols;
        for (int j = 0; j < nb; j++)
            row[j] = beta == 0.0f ? alpha * s[j] : alpha * s[j] + beta * row[j];
    }
}

/* ---- AVX-512F: 16 lanes, blocks of up to 8 A rows × 3 B rows --------------------------- */

#define AVX512_A_ROWS 8
#define AVX512_B_ROWS 3

/* Each lane rounded to bf16 and widened back, as hs_cpu_bf16_from_f32 rounds: nearest, ties
 * to even; a NaN keeps its sign and payload's top bits with the quiet bit set. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 round_bf16_avx512(__m512 x)
{
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    __m512i u = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    __m512i quiet = _mm512_or_si512(u, _mm512_set1_epi32(0x00400000));
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), quiet);
    return _mm512_castsi512_ps(_mm512_and_si512(r, high));
}

/* The dot products of A rows ap[0..MG) with B rows bp[0..AVX512_B_ROWS), into sum; with ROUND,
 * each element of B is rounded to bf16 as it is loaded. MG and ROUND are constants at each
 * call site, so the accumulators stay in registers and the fp32 path has no rounding. */
__attribute__((target("avx512f"), always_inline)) static inline void
block_avx512(const int MG, const bool ROUND, const float *const ap[], const float *const bp[],
             int K, float sum[][AVX512_B_ROWS])
{
    __m512 acc[AVX512_A_ROWS][AVX512_B_ROWS];
    for (int i = 0; i < MG; i++)
        for (int j = 0; j < AVX512_B_ROWS; j++)
            acc[i][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 bv[AVX512_B_ROWS];
        for (int j = 0; j < AVX512_B_ROWS; j++) {
            bv[j] = _mm512_loadu_ps(bp[j] + k);
            if (ROUND)
                bv[j] = round_bf16_avx512(bv[j]);
        }
        for (int i = 0; i < MG; i++) {
            __m512 av = _mm512_loadu_ps(ap[i] + k);
            for (int j = 0; j < AVX512_B_ROWS; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (k < K) { /* the last K mod 16 columns, masked: nothing past the row is read */
        __mmask16 mask = (__mmask16)((1u << (K - k)) - 1u);
        __m512 bv[AVX512_B_ROWS];
        for (int j = 0; j < AVX512_B_ROWS; j++) {
            bv[j] = _mm512_maskz_loadu_ps(mask, bp[j] + k);
            if (ROUND)
                bv[j] = round_bf16_avx512(bv[j]);
        }
        for (int i = 0; i < MG; i++) {
            __m512 av = _mm512_maskz_loadu_ps(mask, ap[i] + k);
            for (int j = 0; j < AVX512_B_ROWS; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MG; i++)
        for (int j = 0; j < AVX512_B_ROWS; j++)
            sum[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}

__attribute__((target("avx512f"))) static void
few_rows_avx512(bool round_b, int M, int N, int K, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int n0 = 0; n0 < N; n0 += AVX512_B_ROWS) {
        int nb = N - n0 < AVX512_B_ROWS ? N - n0 : AVX512_B_ROWS;
        /* a short last block repeats its last row (its sums are not stored) */
        const float *bp[AVX512_B_ROWS];
        for (int j = 0; j < AVX512_B_ROWS; j++)
            bp[j] = b + (size_t)(n0 + (j < nb ? j : nb - 1)) * ldb;
        for (int m0 = 0; m0 < M; m0 += AVX512_A_ROWS) {
            int mg = M - m0 < AVX512_A_ROWS ? M - m0 : AVX512_A_ROWS;
            const float *ap[AVX512_A_ROWS];
            for (int i = 0; i < AVX512_A_ROWS; i++)
                ap[i] = a + (size_t)(m0 + (i < mg ? i : mg - 1)) * lda;
            float sum[AVX512_A_ROWS][AVX512_B_ROWS];
#define BLOCK_AVX512(rows)                                                                         \
    (round_b ? block_avx512(rows, true, ap, bp, K, sum) : block_avx512(rows, false, ap, bp, K, sum))
            switch (mg) {
            case 1: BLOCK_AVX512(1); break;
            case 2: BLOCK_AVX512(2); break;
            case 3: BLOCK_AVX512(3); break;
            case 4: BLOCK_AVX512(4); break;
            case 5: BLOCK_AVX512(5); break;
            case 6: BLOCK_AVX512(6); break;
            case 7: BLOCK_AVX512(7); break;
            default: BLOCK_AVX512(8); break;
            }
#undef BLOCK_AVX512
            store_block(c, ldc, m0, mg, n0, nb, &sum[0][0], AVX512_B_ROWS, alpha, beta);
        }
    }
}

/* ---- AVX2 + FMA: 8 lanes, blocks of up to 2 A rows × 4 B rows ---------------------------- */

#define AVX2_A_ROWS 2
#define AVX2_B_ROWS 4 /* four output columns share each load of a row of A */

__attribute__((target("avx2,fma"), always_inline)) static inline float hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* round_bf16_avx512's rounding, 8 lanes. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 round_bf16_avx2(__m256 x)
{
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    __m256i u = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    __m256i quiet = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    r = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(quiet), nan));
    return _mm256_castsi256_ps(_mm256_and_si256(r, high));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
block_avx2(const int MG, const bool ROUND, const float *const ap[], const float *const bp[],
           int K, float sum[][AVX2_B_ROWS])
{
    __m256 acc[AVX2_A_ROWS][AVX2_B_ROWS];
    for (int i = 0; i < MG; i++)
        for (int j = 0; j < AVX2_B_ROWS; j++)
            acc[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 bv[AVX2_B_ROWS];
        for (int j = 0; j < AVX2_B_ROWS; j++) {
            bv[j] = _mm256_loadu_ps(bp[j] + k);
            if (ROUND)
                bv[j] = round_bf16_avx2(bv[j]);
        }
        for (int i = 0; i < MG; i++) {
            __m256 av = _mm256_loadu_ps(ap[i] + k);
            for (int j = 0; j < AVX2_B_ROWS; j++)
                acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (k < K) { /* the last K mod 8 columns: lanes below the count load, the rest read 0 */
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(K - k), lane);
        __m256 bv[AVX2_B_ROWS];
        for (int j = 0; j < AVX2_B_ROWS; j++) {
            bv[j] = _mm256_maskload_ps(bp[j] + k, mask);
            if (ROUND)
                bv[j] = round_bf16_avx2(bv[j]);
        }
        for (int i = 0; i < MG; i++) {
            __m256 av = _mm256_maskload_ps(ap[i] + k, mask);
            for (int j = 0; j < AVX2_B_ROWS; j++)
                acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MG; i++)
        for (int j = 0; j < AVX2_B_ROWS; j++)
            sum[i][j] = hsum_avx2(acc[i][j]);
}

__attribute__((target("avx2,fma"))) static void
few_rows_avx2(bool round_b, int M, int N, int K, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int n0 = 0; n0 < N; n0 += AVX2_B_ROWS) {
        int nb = N - n0 < AVX2_B_ROWS ? N - n0 : AVX2_B_ROWS;
        const float *bp[AVX2_B_ROWS];
        for (int j = 0; j < AVX2_B_ROWS; j++)
            bp[j] = b + (size_t)(n0 + (j < nb ? j : nb - 1)) * ldb;
        for (int m0 = 0; m0 < M; m0 += AVX2_A_ROWS) {
            int mg = M - m0 < AVX2_A_ROWS ? M - m0 : AVX2_A_ROWS;
            const float *ap[AVX2_A_ROWS];
            for (int i = 0; i < AVX2_A_ROWS; i++)
                ap[i] = a + (size_t)(m0 + (i < mg ? i : mg - 1)) * lda;
            float sum[AVX2_A_ROWS][AVX2_B_ROWS];
            if (mg == 1)
                round_b ? block_avx2(1, true, ap, bp, K, sum) : block_avx2(1, false, ap, bp, K, sum);
            else
                round_b ? block_avx2(2, true, ap, bp, K, sum) : block_avx2(2, false, ap, bp, K, sum);
            store_block(c, ldc, m0, mg, n0, nb, &sum[0][0], AVX2_B_ROWS, alpha, beta);
        }
    }
}

#endif /* HAVE_X86_VARIANTS */

bool hs_cpu_few_rows_isa_available(hs_cpu_few_rows_isa isa)
{
#ifdef HAVE_X86_VARIANTS
    switch (isa) {
    case HS_CPU_FEW_ROWS_AVX512:
        return __builtin_cpu_supports("avx512f");
    case HS_CPU_FEW_ROWS_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
        return false;
    }
#else
    (void)isa;
    return false;
#endif
}

/* The widest variant this CPU runs, looked up once (CPUID does not change). */
static hs_cpu_few_rows_isa best_isa(void)
{
    static int cached = -1; /* racing first calls store the same value */
    int isa = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = hs_cpu_few_rows_isa_available(HS_CPU_FEW_ROWS_AVX512) ? HS_CPU_FEW_ROWS_AVX512
              : hs_cpu_few_rows_isa_available(HS_CPU_FEW_ROWS_AVX2) ? HS_CPU_FEW_ROWS_AVX2
                                                                     : HS_CPU_FEW_ROWS_NONE;
        __atomic_store_n(&cached, isa, __ATOMIC_RELAXED);
    }
    return (hs_cpu_few_rows_isa)isa;
}

/* The variant `isa` on the whole GEMM; false when it cannot run here or M is out of range. */
static bool run_variant(hs_cpu_few_rows_isa isa, bool round_b, int M, int N, int K, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc)
{
    if (M < 1 || M > HS_CPU_FEW_ROWS_MAX || N < 1 || K < 1 || !hs_cpu_few_rows_isa_available(isa))
        return false;
#ifdef HAVE_X86_VARIANTS
    if (isa == HS_CPU_FEW_ROWS_AVX512) {
        few_rows_avx512(round_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return true;
    }
    if (isa == HS_CPU_FEW_ROWS_AVX2) {
        few_rows_avx2(round_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return true;
    }
#else
    (void)round_b, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c;
    (void)ldc;
#endif
    return false;
}

bool hs_cpu_gemm_few_rows_with(hs_cpu_few_rows_isa isa, bool round_b_bf16, int M, int N, int K,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc)
{
    return run_variant(isa, round_b_bf16, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool hs_cpu_gemm_few_rows(int M, int N, int K, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc)
{
    return run_variant(best_isa(), false, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool hs_cpu_gemm_few_rows_bf16(int M, int N, int K, float alpha, const float *a_rounded, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc)
{
    return run_variant(best_isa(), true, M, N, K, alpha, a_rounded, lda, b, ldb, beta, c, ldc);
}
