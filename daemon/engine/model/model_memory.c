/* The memory estimate of a job on a model (model_memory.h): parameter counts from the
 * family's tensor table, the residency rule, and the buffer tables of the graph and the CPU
 * ops written out as arithmetic. Reads config.json and safetensors headers; allocates nothing
 * that grows with the model. Notation: V vocab, C hidden, F MLP hidden, H heads, d head_dim,
 * L layers, T tokens, N rows (= sequences · T). */
#include "model_memory.h"
#include "model_decode.h"
#include "common/errors.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* The allocations' alignment: 16 floats per parameter tensor (model.c), 64 bytes per arena
 * row (model_arena.c). */
enum { PARAM_ALIGN_FLOATS = 16, ARENA_ALIGN = 64 };
/* model_train.c keeps softmax probabilities while all saved layers' fit in this budget. */
#define TRAIN_PROBS_BUDGET ((size_t)1 << 30)
/* The CPU LM head's vocabulary chunks (kernels/cpu/cpu_ops.h): N × chunk logits per thread
 * within CHUNK_BYTES, chunk a multiple of 64 in [MIN_CHUNK, MAX_CHUNK]; the attention ops'
 * score blocks: ROW_BLOCK query rows × T per thread. */
#define LM_CHUNK_BYTES ((size_t)1 << 20)
enum { LM_MIN_CHUNK = 256, LM_MAX_CHUNK = 4096, ATTENTION_ROW_BLOCK = 64 };

static size_t add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t mul3(size_t a, size_t b, size_t c)
{
    return mul(mul(a, b), c);
}

