/* Private to the CPU backend (kernels/cpu/): the context every op receives, the helpers that
 * record why an op failed, and the entry points that cpu_backend.c gathers into the const
 * hs_cpu_backend table. Nothing outside kernels/cpu/ includes this header; the engine sees only
 * kernels/ops.h. */
#ifndef HS_CPU_OPS_H
#define HS_CPU_OPS_H
#include "ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The calling thread's index inside an OpenMP parallel region (0 outside one or without
 * OpenMP): which per-thread scratch slice it owns. */
static inline int hs_cpu_thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* What lm_head_nll() with lse keeps for the lm_head_nll_backward() of the same training step
 * (cpu_lm_head.c); owned by the context. */
typedef struct hs_cpu_lm_head_memo hs_cpu_lm_head_memo;
void hs_cpu_lm_head_memo_free(hs_cpu_lm_head_memo *memo);

/* The oneDNN matmul primitives of the bf16 GEMMs, cached by shape (cpu_gemm_bf16.c); owned by
 * the context, created by set_precision(BF16). */
typedef struct hs_cpu_gemm_cache hs_cpu_gemm_cache;
int hs_cpu_gemm_cache_create(hs_backend_ctx *ctx);
void hs_cpu_gemm_cache_free(hs_cpu_gemm_cache *cache);

struct hs_backend_ctx {
    int threads;                  /* OpenMP threads the row/head loops may use */
    char error[HS_OP_ERROR_LEN];       /* reason of the last failed op, "" if none */
    char description[256];        /* describe() text */
    hs_cpu_lm_head_memo *lm_head_memo; /* NULL until the first lm_head_nll() with lse */
    hs_precision precision;       /* of the GEMMs that follow (set_precision), FP32 at init */
    hs_cpu_gemm_cache *gemm_cache; /* NULL until the first set_precision(BF16) */
};

/* Vocabulary rows per sgemm in lm_head_nll / lm_head_nll_backward: as many as keep one
 * thread's N × chunk logits within HS_CPU_LM_HEAD_CHUNK_BYTES, a multiple of 64 between
 * HS_CPU_LM_HEAD_MIN_CHUNK and HS_CPU_LM_HEAD_CHUNK. (At N = 512, C = 1024, 0.5–8 MiB of
 * logits per thread measured the same CPU time; 1 MiB keeps the scratch small.) */
#define HS_CPU_LM_HEAD_CHUNK 4096
#define HS_CPU_LM_HEAD_MIN_CHUNK 256
#ifndef HS_CPU_LM_HEAD_CHUNK_BYTES
#define HS_CPU_LM_HEAD_CHUNK_BYTES ((size_t)1 << 20)
#endif
/* Query rows per block in attention / attention_backward (score scratch is this × T). */
#define HS_CPU_ATTENTION_ROW_BLOCK 64

