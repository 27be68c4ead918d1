/* A compute device as a worker owns it: one backend context (cpu or cuda:N) and a
 * least-recently-used cache of loaded models bounded in bytes, so jobs that come back to a
 * model do not reload it (keyed by the model directory's path and its files' mtimes). Before
 * a model is loaded, the job's memory estimate (model_memory.h) is checked against the memory
 * available plus what evicting cached models would free; a job that cannot fit is refused
 * then, before anything is allocated. One device is used by one thread at a time; the cache's
 * listing (hs_device_cache_list) may be read from any thread. */
#ifndef HS_DEVICE_H
#define HS_DEVICE_H
#include "engine/model/model_memory.h"
#include "ops.h"
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hs_model;
typedef struct hs_device_cache_slot hs_device_cache_slot;

typedef struct hs_device {
    char spec[32];              /* "cpu", "cuda:0" as given to --device */
    const hs_backend *backend;
    hs_backend_ctx *bctx;
    /* the model cache: slots[0..n_slots), guarded by cache_lock for readers on other threads */
    pthread_mutex_t cache_lock;
    hs_device_cache_slot *slots;
    int n_slots, cap_slots;
    size_t cache_limit;         /* bytes the cached models may hold together */
    uint64_t clock;             /* use counter: the least recently used slot has the lowest */
} hs_device;

/* One cached model as hs_device_cache_list reports it. */
typedef struct hs_device_cached_model {
    char path[4096];            /* the model directory (absolute) */
    size_t resident_bytes;      /* what the model holds (hs_model_resident_bytes) */
    int64_t last_used_ms;       /* wall clock of the last hand-out */
} hs_device_cached_model;

/* The highest N of "cuda:N" a spec may name. An index in range that names no GPU of this
 * machine is not a spelling mistake: opening it fails, and the daemon serves without it. */
#define HS_DEVICE_INDEX_MAX 1023

/* A device spec taken apart: backend "cpu" (index 0) or "cuda" with its index. */
typedef struct hs_device_spec {
    char backend[8];
    int index;
} hs_device_spec;

/* The one parser of device specs, used for --device (serve, run) and wherever else a spec
 * names a device: exactly "cpu" or "cuda:N" with N decimal, without sign or leading zeros,
 * 0..HS_DEVICE_INDEX_MAX. 0, or -1 with err quoting the spec and saying what is expected. */
int hs_device_spec_parse(const char *text, hs_device_spec *out, char *err, size_t errlen);

/* Parses spec (hs_device_spec_parse) and initialises the backend. NULL with a clear reason when
 * the backend is not compiled in or the device cannot be used (no GPU, bad index). */
hs_device *hs_device_open(const char *spec, char *err, size_t errlen);
void hs_device_close(hs_device *dev);
/* "cpu: ..."/"cuda:0 NVIDIA H200" */
const char *hs_device_describe(hs_device *dev);

/* The model in directory `path` on this device, loaded or from the cache. The device keeps
 * ownership; the pointer stays valid until the next hs_device_model() call, a drop of it, or
 * close (the model handed out last is never evicted before).
 * need (may be NULL: no check) is the job's estimate for this model. On a cache hit the job
 * still needs need's activations and training; on a miss all of it. When that exceeds the
 * memory available (hs_available_memory_bytes) plus what evicting every other cached model
 * would free, NULL with err naming both numbers — nothing is evicted, loaded or allocated.
 * (Checked on host-memory backends only: a device's own memory is not queried.)
 * Otherwise least recently used models are evicted until it fits and, after a load, until the
 * cached models are within the cache limit (the model handed out stays even when it alone
 * exceeds the limit). A model counts hs_model_resident_bytes(); before it loads, need's
 * weights + scratch are the room made for it. */
struct hs_model *hs_device_model(hs_device *dev, const char *path,
                                 const hs_memory_estimate *need, char *err, size_t errlen);
/* Drops model m from the cache and frees it (e.g. after a surgery changed its weights in
 * place, so they are never reused); NULL drops every cached model. */
void hs_device_drop_model(hs_device *dev, const struct hs_model *m);
/* After a job ended: when the backend says the device faulted (a sticky CUDA error), drops
 * every cached model (their device memory died with the context) and resets the device so the
 * next job runs. 0 when nothing was needed, 1 when the device was reset, -1 with err when it
 * stays unusable. */
int hs_device_recover(hs_device *dev, char *err, size_t errlen);

/* The default cache limit of a device whose backend uses host memory (cpu): half the memory
 * available when the device opens (0 when that cannot be read). A device with its own memory
 * (cuda) starts at 0. A limit of 0 keeps only the model handed out last. */
size_t hs_device_default_cache_limit(void);
/* Sets the limit in bytes, evicting least recently used models (never the one handed out
 * last) until the cache is within it. */
void hs_device_set_cache_limit(hs_device *dev, size_t bytes);
/* Copies up to max cached models, most recently used first, into out; returns how many are
 * cached (may exceed max) and the limit and the bytes they hold together. Any thread. */
int hs_device_cache_list(hs_device *dev, hs_device_cached_model *out, int max, size_t *limit,
                         size_t *used);

#endif
