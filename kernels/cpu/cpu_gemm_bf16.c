/* CPU backend: the bf16 GEMM (HS_PRECISION_BF16) through oneDNN's matmul primitive, and the
 * per-context cache of those primitives.
 *
 * C[M,N] = alpha·op(A)·op(B) + beta·C with cblas_sgemm's row-major arguments: both inputs are
 * first rounded to bf16 (round to nearest even, cpu_bf16.h) into dense scratch copies in
 * their stored orientation, the transposes are then only strides of oneDNN memory
 * descriptors; oneDNN multiplies with fp32 accumulation (AVX512-BF16 / AMX where the CPU has
 * them) and writes fp32 C with leading dimension ldc. alpha is the primitive's output scale,
 * beta a sum post-op (none when beta is 0, so C is not read and may hold NaN). The caller
 * (cpu_matmul.c) adds any bias into C beforehand. GEMMs of a few rows (decode steps) skip
 * oneDNN, which would first write a rounded copy of all of B: against a B stored [N,K] (the
 * linear layers and LM head) they run cpu_gemm_few_rows.c's vector kernel, which rounds B's
 * elements in registers as it streams them; other few-row shapes, or a CPU without AVX2, take
 * a plain loop that rounds B on the fly (gemm_few_rows).
 *
 * Primitive creation costs about a millisecond, so primitives are kept in a small LRU per
 * context (created by set_precision(BF16), freed at shutdown) keyed by everything that is
 * baked into them: M, N, K, the transposes, ldc, alpha and beta. Lookups are under a mutex
 * (the LM head calls from inside its OpenMP region); an entry in use by a thread is never
 * evicted. Executing inside an OpenMP parallel region, oneDNN (OpenMP runtime, as Debian
 * builds it) runs the primitive on the calling thread only, so the LM head's threads do not
 * oversubscribe the cores; each execution gets its own scratchpad (user scratchpad mode),
 * since concurrent executions sharing the library's scratchpad corrupted each other. */
#include "cpu_ops.h"

#include "cpu_bf16.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef HS_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* Distinct GEMM shapes of a model step: the four of a block forward, their backward forms,
 * the LM head's chunks. 32 keeps a training step's all without eviction. */
#define GEMM_CACHE_SLOTS 32
/* Below this many elements a conversion runs on one thread. */
#define CONVERT_PARALLEL_MIN 65536
/* GEMMs of at most this many rows (decode steps) skip oneDNN: see gemm_few_rows. Their op(A)
 * rows are rounded into a stack buffer of FEW_ROWS × FEW_ROWS_MAX_K floats (64 KiB); a longer
 * K takes the oneDNN path. Columns per block of accumulators: FEW_ROWS × 256 floats. */
#define FEW_ROWS 4
#define FEW_ROWS_MAX_K 4096
#define FEW_ROWS_COLUMN_BLOCK 256

typedef struct {
    int M, N, K, ldc;
    bool trans_a, trans_b;
    uint32_t alpha_bits, beta_bits;
} gemm_key;

typedef struct {
    gemm_key key;
    dnnl_primitive_t primitive; /* NULL: the slot is free */
    int users;                  /* threads executing it now (never evicted while > 0) */
    uint64_t last_use;          /* tick of the last lookup (LRU order) */
} gemm_entry;

struct hs_cpu_gemm_cache {
    pthread_mutex_t lock;
    dnnl_engine_t engine;
    uint64_t tick;
    gemm_entry slots[GEMM_CACHE_SLOTS];
};

/* Records a failure from any thread (the LM head calls from inside its parallel region,
 * and ctx->error is one buffer). */
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;

static int fail_dnnl(hs_backend_ctx *ctx, const char *what, dnnl_status_t status, int M, int N,
                     int K)
{
    pthread_mutex_lock(&error_lock);
    hs_cpu_fail(ctx, "cpu bf16 gemm (M=%d N=%d K=%d): oneDNN %s failed: %s", M, N, K, what,
                dnnl_status2str(status));
    pthread_mutex_unlock(&error_lock);
    return -1;
}

static int fail_alloc(hs_backend_ctx *ctx, size_t bytes, int M, int N, int K)
{
    pthread_mutex_lock(&error_lock);
    hs_cpu_fail(ctx,
                "cpu bf16 gemm (M=%d N=%d K=%d): cannot allocate %zu bytes of host memory for "
                "the bf16 copies of A and B",
                M, N, K, bytes);
    pthread_mutex_unlock(&error_lock);
    return -1;
}

