/* A worker's compute device (device.h): the one parser of device specs ("cpu" | "cuda:N"),
 * the backend found and initialised, and the model cache: least recently used eviction
 * bounded in bytes, keyed by the model directory's absolute path and its files' newest mtime,
 * with the memory check of a job's estimate before anything is loaded. Runs no compute. */
#include "device.h"
#include "engine/model/model.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/system_memory.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_device_cache_slot {
    struct hs_model *model;
    size_t bytes;           /* resident bytes counted against the limit */
    uint64_t used;          /* dev->clock at the last hand-out */
    int64_t last_used_ms;
};

int hs_device_spec_parse(const char *text, hs_device_spec *out, char *err, size_t errlen)
{
    if (!text)
        return hs_errf(err, errlen, "no device given: expected \"cpu\" or \"cuda:N\"");
    if (strcmp(text, "cpu") == 0) {
        *out = (hs_device_spec){.backend = "cpu", .index = 0};
        return 0;
    }
    const char *digits = strncmp(text, "cuda:", 5) == 0 ? text + 5 : NULL;
    size_t n_digits = digits ? strspn(digits, "0123456789") : 0;
    if (!digits || n_digits == 0 || digits[n_digits] != '\0' ||
        (n_digits > 1 && digits[0] == '0'))
        return hs_errf(err, errlen,
                       "device '%.64s': expected \"cpu\" or \"cuda:N\" (N a GPU index, "
                       "0-%d)", text, HS_DEVICE_INDEX_MAX);
    long index = n_digits > 6 ? LONG_MAX : strtol(digits, NULL, 10);
    if (index > HS_DEVICE_INDEX_MAX)
        return hs_errf(err, errlen, "device '%.64s': GPU index out of range (0-%d)", text,
                       HS_DEVICE_INDEX_MAX);
    *out = (hs_device_spec){.backend = "cuda", .index = (int)index};
    return 0;
}

hs_device *hs_device_open(const char *spec, char *err, size_t errlen)
{
    if (!spec)
        spec = "cpu";
    hs_device_spec parsed; /* a valid spec is at most "cuda:1023": it fits dev->spec */
    if (hs_device_spec_parse(spec, &parsed, err, errlen) != 0)
        return NULL;
    const char *name = parsed.backend;
    const hs_backend *be = hs_backend_find(name);
    if (!be) {
        hs_errf(err, errlen,
                "device '%s': the %s backend is not compiled into this build (compiled: %s)", spec,
                name, hs_backend_list());
        return NULL;
    }
    char why[HS_ERR_LEN] = "";
    hs_backend_ctx *ctx = be->init(parsed.index, why, sizeof why);
    if (!ctx) {
        hs_errf(err, errlen, "device '%s': %s", spec, why[0] ? why : "initialisation failed");
        return NULL;
    }
    hs_device *dev = calloc(1, sizeof *dev);
    if (!dev) {
        be->shutdown(ctx);
        hs_errf(err, errlen, "device '%s': out of memory", spec);
        return NULL;
    }
    snprintf(dev->spec, sizeof dev->spec, "%s", spec);
    dev->backend = be;
    dev->bctx = ctx;
    dev->cache_limit = be->caps.host_memory ? hs_device_default_cache_limit() : 0;
    pthread_mutex_init(&dev->cache_lock, NULL);
    return dev;
}

void hs_device_close(hs_device *dev)
{
    if (!dev)
        return;
    hs_device_drop_model(dev, NULL);
    free(dev->slots);
    pthread_mutex_destroy(&dev->cache_lock);
    dev->backend->shutdown(dev->bctx);
    free(dev);
}

const char *hs_device_describe(hs_device *dev)
{
    return dev->backend->describe(dev->bctx);
}

size_t hs_device_default_cache_limit(void)
{
    long long avail = hs_available_memory_bytes();
    return avail > 0 ? (size_t)(avail / 2) : 0;
}

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t cache_bytes(const hs_device *dev, const struct hs_model *except)
{
    size_t sum = 0;
    for (int i = 0; i < dev->n_slots; i++)
        if (dev->slots[i].model != except)
            sum = sat_add(sum, dev->slots[i].bytes);
    return sum;
}

