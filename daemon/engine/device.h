/* A compute device as a worker owns it: one backend context (cpu or cuda:N) and a small cache
 * of loaded models, so consecutive jobs on the same model do not reload it (keyed by the
 * model directory's path and its files' mtimes). One device is used by one thread at a time. */
#ifndef HS_DEVICE_H
#define HS_DEVICE_H
#include "ops.h"
#include <stddef.h>

struct hs_model;

typedef struct hs_device {
    char spec[32];              /* "cpu", "cuda:0" as given to --device */
    const hs_backend *backend;
    hs_backend_ctx *bctx;
    struct hs_model *cached; /* the last loaded model, or NULL */
} hs_device;

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
 * ownership; the pointer stays valid until the next hs_device_model() call or close. */
struct hs_model *hs_device_model(hs_device *dev, const char *path, char *err,
                                       size_t errlen);
/* Drops the cached model (e.g. after a surgery changed weights in place). */
void hs_device_drop_model(hs_device *dev);

#endif
