/* Lookup over the files compiled into the binary (see embedded_files.h). */
#include "embedded_files.h"
#include <string.h>

const hs_embedded_file *hs_embedded_find(const char *path)
{
    for (size_t i = 0; i < hs_embedded_count; i++)
        if (strcmp(hs_embedded_files[i].path, path) == 0)
            return &hs_embedded_files[i];
    return NULL;
}