static bool key_equal(const gemm_key *a, const gemm_key *b)
{
    return a->M == b->M && a->N == b->N && a->K == b->K && a->ldc == b->ldc &&
           a->trans_a == b->trans_a && a->trans_b == b->trans_b &&
           a->alpha_bits == b->alpha_bits && a->beta_bits == b->beta_bits;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The matmul primitive for key: bf16 src [M,K] and weights [K,N] dense in their stored
 * orientation (strides carry the transposes), fp32 dst with row stride ldc. */
static dnnl_status_t create_primitive(dnnl_engine_t engine, const gemm_key *k,
                                      dnnl_primitive_t *out)
{
    dnnl_dims_t a_dims = {k->M, k->K}, b_dims = {k->K, k->N}, c_dims = {k->M, k->N};
    /* stored A is [M,K] (strides K,1) or, transposed, [K,M] (element (m,k) at k·M + m) */
    dnnl_dims_t a_strides = {k->trans_a ? 1 : k->K, k->trans_a ? k->M : 1};
    dnnl_dims_t b_strides = {k->trans_b ? 1 : k->N, k->trans_b ? k->K : 1};
    dnnl_dims_t c_strides = {k->ldc, 1};
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_matmul_desc_t desc;
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_bf16, a_strides)) ||
        (st = dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_bf16, b_strides)) ||
        (st = dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides)) ||
        (st = dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md)))
        return st;

    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    float alpha, beta;
    memcpy(&alpha, &k->alpha_bits, sizeof alpha);
    memcpy(&beta, &k->beta_bits, sizeof beta);
    if ((st = dnnl_primitive_attr_create(&attr)))
        return st;
    /* each execution brings its own scratchpad: the library's shared one is not safe when the
     * LM head's threads run primitives at the same time (their results differed run to run) */
    if ((st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)))
        goto done;
    if (alpha != 1.0f && (st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha)))
        goto done;
    if (beta != 0.0f) {
        if ((st = dnnl_post_ops_create(&post_ops)) ||
            (st = dnnl_post_ops_append_sum(post_ops, beta)) ||
            (st = dnnl_primitive_attr_set_post_ops(attr, post_ops)))
            goto done;
    }
    if ((st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL)))
        goto done;
    st = dnnl_primitive_create(out, pd);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (post_ops)
        dnnl_post_ops_destroy(post_ops);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

int hs_cpu_gemm_cache_create(hs_backend_ctx *ctx)
{
    if (ctx->gemm_cache)
        return 0;
    hs_cpu_gemm_cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return hs_cpu_fail(ctx, "cpu set_precision bf16: cannot allocate the GEMM primitive "
                                "cache (%zu bytes)", sizeof *cache);
    dnnl_status_t st = dnnl_engine_create(&cache->engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        free(cache);
        return hs_cpu_fail(ctx, "cpu set_precision bf16: oneDNN engine creation failed: %s",
                           dnnl_status2str(st));
    }
    if (pthread_mutex_init(&cache->lock, NULL) != 0) {
        dnnl_engine_destroy(cache->engine);
        free(cache);
        return hs_cpu_fail(ctx, "cpu set_precision bf16: cannot initialise the GEMM primitive "
                                "cache's mutex");
    }
    ctx->gemm_cache = cache;
    return 0;
}

/* The primitive for key with its use counted until release(): cached (*entry its slot), or,
 * when every slot is in use by other threads, a fresh one that release() destroys (*entry
 * NULL). */
static dnnl_status_t acquire(hs_cpu_gemm_cache *cache, const gemm_key *key,
                             dnnl_primitive_t *prim, gemm_entry **entry)
{
    pthread_mutex_lock(&cache->lock);
    cache->tick++;
    gemm_entry *victim = NULL;
    for (int i = 0; i < GEMM_CACHE_SLOTS; i++) {
        gemm_entry *e = &cache->slots[i];
        if (e->primitive && key_equal(&e->key, key)) {
            e->users++;
            e->last_use = cache->tick;
            *prim = e->primitive;
            *entry = e;
            pthread_mutex_unlock(&cache->lock);
            return dnnl_success;
        }
        if (e->users == 0 && (!victim || (victim->primitive && (!e->primitive ||
                                                                e->last_use < victim->last_use))))
            victim = e;
    }
    /* created under the lock: threads asking for the same new shape wait for one creation */
    dnnl_status_t st = create_primitive(cache->engine, key, prim);
    if (st == dnnl_success && victim) {
        if (victim->primitive)
            dnnl_primitive_destroy(victim->primitive);
        victim->key = *key;
        victim->primitive = *prim;
        victim->users = 1;
        victim->last_use = cache->tick;
    }
    *entry = st == dnnl_success ? victim : NULL;
    pthread_mutex_unlock(&cache->lock);
    return st;
}

