/* How much memory a job on a model will need, computed before anything is loaded or
 * allocated: from config.json, the checkpoint's dtype and tensor bytes (safetensors headers
 * only), the backend's capabilities and the job's shape. What a worker compares with the
 * memory the machine has before it loads a model (device.h), so a job that cannot fit fails
 * at once with both numbers instead of dying half-way through an allocation.
 *
 * Residency rule (docs/architecture.md "Memory"):
 *   - on a backend with host memory (CPU) that reads the dtype in place (caps.storage_dtypes)
 *     an fp16/bf16 checkpoint is MAPPED: its tensor bytes stay file-backed pages, one layer's
 *     weights are widened to fp32 in a layer scratch when the layer runs, the LM head widens
 *     the vocabulary chunk by chunk into per-thread panels, the small vectors (layernorms,
 *     biases) are kept as fp32; a surgery keeps each target layer's query_key_value and dense
 *     weights resident in fp32;
 *   - an fp32 checkpoint, or any checkpoint on a device with its own memory (CUDA), is
 *     resident as fp32: every parameter 4 bytes.
 * The activation, training and op-scratch sizes follow the allocations of the graph
 * (model_activations.c, model_train.c, model_decode.c, the CPU LM head and attention ops). */
#ifndef HS_MODEL_MEMORY_H
#define HS_MODEL_MEMORY_H
#include "engine/families/model_config.h"
#include "engine/formats/safetensors.h"
#include "ops.h"
#include <stdbool.h>
#include <stddef.h>

/* The shape of a job: which buffers it will allocate besides the model. Zero fields mean
 * "none of that". */
typedef struct hs_memory_job {
    int seq_len;         /* T of the inference forward (diagnosis, perplexity windows, eval) */
    int attention_maps;  /* inspect: T of one [H, T, T] probability buffer, 0 none */
    /* generate: the KV cache (model_decode.h) */
    int kv_sequences, kv_positions, kv_rows;
    /* surgery: micro-batches of train_rows sequences of train_len tokens */
    int train_rows, train_len;
    int lowest_target_layer;  /* saved activations from here up */
    int target_layers;        /* layers holding a target head */
    int target_heads;         /* trainable slices (0: no training) */
    int threads;              /* CPU op threads (per-thread scratch); 0: the online CPUs */
} hs_memory_job;

/* Bytes by purpose; every sum saturates at SIZE_MAX (a config declaring millions of layers
 * gives SIZE_MAX, never a wrapped small number). */
typedef struct hs_memory_estimate {
    bool mapped;         /* weights stay the checkpoint's mapped fp16/bf16 pages */
    size_t weights;      /* mapped: the checkpoint's tensor bytes; else n_params·4 */
    size_t scratch;      /* resident with the model: the layer scratch and the fp32 vectors
                          * (mapped); 0 otherwise */
    size_t activations;  /* the job's forward buffers, KV cache, attention maps, op scratch */
    size_t kv_cache;     /* the part of activations that is a generation's KV cache */
    size_t training;     /* saved activations, backward work, slice gradients, AdamW moments,
                          * LM-head memo, the target layers' fp32 weights (mapped) */
    size_t total;
} hs_memory_estimate;

/* The estimate from the parts (no I/O): cfg, the checkpoint's dtype (its token embeddings')
 * and the sum of its tensors' bytes, the backend's caps, the job's shape. */
void hs_model_memory_estimate(const hs_model_config *cfg, hs_dtype dtype, size_t tensor_bytes,
                              const hs_backend_caps *caps, const hs_memory_job *job,
                              hs_memory_estimate *out);

/* The same for the model directory dir: config.json read, the safetensors headers (single
 * file or shards) opened for dtypes and sizes — no tensor is read. 0, or -1 with err naming
 * the file at fault. */
int hs_model_memory_estimate_dir(const char *dir, const hs_backend_caps *caps,
                                 const hs_memory_job *job, hs_memory_estimate *out, char *err,
                                 size_t errlen);

/* What stays allocated while the model is cached on a device: weights + scratch. */
size_t hs_memory_estimate_resident(const hs_memory_estimate *e);

/* "17.2 GiB (18468... bytes: weights 14.1 GiB mapped, scratch 400.1 MiB, activations
 * 120.0 MiB, training 0 B)" into buf (binary units, the largest that keeps the number >= 1). */
void hs_memory_estimate_describe(const hs_memory_estimate *e, char *buf, size_t len);
/* "12.0 GiB (12884901888 bytes)" into buf. */
void hs_memory_bytes_describe(size_t bytes, char *buf, size_t len);

#endif
