/* Where the files of a stored checkpoint are, for serving them: the checkpoint must have a
 * row and its run must not be deleted; the directory is the one of this database's layout
 * (runs/<id>-<instance>/checkpoints/<name>, data_dir.h), never a path read from a row. */
#ifndef HS_CHECKPOINT_FILES_H
#define HS_CHECKPOINT_FILES_H
#include "data_dir.h"
#include "store.h"
#include <stdint.h>

/* 1 with the directory in out; 0 with why (no such run or checkpoint, or its files are
 * missing); -1 with err. */
int hs_checkpoint_files_dir(hs_db *db, const hs_roots *roots, int64_t run_id, const char *name,
                            char *out, size_t outlen, char *why, size_t whylen, char *err,
                            size_t errlen);

#endif