/* One arena row of `bytes`, 64-byte aligned as model_arena lays it out. */
static size_t row(size_t bytes)
{
    return bytes > SIZE_MAX - ARENA_ALIGN ? SIZE_MAX : (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

static size_t pos(int v)
{
    return v > 0 ? (size_t)v : 0;
}

/* Elements of slot's tensor for cfg (model.c's shapes). */
static size_t slot_numel(const hs_model_config *c, hs_tensor_slot slot)
{
    const size_t V = pos(c->vocab_size), C = pos(c->hidden_size), F = pos(c->mlp_hidden);
    switch (slot) {
    case HS_SLOT_WTE: return mul(V, C);
    case HS_SLOT_QKV_W: return mul3(3, C, C);
    case HS_SLOT_QKV_B: return mul(3, C);
    case HS_SLOT_DENSE_W: return mul(C, C);
    case HS_SLOT_FC_W: return mul(F, C);
    case HS_SLOT_FC_B: return F;
    case HS_SLOT_PROJ_W: return mul(C, F);
    default: return C; /* layernorm weights and biases, dense and proj biases */
    }
}

static bool slot_is_matrix(hs_tensor_slot slot)
{
    return slot == HS_SLOT_WTE || slot == HS_SLOT_QKV_W || slot == HS_SLOT_DENSE_W ||
           slot == HS_SLOT_FC_W || slot == HS_SLOT_PROJ_W;
}

/* Floats of the fp32 parameter allocation (each tensor padded to 16 floats, as model.c lays
 * it out), and of its vectors alone. */
static void count_floats(const hs_model_config *c, size_t *all, size_t *vectors)
{
    *all = *vectors = 0;
    for (int s = 0; s < HS_SLOT_COUNT; s++) {
        if (!c->family || !c->family->tensor_names[s])
            continue;
        size_t n = slot_numel(c, (hs_tensor_slot)s);
        size_t padded = n > SIZE_MAX - PARAM_ALIGN_FLOATS
                            ? SIZE_MAX
                            : (n + PARAM_ALIGN_FLOATS - 1) / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS;
        size_t copies = hs_slot_is_per_layer((hs_tensor_slot)s) ? pos(c->n_layer) : 1;
        *all = add(*all, mul(padded, copies));
        if (!slot_is_matrix((hs_tensor_slot)s))
            *vectors = add(*vectors, mul(padded, copies));
    }
}

static size_t op_threads(const hs_memory_job *job)
{
    if (job->threads > 0)
        return (size_t)job->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

/* The CPU LM head's per-thread scratch over N rows: N × chunk logits per thread (the threads
 * never outnumber the chunks) and, over a mapped embedding table, chunk × C widened rows per
 * thread. *threads_used receives that thread count. */
static size_t lm_head_scratch(size_t N, size_t V, size_t C, bool mapped, size_t threads,
                              size_t *threads_used)
{
    size_t fit = LM_CHUNK_BYTES / sizeof(float) / (N ? N : 1) / 64 * 64;
    size_t chunk = fit < LM_MIN_CHUNK ? LM_MIN_CHUNK : fit > LM_MAX_CHUNK ? LM_MAX_CHUNK : fit;
    if (chunk > V)
        chunk = V ? V : 1;
    size_t chunks = (V + chunk - 1) / chunk;
    *threads_used = threads < chunks ? threads : (chunks ? chunks : 1);
    /* logits, running maxima and sums (double), target logits, widened panels */
    size_t bytes = add(mul3(*threads_used, N, chunk * sizeof(float)),
                       add(mul3(*threads_used, N, sizeof(float) + sizeof(double)), N * sizeof(float)));
    return mapped ? add(bytes, mul3(*threads_used, chunk, C * sizeof(float))) : bytes;
}

/* Score blocks of the attention ops over T tokens: ROW_BLOCK × T per thread, twice in the
 * backward when the probabilities are recomputed. */
static size_t attention_scratch(size_t T, size_t threads, bool backward)
{
    size_t rows = T < ATTENTION_ROW_BLOCK ? T : ATTENTION_ROW_BLOCK;
    return mul3(mul(rows, T), threads, (backward ? 2 : 1) * sizeof(float));
}

/* model_activations.c: the inference forward's classes for N rows. */
static size_t forward_activations(const hs_model_config *c, size_t N)
{
    const size_t C = pos(c->hidden_size), F = pos(c->mlp_hidden), f4 = sizeof(float);
    const size_t NC = mul3(N, C, f4);
    size_t bytes = mul(row(NC), 4); /* x, ln, attn, proj */
    bytes = add(bytes, row(mul(NC, 3)));                                   /* qkv */
    bytes = add(bytes, row(mul3(N, F, f4)));                               /* fc */
    bytes = add(bytes, row(mul3(pos(c->n_layer), pos(c->n_head), HS_STAT_COUNT * f4))); /* stats */
    bytes = add(bytes, row(mul(N, f4)));                                   /* nll */
    return add(bytes, mul(row(mul(N, sizeof(int32_t))), 2));              /* ids, targets */
}

/* model_train.c's classes (saved activations from the lowest target layer up, backward work,
 * slice gradients, token ids and their host staging) plus the AdamW moments of
 * surgery_optimizer.c and the CPU LM head's memo and per-thread accumulators. */
static size_t training_bytes(const hs_model_config *c, const hs_memory_job *job, bool mapped,
                             size_t threads)
{
    const size_t C = pos(c->hidden_size), F = pos(c->mlp_hidden), H = pos(c->n_head);
    const size_t d = pos(c->head_dim), L = pos(c->n_layer), f4 = sizeof(float);
    const size_t B = pos(job->train_rows), T = pos(job->train_len), N = mul(B, T);
    const size_t NC = row(mul3(N, C, f4)), Nf = row(mul(N, f4));
    size_t lo = pos(job->lowest_target_layer) < L ? pos(job->lowest_target_layer) : L;
    size_t saved_layers = L - lo;
    size_t target_layers = pos(job->target_layers) < saved_layers ? pos(job->target_layers)
                                                                  : saved_layers;
    size_t probs = mul3(mul(B, H), mul(T, T), f4);
    bool keep_probs = mul(probs, saved_layers) <= TRAIN_PROBS_BUDGET;

    /* per saved layer: x_in, qkv, x1, ln2 mean/rstd, fc_pre (+ probs when kept) */
    size_t per_layer = add(add(NC, row(mul3(N, 3 * C, f4))), add(NC, mul(Nf, 2)));
    per_layer = add(per_layer, row(mul3(N, F, f4)));
    if (keep_probs)
        per_layer = add(per_layer, row(probs));
    size_t saved = mul(per_layer, saved_layers);
    saved = add(saved, mul(mul(NC, 2), target_layers));        /* ln1_out, attn */
    saved = add(saved, mul(mul(Nf, 2), saved_layers ? saved_layers - 1 : 0)); /* ln1 stats */
    saved = add(saved, add(mul(NC, 2), mul(Nf, 4)));            /* x_top, lnf_out, 4 rows */

    size_t work = add(mul(NC, 3), add(row(mul3(N, 3 * C, f4)), mul(row(mul3(N, F, f4)), 2)));
    size_t heads = pos(job->target_heads);
    size_t slice = add(mul3(3, d, C), add(mul(3, d), mul(C, d))); /* floats of one slice */
    size_t grads = mul(mul(slice, f4), heads);     /* (bias-free families need less) */
    size_t adamw = add(mul(mul(slice, 2 * f4), heads), mul3(C, d, f4));
    size_t tokens = add(mul(row(mul(N, sizeof(int32_t))), 2), mul(N, sizeof(int32_t) + f4));
    size_t lm_used = 1;
    size_t lm = lm_head_scratch(N, pos(c->vocab_size), C, mapped, threads, &lm_used);
    size_t memo = add(mul3(N, C, 2 * f4), mul(N, sizeof(int32_t) + f4));
    size_t accs = mul3(lm_used, N, C * f4);
    size_t attn = attention_scratch(T, threads, !keep_probs);
    size_t total = add(add(saved, work), add(grads, adamw));
    return add(add(total, tokens), add(add(lm, memo), add(accs, attn)));
}

void hs_model_memory_estimate(const hs_model_config *cfg, hs_dtype dtype, size_t tensor_bytes,
                              const hs_backend_caps *caps, const hs_memory_job *job,
                              hs_memory_estimate *out)
{
    *out = (hs_memory_estimate){0};
    const size_t C = pos(cfg->hidden_size), F = pos(cfg->mlp_hidden), V = pos(cfg->vocab_size);
    const size_t f4 = sizeof(float), threads = op_threads(job);
    size_t floats = 0, vector_floats = 0;
    count_floats(cfg, &floats, &vector_floats);
    /* model.c maps an fp16/bf16 matrix where the backend has host memory and reads the dtype */
    unsigned storage = dtype == HS_DTYPE_F16 ? HS_STORAGE_F16 : HS_STORAGE_BF16;
    out->mapped = caps->host_memory && (dtype == HS_DTYPE_F16 || dtype == HS_DTYPE_BF16) &&
                  (caps->storage_dtypes & storage);
    if (out->mapped) {
        out->weights = tensor_bytes;
        size_t layer = add(add(mul3(3, C, C), mul(C, C)), add(mul(F, C), mul(C, F)));
        out->scratch = add(mul(layer, f4), mul(vector_floats, f4));
    } else {
        out->weights = mul(floats, f4);
    }
    out->weights = add(out->weights, mul(pos(cfg->n_head), f4)); /* the ALiBi slopes */

    size_t T = pos(job->seq_len), lm_used = 1;
    size_t act = 0;
    if (T) {
        act = add(forward_activations(cfg, T),
                  lm_head_scratch(T, V, C, out->mapped, threads, &lm_used));
        act = add(act, attention_scratch(T, threads, false));
    }
    if (job->attention_maps > 0) {
        size_t Tm = pos(job->attention_maps);
        act = add(act, mul3(pos(cfg->n_head), mul(Tm, Tm), f4));
        if (!T)
            act = add(act, forward_activations(cfg, Tm));
    }
    if (job->kv_sequences > 0 && job->kv_positions > 0) {
        out->kv_cache = hs_kv_cache_bytes(cfg, job->kv_sequences, job->kv_positions,
                                          job->kv_rows > 0 ? job->kv_rows : 1);
        act = add(act, out->kv_cache);
    }
    out->activations = act;

    if (job->target_heads > 0 && job->train_rows > 0 && job->train_len > 0) {
        out->training = training_bytes(cfg, job, out->mapped, threads);
        if (out->mapped) /* the target layers' query_key_value and dense weights in fp32 */
            out->training = add(out->training, mul(mul3(pos(job->target_layers), 4 * C, C), f4));
    }
    out->total = add(add(out->weights, out->scratch), add(out->activations, out->training));
}

int hs_model_memory_estimate_dir(const char *dir, const hs_backend_caps *caps,
                                 const hs_memory_job *job, hs_memory_estimate *out, char *err,
                                 size_t errlen)
{
    char path[PATH_MAX + 16];
    hs_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hs_model_config_load(path, &cfg, err, errlen) != 0)
        return -1;
    hs_st_set *set = hs_st_open_dir(dir, err, errlen);
    if (!set)
        return -1;
    /* A config the checkpoint cannot back is the loader's error too; named here first, since
     * an estimate from it would be of a model that does not exist. */
    char last[128];
    if (hs_family_tensor_name(cfg.family, HS_SLOT_QKV_W, cfg.n_layer - 1, last, sizeof last) == 0 &&
        !hs_st_find(set, last)) {
        hs_st_close(set);
        return hs_errf(err, errlen, "model %s: config.json declares %d layers but the checkpoint "
                       "has no tensor '%s'", dir, cfg.n_layer, last);
    }
    size_t bytes = 0;
    const size_t n = hs_st_count(set);
    for (size_t i = 0; i < n; i++)
        bytes = add(bytes, hs_st_at(set, i)->nbytes);
    /* the dtype the loader keeps as the model's: its token embeddings' */
    char wte[128];
    const hs_st_tensor *emb = NULL;
    if (hs_family_tensor_name(cfg.family, HS_SLOT_WTE, -1, wte, sizeof wte) == 0)
        emb = hs_st_find(set, wte);
    if (!emb && n > 0)
        emb = hs_st_at(set, 0);
    hs_dtype dtype = emb ? emb->dtype : HS_DTYPE_F32;
    hs_st_close(set);
    hs_model_memory_estimate(&cfg, dtype, bytes, caps, job, out);
    return 0;
}

size_t hs_memory_estimate_resident(const hs_memory_estimate *e)
{
    return add(e->weights, e->scratch);
}

/* "14.1 GiB", "3.5 MiB", "12.0 KiB", "80 B". */
static void human(size_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%zu B", bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

void hs_memory_bytes_describe(size_t bytes, char *buf, size_t len)
{
    char h[32];
    human(bytes, h, sizeof h);
    snprintf(buf, len, "%s (%zu bytes)", h, bytes);
}

void hs_memory_estimate_describe(const hs_memory_estimate *e, char *buf, size_t len)
{
    char total[32], weights[32], scratch[32], act[32], train[32];
    human(e->total, total, sizeof total);
    human(e->weights, weights, sizeof weights);
    human(e->scratch, scratch, sizeof scratch);
    human(e->activations, act, sizeof act);
    human(e->training, train, sizeof train);
    char kv[64] = "";
    if (e->kv_cache) {
        char h[32];
        human(e->kv_cache, h, sizeof h);
        snprintf(kv, sizeof kv, " (KV cache %s)", h);
    }
    snprintf(buf, len,
             "%s (%zu bytes: weights %s %s, scratch %s, activations %s%s, training %s)", total,
             e->total, weights, e->mapped ? "mapped" : "as fp32", scratch, act, kv, train);
}
