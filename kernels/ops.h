/* The op table: the one seam between the model engine (daemon/engine/) and the compute
 * backends (kernels/cpu/, kernels/cuda/). The engine is written once against this table;
 * each backend fills a const hs_backend with labelled initialisers.
 *
 * Conventions (every backend follows them exactly; the CPU backend is the oracle):
 * - Every float pointer an op takes is memory of that backend (host memory for cpu, device
 *   memory for cuda), allocated with its alloc(). Tensors are row-major fp32, except the read-only
 *   weight tables (hs_table), which may stay in their file dtype.
 * - Shapes are given in the comments as [rows, cols]; B = batch, T = sequence length,
 *   H = heads, d = head_dim, C = channels (hidden size), V = vocabulary, N = rows.
 * - "=" means the op overwrites its output; "+=" means it accumulates into it.
 * - Every op returns 0 on success and -1 on failure, after which last_error() says why.
 *   A backend never aborts the process on a runtime error (a CUDA OOM fails the op).
 * - Ops may run asynchronously (cuda); download() and synchronize() are the sync points.
 *
 * Attention (docs/model-families.md "Attention"): fused QKV rows are interleaved per head as
 * [head][q|k|v][d] (model families with another file layout permute at load time);
 * score(i,j) = slope_h·j + (q_i·k_j)/sqrt(d) for j <= i, masked otherwise; softmax in fp32.
 * The slopes are the model family's (daemon/engine/families/), handed in as memory.
 * This header knows no model family and includes nothing from daemon/.
 */
#ifndef HS_OPS_H
#define HS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the buffers backends write their reasons into (last_error, init's err). */
#define HS_OP_ERROR_LEN 512

typedef struct hs_backend_ctx hs_backend_ctx; /* opaque, one per device a worker owns */

/* Per-head attention statistics written by attention(): for every (b, h) the mean over the
 * T query rows t of: bos = A[t,0]; entropy = −Σ_j A[t,j]·ln A[t,j] (0·ln 0 = 0);
 * local = Σ_{j=max(0,t−2)..t} A[t,j]. Layout [B, H, HS_STAT_COUNT]. */
enum { HS_STAT_BOS = 0, HS_STAT_ENTROPY = 1, HS_STAT_LOCAL = 2, HS_STAT_COUNT = 3 };

/* The GELU variants the gelu ops compute (docs/model-families.md "GELU"). */
typedef enum hs_gelu_kind {
    HS_GELU_TANH = 0, /* tanh approximation, constants 0.79788456 and 0.044715 evaluated op by
                       * op in fp32 as transformers' BLOOM does, with its backward formula */
    HS_GELU_ERF = 1,  /* exact x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (torch nn.GELU()) */
} hs_gelu_kind;

/* The arithmetic of the GEMMs (matmul() and the LM head's) that follow set_precision() on a
 * context. Everything else (softmax, layernorm, GELU, losses, the optimizer) is fp32 always. */
typedef enum hs_precision {
    HS_PRECISION_FP32 = 0, /* fp32 inputs, fp32 accumulation (the default after init) */
    HS_PRECISION_BF16 = 1, /* both inputs rounded to bf16 (round to nearest even), products
                            * accumulated in fp32, output fp32 */
} hs_precision;

/* What a backend can do, so callers ask the table instead of comparing backend names. */
typedef struct hs_backend_caps {
    bool host_memory;       /* alloc() returns host memory a loader may write directly */
    bool fused_head_stats;  /* attention() accumulates the per-head statistics itself, with no
                             * T×T buffer per head */
    bool training;          /* the backward ops, adamw and sum_squares are implemented */
    bool kv_cache;          /* attention_decode() is implemented (KV-cached generation) */
    bool batch_accumulation; /* runs an accumulation group's equal micro-batches fastest as
                              * one batch (throughput devices) rather than one by one */
    unsigned storage_dtypes; /* bit set of HS_STORAGE_*: dtypes hs_table and widen() accept */
    unsigned precisions;     /* bit set of 1u << hs_precision: what set_precision() accepts */
} hs_backend_caps;

