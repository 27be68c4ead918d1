/* Files compiled into the binary (schema migrations under schema/, the dashboard under web/).
 * The table is generated at build time by daemon/embed_files.sh; lookups live in
 * embedded_files.c. Each file's bytes are followed by a NUL so SQL text can be used directly. */
#ifndef HS_EMBEDDED_FILES_H
#define HS_EMBEDDED_FILES_H
#include <stddef.h>

typedef struct hs_embedded_file {
    const char *path;          /* e.g. "schema/001_init.sql", "web/index.html" */
    const unsigned char *data; /* size bytes, then a NUL */
    size_t size;
} hs_embedded_file;

extern const hs_embedded_file hs_embedded_files[];
extern const size_t hs_embedded_count;

/* The embedded file with exactly this path, or NULL. */
const hs_embedded_file *hs_embedded_find(const char *path);

#endif