/* Each cached model's bytes as it holds them now (a surgery's promoted target layers add to a
 * mapped model). */
static void refresh_bytes(hs_device *dev)
{
    pthread_mutex_lock(&dev->cache_lock);
    for (int i = 0; i < dev->n_slots; i++)
        dev->slots[i].bytes = hs_model_resident_bytes(dev->slots[i].model);
    pthread_mutex_unlock(&dev->cache_lock);
}

static int find_path(const hs_device *dev, const char *abs)
{
    for (int i = 0; i < dev->n_slots; i++)
        if (strcmp(dev->slots[i].model->path, abs) == 0)
            return i;
    return -1;
}

/* The least recently used slot other than keep's, or −1. */
static int lru_slot(const hs_device *dev, const struct hs_model *keep)
{
    int best = -1;
    for (int i = 0; i < dev->n_slots; i++)
        if (dev->slots[i].model != keep && (best < 0 || dev->slots[i].used < dev->slots[best].used))
            best = i;
    return best;
}

/* Takes slot i out of the cache (under the lock, for readers) and frees its model. */
static size_t evict(hs_device *dev, int i)
{
    pthread_mutex_lock(&dev->cache_lock);
    struct hs_model *m = dev->slots[i].model;
    size_t bytes = dev->slots[i].bytes;
    dev->slots[i] = dev->slots[--dev->n_slots];
    pthread_mutex_unlock(&dev->cache_lock);
    hs_model_free(m);
    return bytes;
}

/* Evicts least recently used models other than keep until the cache is within limit. */
static void trim_to(hs_device *dev, size_t limit, const struct hs_model *keep)
{
    int v;
    while (cache_bytes(dev, NULL) > limit && (v = lru_slot(dev, keep)) >= 0)
        evict(dev, v);
}

/* The memory check of hs_device_model (device.h). `cached`: the slot of the model when it is
 * in the cache, else −1. 0 when the job fits (least recently used models evicted until it
 * does), -1 with err otherwise. */
static int make_room(hs_device *dev, int cached, const hs_memory_estimate *need, char *err,
                     size_t errlen)
{
    /* Only host memory is known: a device with its own memory is not queried, its
     * allocations report when they fail. */
    long long avail = dev->backend->caps.host_memory ? hs_available_memory_bytes() : -1;
    if (avail < 0)
        return 0;
    const struct hs_model *keep = cached >= 0 ? dev->slots[cached].model : NULL;
    size_t want = cached >= 0 ? sat_add(need->activations, need->training) : need->total;
    size_t held = cache_bytes(dev, keep);
    size_t room = sat_add((size_t)avail, held);
    if (want > room) {
        char est[320], have[96];
        hs_memory_estimate_describe(need, est, sizeof est);
        hs_memory_bytes_describe(room, have, sizeof have);
        if (cached >= 0) {
            char extra[96];
            hs_memory_bytes_describe(want, extra, sizeof extra);
            return hs_errf(err, errlen, "the job needs %s besides the cached model (estimate "
                           "%s) but %s are available (%lld bytes free, %zu bytes held by "
                           "other cached models)", extra, est, have, avail, held);
        }
        return hs_errf(err, errlen, "the job needs %s but %s are available (%lld bytes free, "
                       "%zu bytes held by cached models)", est, have, avail, held);
    }
    size_t freed = 0;
    int v;
    while (sat_add((size_t)avail, freed) < want && (v = lru_slot(dev, keep)) >= 0)
        freed = sat_add(freed, evict(dev, v));
    return 0;
}

/* Puts m into the cache; on failure frees m and returns -1 with err. */
static int add_slot(hs_device *dev, struct hs_model *m, size_t bytes, char *err, size_t errlen)
{
    pthread_mutex_lock(&dev->cache_lock);
    if (dev->n_slots == dev->cap_slots) {
        int cap = dev->cap_slots ? 2 * dev->cap_slots : 4;
        hs_device_cache_slot *bigger = realloc(dev->slots, (size_t)cap * sizeof *bigger);
        if (!bigger) {
            pthread_mutex_unlock(&dev->cache_lock);
            hs_model_free(m);
            return hs_errf(err, errlen, "out of memory for the model cache");
        }
        dev->slots = bigger;
        dev->cap_slots = cap;
    }
    dev->slots[dev->n_slots++] = (hs_device_cache_slot){.model = m, .bytes = bytes};
    pthread_mutex_unlock(&dev->cache_lock);
    return 0;
}