static void release(hs_cpu_gemm_cache *cache, dnnl_primitive_t prim, gemm_entry *entry)
{
    if (!entry) { /* uncached: every slot was busy */
        dnnl_primitive_destroy(prim);
        return;
    }
    pthread_mutex_lock(&cache->lock);
    entry->users--;
    pthread_mutex_unlock(&cache->lock);
}

/* dst[r·cols + c] = bf16(src[r·ld + c]): a dense bf16 copy of a stored rows × cols matrix. */
static void convert_matrix(uint16_t *dst, const float *src, int rows, int cols, int ld,
                           bool parallel)
{
#pragma omp parallel for schedule(static) if (parallel)
    for (int r = 0; r < rows; r++) {
        const float *in = src + (size_t)r * ld;
        uint16_t *row = dst + (size_t)r * cols;
#pragma omp simd
        for (int c = 0; c < cols; c++)
            row[c] = hs_cpu_bf16_from_f32(in[c]);
    }
}

/* x rounded to bf16 and widened back: the value oneDNN multiplies. */
static inline float bf16_round(float x)
{
    return hs_cpu_f32_from_bf16(hs_cpu_bf16_from_f32(x));
}

/* C row i (j0 .. j0+width−1) = alpha·acc + beta·C (C not read when beta is 0). */
static void store_row(float *c_row, const float *acc, int width, float alpha, float beta)
{
    for (int j = 0; j < width; j++)
        c_row[j] = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * c_row[j];
}

/* The same GEMM for at most FEW_ROWS rows (decode steps): op(A)'s rows rounded into a, then
 * one pass over B that rounds each element as it is read and accumulates in fp32 — where the
 * oneDNN path would write a rounded copy of the whole of B first (for the LM head, the
 * vocabulary × hidden table at every generated token). Columns are shared out in blocks
 * among the OpenMP threads unless called inside a parallel region. */
static void gemm_few_rows(bool trans_b, int M, int N, int K, float alpha, const float *a,
                          const float *b, int ldb, float beta, float *c, int ldc, bool parallel)
{
    int blocks = (N + FEW_ROWS_COLUMN_BLOCK - 1) / FEW_ROWS_COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if (parallel)
    for (int blk = 0; blk < blocks; blk++) {
        int j0 = blk * FEW_ROWS_COLUMN_BLOCK;
        int width = N - j0 < FEW_ROWS_COLUMN_BLOCK ? N - j0 : FEW_ROWS_COLUMN_BLOCK;
        float acc[FEW_ROWS][FEW_ROWS_COLUMN_BLOCK];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < width; j++)
                acc[i][j] = 0.0f;
        if (trans_b) { /* B stored [N,K]: dot products of contiguous rows, four columns at a
                        * time so four independent accumulators hide the FMA latency */
            int j = 0;
            for (; j + 4 <= width; j += 4) {
                const float *b0 = b + (size_t)(j0 + j) * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb,
                            *b3 = b2 + ldb;
                for (int i = 0; i < M; i++) {
                    const float *a_row = a + (size_t)i * K;
                    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                    for (int k = 0; k < K; k++) {
                        s0 += a_row[k] * bf16_round(b0[k]);
                        s1 += a_row[k] * bf16_round(b1[k]);
                        s2 += a_row[k] * bf16_round(b2[k]);
                        s3 += a_row[k] * bf16_round(b3[k]);
                    }
                    acc[i][j] = s0, acc[i][j + 1] = s1, acc[i][j + 2] = s2, acc[i][j + 3] = s3;
                }
            }
            for (; j < width; j++) {
                const float *b_row = b + (size_t)(j0 + j) * ldb;
                for (int i = 0; i < M; i++) {
                    const float *a_row = a + (size_t)i * K;
                    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                    for (int k = 0; k < K; k++)
                        sum += a_row[k] * bf16_round(b_row[k]);
                    acc[i][j] = sum;
                }
            }
        } else { /* B stored [K,N]: rows of B scaled into the accumulators */
            for (int k = 0; k < K; k++) {
                const float *b_row = b + (size_t)k * ldb + j0;
                for (int i = 0; i < M; i++) {
                    float a_ik = a[(size_t)i * K + k];
#pragma omp simd
                    for (int j = 0; j < width; j++)
                        acc[i][j] += a_ik * bf16_round(b_row[j]);
                }
            }
        }
        for (int i = 0; i < M; i++)
            store_row(c + (size_t)i * ldc + j0, acc[i], width, alpha, beta);
    }
}

