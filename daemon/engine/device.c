/* A worker's compute device (device.h): the spec parsed ("cpu" | "cuda:N"), the backend found
 * and initialised, and a one-model cache keyed by the model directory's absolute path and its
 * files' newest mtime. Runs no compute itself. */
#include "device.h"
#include "engine/model/model.h"
#include "common/errors.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "cpu" → ("cpu", 0); "cuda:N" → ("cuda", N). */
static int parse_spec(const char *spec, char *backend, size_t backend_len, int *index, char *err,
                      size_t errlen)
{
    if (strcmp(spec, "cpu") == 0) {
        snprintf(backend, backend_len, "cpu");
        *index = 0;
        return 0;
    }
    if (strncmp(spec, "cuda:", 5) == 0 && spec[5] >= '0' && spec[5] <= '9') {
        char *end = NULL;
        errno = 0;
        long n = strtol(spec + 5, &end, 10);
        if (errno == 0 && *end == '\0' && n >= 0 && n <= 1024) {
            snprintf(backend, backend_len, "cuda");
            *index = (int)n;
            return 0;
        }
    }
    return hs_errf(err, errlen, "device '%s': expected \"cpu\" or \"cuda:N\"", spec);
}

hs_device *hs_device_open(const char *spec, char *err, size_t errlen)
{
    if (!spec)
        spec = "cpu";
    char name[16];
    int index = 0;
    if (strlen(spec) >= sizeof ((hs_device *)0)->spec) {
        hs_errf(err, errlen, "device '%.40s...': spec too long", spec);
        return NULL;
    }
    if (parse_spec(spec, name, sizeof name, &index, err, errlen) != 0)
        return NULL;
    const hs_backend *be = hs_backend_find(name);
    if (!be) {
        hs_errf(err, errlen,
                "device '%s': the %s backend is not compiled into this build (compiled: %s)", spec,
                name, hs_backend_list());
        return NULL;
    }
    char why[HS_ERR_LEN] = "";
    hs_backend_ctx *ctx = be->init(index, why, sizeof why);
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