enum { HS_STORAGE_F32 = 1u << 0, HS_STORAGE_BF16 = 1u << 1, HS_STORAGE_F16 = 1u << 2 };

/* The dtype of a read-only weight table handed to an op (hs_table, widen()). */
typedef enum hs_table_dtype {
    HS_TABLE_F32 = 0,
    HS_TABLE_F16 = 1,  /* IEEE binary16, little-endian */
    HS_TABLE_BF16 = 2, /* bfloat16, little-endian */
} hs_table_dtype;

/* A read-only [rows, C] weight table in memory of the backend, kept in its file dtype: the
 * tied token embeddings of a model whose checkpoint is fp16/bf16 and memory-mapped. Ops that
 * take one widen the rows they need to fp32 (exactly) as they go, a chunk at a time.
 * caps.storage_dtypes says which dtypes a backend's table ops and widen() accept. */
typedef struct hs_table {
    const void *data;
    hs_table_dtype dtype;
} hs_table;

/* The table view of fp32 memory. */
static inline hs_table hs_table_f32(const float *data)
{
    hs_table t = {data, HS_TABLE_F32};
    return t;
}

typedef struct hs_backend {
    const char *name; /* "cpu", "cuda": for messages, never for decisions (use caps) */
    hs_backend_caps caps;

    /* ---- lifecycle and memory ----------------------------------------------------- */
    /* device_index is N of "cuda:N" (0 for cpu). NULL on failure with the reason in err. */
    hs_backend_ctx *(*init)(int device_index, char *err, size_t errlen);
    void (*shutdown)(hs_backend_ctx *ctx);
    const char *(*last_error)(hs_backend_ctx *ctx);
    /* A one-line description of the device ("cpu: 2 threads, OpenBLAS", "cuda:0 NVIDIA H200"). */
    const char *(*describe)(hs_backend_ctx *ctx);

    void *(*alloc)(hs_backend_ctx *ctx, size_t bytes); /* zero-filled; NULL on failure */
    void (*free)(hs_backend_ctx *ctx, void *ptr);
    int (*upload)(hs_backend_ctx *ctx, void *dst, const void *host_src, size_t bytes);
    int (*download)(hs_backend_ctx *ctx, void *host_dst, const void *src, size_t bytes);
    int (*copy)(hs_backend_ctx *ctx, void *dst, const void *src, size_t bytes);
    int (*fill_zero)(hs_backend_ctx *ctx, void *dst, size_t bytes);
    int (*synchronize)(hs_backend_ctx *ctx);
    /* Sets the GEMM precision for the ops that follow on ctx (see hs_precision); fails, with
     * last_error() naming the precision, when caps.precisions lacks it. */
    int (*set_precision)(hs_backend_ctx *ctx, hs_precision precision);
    /* dst[r*ldd + c] = src[r*lds + c] for r < rows, c < cols (strided 2-D copy, e.g. to move a
     * head's columns of dense.weight between the model and a compact trainable slice). */
    int (*copy_2d)(hs_backend_ctx *ctx, float *dst, int ldd, const float *src, int lds, int rows,
                   int cols);
    /* Recovery from device faults. needs_reset() is true once a call on ctx hit an error after
     * which the device fails every call (cuda: an illegal address in a kernel, an ECC error;
     * the failing op's last_error() says "needs reset"), and also when another context of the
     * same device was reset. Then every pointer alloc() returned on ctx is invalid (so is all
     * data of every context of that device in this process): the caller drops them without
     * free() and calls reset(), which brings the context back (precision kept) and returns 0,
     * or -1 with last_error() when the device stays unusable. Nothing else may use a context
     * of the device while reset() runs. reset() on a healthy context does nothing and returns
     * 0; backends without such faults (cpu) never need it. */
    bool (*needs_reset)(hs_backend_ctx *ctx);
    int (*reset)(hs_backend_ctx *ctx);
    /* Test builds only (kernels compiled with HS_TEST_HOOKS), NULL otherwise and on backends
     * without a device: makes the device fault (a kernel writes through an invalid pointer),
     * returns -1 with needs_reset() true, so tests can exercise reset(). */
    int (*inject_fault)(hs_backend_ctx *ctx);

    /* ---- forward ------------------------------------------------------------------ */
    /* dst[i] = src[i] widened to fp32 (exact) for i < n; src holds n values of dtype. */
    int (*widen)(hs_backend_ctx *ctx, float *dst, const void *src, hs_table_dtype dtype,
                 size_t n);
    /* out[N,C] = table[ids[n], :] (widened to fp32). ids is int32 memory of this backend. */
    int (*embedding)(hs_backend_ctx *ctx, float *out, const int32_t *ids, hs_table table,
                     int N, int C);
    /* out[N,C] = (in − mean)/sqrt(var + eps)·w + b per row, biased variance; b may be NULL
     * (a LayerNorm without bias). mean[N] and rstd[N] receive the row statistics for the
     * backward pass (either may be NULL). */
    int (*layernorm)(hs_backend_ctx *ctx, float *out, float *mean, float *rstd, const float *in,
                     const float *w, const float *b, int N, int C, float eps);
    /* GEMM: C[M,N] = alpha·op(A)·op(B) + beta·C, then + bias[N] on every row if bias != NULL.
     * op(A) is [M,K]: A itself (trans_a false, stored [M,K] with leading dimension lda) or
     * Aᵀ (trans_a true, stored [K,M]). op(B) is [K,N]: B ([K,N], ldb) or Bᵀ (stored [N,K]).
     * C has leading dimension ldc. nn.Linear y = x·Wᵀ + b is
     * matmul(y, x, W, b, rows, out, in, false, true, in, in, out, 1, 0). */
    int (*matmul)(hs_backend_ctx *ctx, float *c, const float *a, const float *b, const float *bias,
                  int M, int N, int K, bool trans_a, bool trans_b, int lda, int ldb, int ldc,
                  float alpha, float beta);
    /* out[n] = GELU of in[n] in the given variant. out may equal in. */
    int (*gelu)(hs_backend_ctx *ctx, float *out, const float *in, size_t n, hs_gelu_kind kind);
    /* out[n] = a[n] + b[n]. out may equal a or b. */
    int (*add)(hs_backend_ctx *ctx, float *out, const float *a, const float *b, size_t n);
    /* Causal ALiBi attention over fused qkv[B,T,H·3·d] → out[B,T,H·d] (heads merged,
     * head-major). probs[B,H,T,T] receives the softmax (rows above the diagonal 0) when not
     * NULL (the backward pass may reuse it); stats[B,H,HS_STAT_COUNT] receives the per-head
     * statistics when not NULL. No T×T buffer per head is needed when probs is NULL.
     * slopes[H] is memory of this backend. */
    int (*attention)(hs_backend_ctx *ctx, float *out, float *probs, float *stats, const float *qkv,
                     const float *slopes, int B, int T, int H, int d);
    /* KV-cached causal ALiBi attention for generation. k_cache and v_cache are
     * [B, H, T_max, d] (sequence b, head h, position j at ((b·H + h)·T_max + j)·d). The T_new
     * rows of sequence b in qkv[B, T_new, H·3·d] sit at positions past[b] .. past[b]+T_new−1:
     * their k and v rows are first written into the caches at those positions (=), then
     * out[B, T_new, H·d] (=, heads merged) is the attention of each new query row at position
     * p over the cached keys and values 0..p, with the scores, bias and softmax of attention():
     * the new rows get what attention() over the whole sequence gives them. past is HOST
     * memory int32[B] (sequences of different lengths in one batch), 0 <= past[b] and
     * past[b] + T_new <= T_max. qkv, out and the caches must not overlap. */
    int (*attention_decode)(hs_backend_ctx *ctx, float *out, float *k_cache, float *v_cache,
                            const float *qkv, const int32_t *past, const float *slopes, int B,
                            int T_new, int H, int d, int T_max);
    /* LM head tied to the embeddings, fused with log-softmax NLL, in row chunks of the
     * vocabulary so memory stays O(N × chunk): for each row n with targets[n] >= 0,
     * nll[n] = logsumexp_v(x[n]·emb[v]) − x[n]·emb[targets[n]]; rows with targets[n] < 0 get
     * nll 0. lse[N] receives the logsumexp per row when not NULL (for the backward pass).
     * x[N,C], emb[V,C], targets int32[N]. */
    int (*lm_head_nll)(hs_backend_ctx *ctx, float *nll, float *lse, const float *x,
                       hs_table emb, const int32_t *targets, int N, int C, int V);
    /* logits[N,V] = x[N,C]·emb[V,C]ᵀ: the full logits of the tied LM head (generation,
     * inspection), the table read chunk by chunk like lm_head_nll(). */
    int (*lm_head_logits)(hs_backend_ctx *ctx, float *logits, const float *x, hs_table emb,
                          int N, int C, int V);

    /* ---- backward ----------------------------------------------------------------- */
    /* din[N,C] += ∂L/∂in; dw[C] += , db[C] += when not NULL. mean/rstd from layernorm(). */
    int (*layernorm_backward)(hs_backend_ctx *ctx, float *din, float *dw, float *db,
                              const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *w, int N, int C);
    /* din[n] = gelu'(in[n])·dout[n] for the variant (HS_GELU_TANH: transformers' BLOOM
     * backward formula; HS_GELU_ERF: Φ(x) + x·φ(x)). */
    int (*gelu_backward)(hs_backend_ctx *ctx, float *din, const float *in, const float *dout,
                         size_t n, hs_gelu_kind kind);
    /* db[N] += column sums of dout[M,N] (leading dimension ld). */
    int (*bias_backward)(hs_backend_ctx *ctx, float *db, const float *dout, int M, int N, int ld);
    /* dqkv[B,T,H·3·d] = ∂L/∂qkv given dout[B,T,H·d] (= ∂L/∂out of attention()). probs is the
     * forward softmax or NULL (then recomputed). head_mask is HOST memory [H] or NULL = all
     * heads: a head whose mask is 0 gets zeros in its q, k and v rows and costs no work. */
    int (*attention_backward)(hs_backend_ctx *ctx, float *dqkv, const float *dout,
                              const float *qkv, const float *probs, const float *slopes,
                              const uint8_t *head_mask, int B, int T, int H, int d);
    /* dx[N,C] = ∂(scale·Σ_n nll[n])/∂x for the tied LM head (no gradient to emb), chunked
     * over the vocabulary like lm_head_nll(); lse from lm_head_nll(). Rows with targets < 0
     * get dx 0. */
    int (*lm_head_nll_backward)(hs_backend_ctx *ctx, float *dx, const float *x, hs_table emb,
                                const int32_t *targets, const float *lse, float scale, int N,
                                int C, int V);

    /* ---- optimizer and reductions -------------------------------------------------- */
    /* torch.optim.AdamW on n elements: p −= lr·wd·p; m = β1·m + (1−β1)·g;
     * v = β2·v + (1−β2)·g²; p −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps), with
     * bc1 = 1 − β1^t, bc2 = 1 − β2^t for step t (1-based). */
    int (*adamw)(hs_backend_ctx *ctx, float *param, const float *grad, float *m, float *v,
                 size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float bc1, float bc2);
    /* *host_out = Σ x[i]² accumulated in double (synchronous). */
    int (*sum_squares)(hs_backend_ctx *ctx, double *host_out, const float *x, size_t n);
    /* x[i] *= s. */
    int (*scale)(hs_backend_ctx *ctx, float *x, float s, size_t n);
} hs_backend;

/* The compiled-in backends and lookup by name ("cpu", "cuda"); NULL if not compiled in. */
const hs_backend *hs_backend_find(const char *name);
/* The i-th compiled backend, or NULL past the last. */
const hs_backend *hs_backend_at(size_t i);
/* Names of the compiled backends, comma separated ("cpu,cuda"). */
const char *hs_backend_list(void);

extern const hs_backend hs_cpu_backend;
#ifdef HS_HAVE_CUDA
extern const hs_backend hs_cuda_backend;
#endif

#endif
