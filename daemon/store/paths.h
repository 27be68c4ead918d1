/* Resolution of the names a job spec may contain into files, never escaping their roots:
 * a model is a directory under --model-root or a checkpoint of an earlier run
 * ("run:<id>/<checkpoint>", under <data-dir>/runs/<id>/checkpoints/); a corpus or text file is
 * a file under --corpus-root or an uploaded corpus ("upload:<name>", under
 * <data-dir>/corpora/). `..`, absolute paths, and symlinks that lead outside the root are
 * refused; for a model also a symlink inside its directory that takes a file the loader or a
 * surgery opens (config, tokenizer files, weights, shard index, shards) outside the root.
 * Results are absolute, symlink-free paths. */
#ifndef HS_PATHS_H
#define HS_PATHS_H
#include "data_dir.h"
#include <stddef.h>

int hs_resolve_model(const hs_roots *env, const char *name, char *path, size_t pathlen,
                     char *err, size_t errlen);
int hs_resolve_corpus(const hs_roots *env, const char *name, char *path, size_t pathlen,
                      char *err, size_t errlen);
/* Resolves `name` (relative) under `root`: the low-level check behind the two above. */
int hs_resolve_under(const char *root, const char *name, char *path, size_t pathlen, char *err,
                     size_t errlen);

#endif