/* Writes the reason of a failed op into ctx->error and returns -1 (`return hs_cpu_fail(...)`). */
int hs_cpu_fail(hs_backend_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* malloc(count × size) for op scratch; on overflow or failure records "<op>: cannot allocate
 * ... for <what>" and returns NULL. */
void *hs_cpu_scratch(hs_backend_ctx *ctx, const char *op, const char *what, size_t count,
                     size_t size);

/* Between these two calls OpenBLAS runs each sgemm on the calling thread only, for ops that
 * share work out among OpenMP threads themselves and call sgemm inside them. Process-wide and
 * counted, so overlapping callers restore the thread count only when the last one ends. */
void hs_cpu_blas_single_thread_begin(void);
void hs_cpu_blas_single_thread_end(void);

/* ---- lifecycle and memory (cpu_backend.c) ------------------------------------------------ */
hs_backend_ctx *hs_cpu_init(int device_index, char *err, size_t errlen);
void hs_cpu_shutdown(hs_backend_ctx *ctx);
const char *hs_cpu_last_error(hs_backend_ctx *ctx);
const char *hs_cpu_describe(hs_backend_ctx *ctx);
void *hs_cpu_alloc(hs_backend_ctx *ctx, size_t bytes);
void hs_cpu_free(hs_backend_ctx *ctx, void *ptr);
int hs_cpu_upload(hs_backend_ctx *ctx, void *dst, const void *host_src, size_t bytes);
int hs_cpu_download(hs_backend_ctx *ctx, void *host_dst, const void *src, size_t bytes);
int hs_cpu_copy(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes);
int hs_cpu_fill_zero(hs_backend_ctx *ctx, void *dst, size_t bytes);
int hs_cpu_synchronize(hs_backend_ctx *ctx);
int hs_cpu_set_precision(hs_backend_ctx *ctx, hs_precision precision);
int hs_cpu_copy_2d(hs_backend_ctx *ctx, float *dst, int ldd, const float *src, int lds, int rows,
                   int cols);

/* ---- elementwise and reductions (cpu_elementwise.c) ---------------------------------------- */
int hs_cpu_embedding(hs_backend_ctx *ctx, float *out, const int32_t *ids, hs_table table,
                     int N, int C);
int hs_cpu_add(hs_backend_ctx *ctx, float *out, const float *a, const float *b, size_t n);
int hs_cpu_sum_squares(hs_backend_ctx *ctx, double *host_out, const float *x, size_t n);
int hs_cpu_scale(hs_backend_ctx *ctx, float *x, float s, size_t n);

/* ---- GEMM and bias gradient (cpu_matmul.c) ------------------------------------------------- */
/* fp32 C[M,N] = alpha·A[M,K]·B[N,K]ᵀ + beta·C for a few rows (cpu_gemm_few_rows.c): B read
 * once, without OpenBLAS's packing copy. Single-threaded. Returns false, having done nothing,
 * when M is outside 1..HS_CPU_FEW_ROWS_MAX or this CPU has no vector variant (the caller then
 * takes the sgemm path). The _with form runs a chosen variant (for the tests of each). */
/* Where sgemm's packing stops costing more than it saves: at 16 rows against a 4096 × 1024 B
 * (streamed from memory, two threads) the few-rows path took 177 ms per 2 GiB of B against
 * sgemm's 223, at 32 rows 302 against 259. */
#define HS_CPU_FEW_ROWS_MAX 16
typedef enum {
    HS_CPU_FEW_ROWS_NONE,
    HS_CPU_FEW_ROWS_AVX2,
    HS_CPU_FEW_ROWS_AVX512
} hs_cpu_few_rows_isa;
bool hs_cpu_few_rows_isa_available(hs_cpu_few_rows_isa isa);
bool hs_cpu_gemm_few_rows(int M, int N, int K, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc);
/* The bf16 precision's form (cpu_gemm_bf16.c): B's elements are rounded to bf16 as they are
 * read; A must be rounded already. */
bool hs_cpu_gemm_few_rows_bf16(int M, int N, int K, float alpha, const float *a_rounded, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc);
bool hs_cpu_gemm_few_rows_with(hs_cpu_few_rows_isa isa, bool round_b_bf16, int M, int N, int K,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);

/* Every GEMM of matmul() and the LM head goes through this one: C[M,N] = alpha·op(A)·op(B) +
 * beta·C with cblas_sgemm's row-major arguments (C is not read when beta is 0), in the
 * context's precision: for FP32 on the calling thread, hs_cpu_gemm_few_rows when it takes the
 * shape, else OpenBLAS sgemm (sgemv for one row),
 * hs_cpu_gemm_bf16 for BF16. Callable from inside an OpenMP parallel region; -1 with
 * ctx->error set on failure (only BF16 can fail). */
int hs_cpu_gemm(hs_backend_ctx *ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* The same GEMM with both inputs rounded to bf16 and fp32 accumulation (cpu_gemm_bf16.c);
 * threads over the context's OpenMP threads unless called inside a parallel region. */
int hs_cpu_gemm_bf16(hs_backend_ctx *ctx, bool trans_a, bool trans_b, int M, int N, int K,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc);
int hs_cpu_matmul(hs_backend_ctx *ctx, float *c, const float *a, const float *b,
                  const float *bias, int M, int N, int K, bool trans_a, bool trans_b, int lda,
                  int ldb, int ldc, float alpha, float beta);
int hs_cpu_bias_backward(hs_backend_ctx *ctx, float *db, const float *dout, int M, int N, int ld);

/* ---- layernorm (cpu_layernorm.c) ----------------------------------------------------------- */
int hs_cpu_layernorm(hs_backend_ctx *ctx, float *out, float *mean, float *rstd, const float *in,
                     const float *w, const float *b, int N, int C, float eps);
int hs_cpu_layernorm_backward(hs_backend_ctx *ctx, float *din, float *dw, float *db,
                              const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *w, int N, int C);

/* ---- GELU (cpu_gelu.c) --------------------------------------------------------------------- */
int hs_cpu_gelu(hs_backend_ctx *ctx, float *out, const float *in, size_t n, hs_gelu_kind kind);
int hs_cpu_gelu_backward(hs_backend_ctx *ctx, float *din, const float *in, const float *dout,
                         size_t n, hs_gelu_kind kind);

/* ---- attention (cpu_attention.c) ----------------------------------------------------------- */
int hs_cpu_attention(hs_backend_ctx *ctx, float *out, float *probs, float *stats,
                     const float *qkv, const float *slopes, int B, int T, int H, int d);
int hs_cpu_attention_backward(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                              const float *qkv, const float *probs, const float *slopes,
                              const uint8_t *head_mask, int B, int T, int H, int d);

/* ---- KV-cached decode attention (cpu_attention_decode.c) ---------------------------------- */
int hs_cpu_attention_decode(hs_backend_ctx *ctx, float *out, float *k_cache, float *v_cache,
                            const float *qkv, const int32_t *past, const float *slopes, int B,
                            int T_new, int H, int d, int T_max);

/* ---- weight tables in their file dtype (cpu_widen.c) -------------------------------------- */
int hs_cpu_widen(hs_backend_ctx *ctx, float *dst, const void *src, hs_table_dtype dtype,
                 size_t n);
/* dst[i] = src[i] widened, on the calling thread. */
void hs_cpu_widen_serial(float *dst, const void *src, hs_table_dtype dtype, size_t n);
size_t hs_cpu_table_elem_bytes(hs_table_dtype dtype);
bool hs_cpu_table_dtype_valid(hs_table_dtype dtype);
/* Rows row0 .. row0+rows−1 of a [*, C] table as fp32: a pointer into the table itself when it
 * is fp32, else into panel (rows × C floats), where they are widened. */
const float *hs_cpu_table_rows(hs_table table, size_t row0, size_t rows, int C, float *panel);

/* ---- tied LM head with NLL (cpu_lm_head.c) ------------------------------------------------- */
int hs_cpu_lm_head_nll(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                       hs_table emb, const int32_t *targets, int N, int C, int V);
int hs_cpu_lm_head_logits(hs_backend_ctx *ctx, float *logits, const float *x, hs_table emb,
                          int N, int C, int V);
int hs_cpu_lm_head_nll_backward(hs_backend_ctx *ctx, float *dx, const float *x, hs_table emb,
                                const int32_t *targets, const float *lse, float scale, int N,
                                int C, int V);

/* ---- optimizer (cpu_optimizer.c) ----------------------------------------------------------- */
int hs_cpu_adamw(hs_backend_ctx *ctx, float *param, const float *grad, float *m, float *v,
                 size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float bc1, float bc2);

#endif
