/* Disk usage of the data directory, by what the bytes belong to: run directories (outside
 * their checkpoints), checkpoints, corpora under --corpus-root that are not uploads, uploaded
 * corpora, job logs and the database (with its WAL and shared-memory files), plus the free
 * bytes of the data directory's filesystem. Bytes are the sizes of regular files (what
 * `du --apparent-size -b` counts for files; directories themselves are not counted). */
#ifndef HS_STORAGE_H
#define HS_STORAGE_H
#include "data_dir.h"
#include <stdint.h>

typedef struct hs_storage_usage {
    int64_t runs, checkpoints, corpora, uploads, logs, database;
    int64_t free_bytes; /* available to the daemon (statvfs f_bavail) */
} hs_storage_usage;

/* 0, or -1 with err (statvfs of the data dir failed). */
int hs_storage_usage_get(const hs_roots *roots, hs_storage_usage *out, char *err,
                         size_t errlen);
/* Bytes of run_id's run directory (0 when it has none). */
int64_t hs_run_bytes_on_disk(const hs_roots *roots, int64_t run_id);

#endif