/* B stored [N,K] and at most HS_CPU_FEW_ROWS_MAX rows (every linear layer and the LM head of
 * a decode step): op(A) rounded into one buffer, then cpu_gemm_few_rows.c streams B once,
 * rounding its elements in registers, over one column panel per thread when `parallel`.
 * Returns 1 when done, 0 when this CPU has no vector variant (nothing done), -1 on failure. */
static int gemm_few_rows_vector(hs_backend_ctx *ctx, bool trans_a, int M, int N, int K,
                                float alpha, const float *a, int lda, const float *b, int ldb,
                                float beta, float *c, int ldc, bool parallel)
{
    if (!hs_cpu_few_rows_isa_available(HS_CPU_FEW_ROWS_AVX512) &&
        !hs_cpu_few_rows_isa_available(HS_CPU_FEW_ROWS_AVX2))
        return 0;
    size_t bytes = (size_t)M * K * sizeof(float);
    float *a_rounded = malloc(bytes);
    if (!a_rounded)
        return fail_alloc(ctx, bytes, M, N, K);
    for (int i = 0; i < M; i++) /* op(A) row i, rounded, dense */
        for (int k = 0; k < K; k++)
            a_rounded[(size_t)i * K + k] =
                bf16_round(trans_a ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k]);
    int parts = parallel && (size_t)N * K >= CONVERT_PARALLEL_MIN && ctx->threads > 1
                    ? (ctx->threads < N ? ctx->threads : N)
                    : 1;
    int done = 0;
#pragma omp parallel for num_threads(parts) schedule(static, 1) reduction(+ : done) if (parts > 1)
    for (int part = 0; part < parts; part++) {
        int n0 = (int)((long long)N * part / parts), n1 = (int)((long long)N * (part + 1) / parts);
        done += n1 == n0 || hs_cpu_gemm_few_rows_bf16(M, n1 - n0, K, alpha, a_rounded, K,
                                                      b + (size_t)n0 * ldb, ldb, beta, c + n0,
                                                      ldc);
    }
    free(a_rounded);
    if (done != parts) /* cannot happen: the variant was there and M, N, K are in range */
        return fail_dnnl(ctx, "few-rows kernel", dnnl_runtime_error, M, N, K);
    return 1;
}

