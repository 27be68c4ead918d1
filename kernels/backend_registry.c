/* The table of compiled-in backends and lookup by name. Owns nothing else. */
#include "ops.h"
#include <string.h>

static const hs_backend *const backends[] = {
    &hs_cpu_backend,
#ifdef HS_HAVE_CUDA
    &hs_cuda_backend,
#endif
};

const hs_backend *hs_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const char *hs_backend_list(void)
{
#ifdef HS_HAVE_CUDA
    return "cpu,cuda";
#else
    return "cpu";
#endif
}

const hs_backend *hs_backend_at(size_t i)
{
    return i < sizeof backends / sizeof backends[0] ? backends[i] : NULL;
}
