/* A worker's compute device (device.h): the one parser of device specs ("cpu" | "cuda:N"),
 * the backend found and initialised, and a one-model cache keyed by the model directory's
 * absolute path and its files' newest mtime. Runs no compute itself. */
#include "device.h"
#include "engine/model/model.h"
#include "common/errors.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return dev;
}

void hs_device_close(hs_device *dev)
{
    if (!dev)
        return;
    hs_device_drop_model(dev);
    dev->backend->shutdown(dev->bctx);
    free(dev);
}

const char *hs_device_describe(hs_device *dev)
{
    return dev->backend->describe(dev->bctx);
}

struct hs_model *hs_device_model(hs_device *dev, const char *path, char *err,
                                       size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        hs_errf(err, errlen, "model directory %s: %s", path, strerror(errno));
        return NULL;
    }
    if (dev->cached && strcmp(dev->cached->path, abs) == 0) {
        long long mtime = 0;
        if (hs_model_dir_mtime_ns(abs, &mtime, err, errlen) != 0)
            return NULL;
        if (mtime == dev->cached->files_mtime_ns)
            return dev->cached;
    }
    /* A different model, or files changed since the load: free first so that two models
     * never need to fit on the device at once. */
    hs_device_drop_model(dev);
    dev->cached = hs_model_load(abs, dev->backend, dev->bctx, err, errlen);
    return dev->cached;
}

void hs_device_drop_model(hs_device *dev)
{
    if (dev && dev->cached) {
        hs_model_free(dev->cached);
        dev->cached = NULL;
    }
}