int hs_cpu_gemm_bf16(hs_backend_ctx *ctx, bool trans_a, bool trans_b, int M, int N, int K,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc)
{
    hs_cpu_gemm_cache *cache = ctx->gemm_cache;
    if (!cache) /* set_precision(BF16) creates it; reaching here without it is a bug */
        return fail_dnnl(ctx, "use before set_precision", dnnl_invalid_arguments, M, N, K);
    bool in_parallel = false;
#ifdef _OPENMP
    in_parallel = omp_in_parallel();
#endif
    if (trans_b && M <= HS_CPU_FEW_ROWS_MAX) {
        int done = gemm_few_rows_vector(ctx, trans_a, M, N, K, alpha, a, lda, b, ldb, beta, c,
                                        ldc, !in_parallel);
        if (done != 0)
            return done < 0 ? -1 : 0;
    }
    if (M <= FEW_ROWS && K <= FEW_ROWS_MAX_K) {
        float a_rounded[FEW_ROWS * FEW_ROWS_MAX_K];
        for (int i = 0; i < M; i++) /* op(A) row i, rounded, dense */
            for (int k = 0; k < K; k++)
                a_rounded[i * K + k] =
                    bf16_round(trans_a ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k]);
        gemm_few_rows(trans_b, M, N, K, alpha, a_rounded, b, ldb, beta, c, ldc,
                      !in_parallel && (size_t)N * K >= CONVERT_PARALLEL_MIN);
        return 0;
    }
    size_t a_count = (size_t)M * K, b_count = (size_t)K * N;
    size_t bytes = (a_count + b_count) * sizeof(uint16_t);
    uint16_t *a16 = malloc(bytes ? bytes : 1);
    if (!a16)
        return fail_alloc(ctx, bytes, M, N, K);
    uint16_t *b16 = a16 + a_count;
    convert_matrix(a16, a, trans_a ? K : M, trans_a ? M : K, lda,
                   !in_parallel && a_count >= CONVERT_PARALLEL_MIN);
    convert_matrix(b16, b, trans_b ? N : K, trans_b ? K : N, ldb,
                   !in_parallel && b_count >= CONVERT_PARALLEL_MIN);

    gemm_key key = {M, N, K, ldc, trans_a, trans_b, float_bits(alpha), float_bits(beta)};
    dnnl_primitive_t prim = NULL;
    gemm_entry *entry = NULL;
    dnnl_status_t st = acquire(cache, &key, &prim, &entry);
    if (st != dnnl_success) {
        free(a16);
        return fail_dnnl(ctx, "matmul primitive creation", st, M, N, K);
    }

    const char *stage = "memory creation";
    dnnl_memory_t mem_a = NULL, mem_b = NULL, mem_c = NULL, mem_scratch = NULL;
    dnnl_stream_t stream = NULL;
    void *scratch = NULL;
    size_t scratch_bytes = 0;
    const dnnl_memory_desc_t *md_a = NULL, *md_b = NULL, *md_c = NULL, *md_scratch = NULL;
    const_dnnl_primitive_desc_t pd = NULL;
    st = dnnl_primitive_get_primitive_desc(prim, &pd);
    if (st == dnnl_success) {
        md_a = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        md_b = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        md_c = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        md_scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (!md_a || !md_b || !md_c)
            st = dnnl_runtime_error;
        scratch_bytes = md_scratch ? dnnl_memory_desc_get_size(md_scratch) : 0;
    }
    if (st == dnnl_success && scratch_bytes > 0) {
        /* 64-byte aligned, the alignment oneDNN's own buffers have */
        scratch = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64);
        if (!scratch) {
            release(cache, prim, entry);
            free(a16);
            return fail_alloc(ctx, scratch_bytes, M, N, K);
        }
    }
    if (st == dnnl_success && !(st = dnnl_memory_create(&mem_a, md_a, cache->engine, a16)) &&
        !(st = dnnl_memory_create(&mem_b, md_b, cache->engine, b16)) &&
        !(st = dnnl_memory_create(&mem_c, md_c, cache->engine, c)) &&
        (!scratch ||
         !(st = dnnl_memory_create(&mem_scratch, md_scratch, cache->engine, scratch)))) {
        stage = "stream creation";
        if (!(st = dnnl_stream_create(&stream, cache->engine, dnnl_stream_default_flags))) {
            dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, mem_a},
                                      {DNNL_ARG_WEIGHTS, mem_b},
                                      {DNNL_ARG_DST, mem_c},
                                      {DNNL_ARG_SCRATCHPAD, mem_scratch}};
            stage = "matmul execution";
            if (!(st = dnnl_primitive_execute(prim, stream, scratch ? 4 : 3, args)))
                st = dnnl_stream_wait(stream);
        }
    }
    if (stream)
        dnnl_stream_destroy(stream);
    if (mem_a)
        dnnl_memory_destroy(mem_a);
    if (mem_b)
        dnnl_memory_destroy(mem_b);
    if (mem_c)
        dnnl_memory_destroy(mem_c);
    if (mem_scratch)
        dnnl_memory_destroy(mem_scratch);
    release(cache, prim, entry);
    free(scratch);
    free(a16);
    if (st != dnnl_success)
        return fail_dnnl(ctx, stage, st, M, N, K);
    return 0;
}

void hs_cpu_gemm_cache_free(hs_cpu_gemm_cache *cache)
{
    if (!cache)
        return;
    for (int i = 0; i < GEMM_CACHE_SLOTS; i++)
        if (cache->slots[i].primitive)
            dnnl_primitive_destroy(cache->slots[i].primitive);
    dnnl_engine_destroy(cache->engine);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

#else /* built without oneDNN: caps.precisions lacks BF16, set_precision refuses it */

int hs_cpu_gemm_bf16(hs_backend_ctx *ctx, bool trans_a, bool trans_b, int M, int N, int K,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc)
{
    return hs_cpu_fail(ctx, "cpu bf16 gemm: this build has no oneDNN (libdnnl-dev)");
}

int hs_cpu_gemm_cache_create(hs_backend_ctx *ctx)
{
    return hs_cpu_fail(ctx, "cpu set_precision bf16: this build has no oneDNN (libdnnl-dev)");
}

void hs_cpu_gemm_cache_free(hs_cpu_gemm_cache *cache)
{
    (void)cache;
}

#endif
