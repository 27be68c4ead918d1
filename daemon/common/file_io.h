/* Whole files on disk, as the model-format readers and writers (config.json, tokenizer.json,
 * the safetensors index, the demo model) and the surgery (its corpus, checkpoints and their
 * state files) handle them: reading one into memory, writing one durably (fsync), syncing a
 * file or directory entry, creating a directory with its parents, and removing a tree. */
#ifndef HS_FILE_IO_H
#define HS_FILE_IO_H
#include <stddef.h>

/* The file at path, NUL-terminated, its length (without the NUL) in *len. max > 0 refuses a
 * file larger than max bytes. NULL with err naming `what` (the path when what is NULL): cannot
 * open (with the system's reason), larger than max, out of memory, read error. */
char *hs_read_file(const char *path, const char *what, size_t max, size_t *len, char *err,
                   size_t errlen);

/* Creates (or truncates) path with the len bytes of data, fsyncs and closes it. 0, or -1 with
 * err naming the path and the step that failed. */
int hs_write_file_synced(const char *path, const void *data, size_t len, char *err,
                         size_t errlen);

/* fsync of the file or directory at path. 0, or -1 with err. */
int hs_fsync_path(const char *path, char *err, size_t errlen);
/* fsync of the directory holding path (its entry for path made durable). 0, or -1 with err. */
int hs_fsync_parent_dir(const char *path, char *err, size_t errlen);

/* mkdir -p: creates path and its missing parents (mode 0755). 0, or -1 with err naming the
 * directory that could not be made. */
int hs_make_dirs(const char *path, char *err, size_t errlen);

/* Removes path and, for a directory, everything under it. 0, or -1 when something could not be
 * removed (a missing path included). */
int hs_remove_tree(const char *path);

#endif