struct hs_model *hs_device_model(hs_device *dev, const char *path,
                                 const hs_memory_estimate *need, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        hs_errf(err, errlen, "model directory %s: %s", path, strerror(errno));
        return NULL;
    }
    refresh_bytes(dev);
    int i = find_path(dev, abs);
    if (i >= 0) {
        long long mtime = 0;
        if (hs_model_dir_mtime_ns(abs, &mtime, err, errlen) != 0)
            return NULL;
        if (mtime != dev->slots[i].model->files_mtime_ns) {
            evict(dev, i); /* files changed since the load */
            i = -1;
        }
    }
    if (need && make_room(dev, i, need, err, errlen) != 0)
        return NULL;
    if (i < 0) {
        /* a load: first the cache within its limit with room for the new model, so that the
         * models kept never add up past it */
        size_t bytes = need ? hs_memory_estimate_resident(need) : 0;
        trim_to(dev, dev->cache_limit > bytes ? dev->cache_limit - bytes : 0, NULL);
        struct hs_model *m = hs_model_load(abs, dev->backend, dev->bctx, err, errlen);
        if (!m || add_slot(dev, m, hs_model_resident_bytes(m), err, errlen) != 0)
            return NULL;
        i = dev->n_slots - 1;
    }
    struct hs_model *m = dev->slots[i].model;
    pthread_mutex_lock(&dev->cache_lock);
    dev->slots[i].used = ++dev->clock;
    dev->slots[i].last_used_ms = hs_now_ms();
    pthread_mutex_unlock(&dev->cache_lock);
    trim_to(dev, dev->cache_limit, m);
    return m;
}

void hs_device_drop_model(hs_device *dev, const struct hs_model *m)
{
    if (!dev)
        return;
    for (int i = dev->n_slots - 1; i >= 0; i--)
        if (!m || dev->slots[i].model == m)
            evict(dev, i);
}

int hs_device_recover(hs_device *dev, char *err, size_t errlen)
{
    if (!dev || !dev->backend->needs_reset || !dev->backend->needs_reset(dev->bctx))
        return 0;
    /* Freed before the reset: the backend refuses the frees of a faulted context, while after
     * a reset an old address could already belong to a new allocation. */
    hs_device_drop_model(dev, NULL);
    if (dev->backend->reset(dev->bctx) != 0)
        return hs_errf(err, errlen, "device %s faulted and could not be reset: %s", dev->spec,
                       dev->backend->last_error(dev->bctx));
    return 1;
}

void hs_device_set_cache_limit(hs_device *dev, size_t bytes)
{
    pthread_mutex_lock(&dev->cache_lock);
    dev->cache_limit = bytes;
    pthread_mutex_unlock(&dev->cache_lock);
    const struct hs_model *keep = NULL;
    uint64_t newest = 0;
    for (int i = 0; i < dev->n_slots; i++)
        if (dev->slots[i].used >= newest) {
            newest = dev->slots[i].used;
            keep = dev->slots[i].model;
        }
    trim_to(dev, bytes, keep);
}

int hs_device_cache_list(hs_device *dev, hs_device_cached_model *out, int max, size_t *limit,
                         size_t *used)
{
    pthread_mutex_lock(&dev->cache_lock);
    int n = dev->n_slots;
    *limit = dev->cache_limit;
    *used = cache_bytes(dev, NULL);
    /* most recently used first: repeatedly the newest not yet taken (n is small) */
    uint64_t below = UINT64_MAX;
    for (int k = 0; k < n && k < max; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (dev->slots[i].used < below &&
                (best < 0 || dev->slots[i].used > dev->slots[best].used))
                best = i;
        if (best < 0)
            break;
        below = dev->slots[best].used;
        snprintf(out[k].path, sizeof out[k].path, "%s", dev->slots[best].model->path);
        out[k].resident_bytes = dev->slots[best].bytes;
        out[k].last_used_ms = dev->slots[best].last_used_ms;
    }
    pthread_mutex_unlock(&dev->cache_lock);
    return n;
}
