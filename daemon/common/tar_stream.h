/* A directory as a tar stream produced piece by piece (libarchive, ustar/pax): the regular
 * files directly in the directory, sorted by name, each as "<prefix>/<file>" after a
 * "<prefix>/" directory entry. Memory stays constant whatever the files' sizes (one
 * libarchive block, one read buffer): the caller pulls bytes as it sends them, and no copy
 * of the directory or of the archive is made. The file list is taken at open; a file that
 * vanishes or shrinks afterwards fails the stream. */
#ifndef HS_TAR_STREAM_H
#define HS_TAR_STREAM_H
#include <stddef.h>
#include <sys/types.h>

typedef struct hs_tar_stream hs_tar_stream;

/* NULL with err when dir cannot be listed or holds more than 4096 files. */
hs_tar_stream *hs_tar_stream_open(const char *dir, const char *prefix, char *err, size_t errlen);
/* Up to max bytes of the archive into buf: the count (> 0), 0 at the end, -1 on an error
 * (hs_tar_stream_error says which). */
ssize_t hs_tar_stream_read(hs_tar_stream *t, char *buf, size_t max);
const char *hs_tar_stream_error(const hs_tar_stream *t);
void hs_tar_stream_close(hs_tar_stream *t);

#endif
