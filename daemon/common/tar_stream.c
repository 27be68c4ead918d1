/* A directory as a pull-driven tar stream (tar_stream.h): libarchive writes into a pending
 * buffer through its write callback, and each read advances the archive by one step (a
 * header, a chunk of file data, or the trailer) only once that buffer is drained. */
#include "tar_stream.h"
#include "errors.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 4096
#define CHUNK (64 * 1024)

enum tar_step { STEP_DIR, STEP_HEADER, STEP_DATA, STEP_DONE };

struct hs_tar_stream {
    struct archive *a;
    char dir[PATH_MAX], prefix[256];
    char **names;
    int n_names, next;
    enum tar_step step;
    int fd;
    off_t remaining;
    char *pending;          /* archive bytes not yet handed out */
    size_t pending_len, pending_off, pending_cap;
    char chunk[CHUNK];
    char error[HS_ERR_LEN];
};

static la_ssize_t on_write(struct archive *a, void *arg, const void *buf, size_t n)
{
    hs_tar_stream *t = arg;
    (void)a;
    if (t->pending_len + n > t->pending_cap) {
        size_t cap = t->pending_len + n;
        char *grown = realloc(t->pending, cap);
        if (!grown)
            return -1;
        t->pending = grown;
        t->pending_cap = cap;
    }
    memcpy(t->pending + t->pending_len, buf, n);
    t->pending_len += n;
    return (la_ssize_t)n;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of t->dir into t->names, sorted. 0, or -1 with err. */
static int list_files(hs_tar_stream *t, char *err, size_t errlen)
{
    DIR *d = opendir(t->dir);
    if (!d)
        return hs_errf(err, errlen, "cannot list the directory: %s", strerror(errno));
    t->names = calloc(MAX_FILES, sizeof *t->names);
    struct dirent *e;
    int rc = t->names ? 0 : hs_errf(err, errlen, "out of memory");
    while (rc == 0 && (e = readdir(d))) {
        char path[PATH_MAX + 260];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", t->dir, e->d_name);
        if (e->d_name[0] == '.' || lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (t->n_names == MAX_FILES)
            rc = hs_errf(err, errlen, "more than %d files", MAX_FILES);
        else if (!(t->names[t->n_names++] = strdup(e->d_name)))
            rc = hs_errf(err, errlen, "out of memory");
    }
    closedir(d);
    if (rc == 0)
        qsort(t->names, (size_t)t->n_names, sizeof *t->names, by_name);
    return rc;
}

hs_tar_stream *hs_tar_stream_open(const char *dir, const char *prefix, char *err, size_t errlen)
{
    hs_tar_stream *t = calloc(1, sizeof *t);
    if (!t) {
        hs_errf(err, errlen, "out of memory");
        return NULL;
    }
    t->fd = -1;
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
    if (list_files(t, err, errlen) != 0) {
        hs_tar_stream_close(t);
        return NULL;
    }
    t->a = archive_write_new();
    if (!t->a || archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
        archive_write_open2(t->a, t, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
        hs_errf(err, errlen, "libarchive: %s", t->a ? archive_error_string(t->a) : "out of memory");
        hs_tar_stream_close(t);
        return NULL;
    }
    return t;
}

/* A header of the given type, name (below the prefix; "" for the prefix itself) and size. */
static int write_header(hs_tar_stream *t, const char *name, mode_t type, off_t size)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return hs_errf(t->error, sizeof t->error, "out of memory");
    char path[600];
    snprintf(path, sizeof path, "%s/%s", t->prefix, name);
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
    archive_entry_set_mtime(e, 0, 0);
    int rc = archive_write_header(t->a, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK)
        return hs_errf(t->error, sizeof t->error, "libarchive: %s", archive_error_string(t->a));
    return 0;
}

/* Opens the next file and writes its header, or the trailer when none is left. */
static int next_file(hs_tar_stream *t)
{
    if (t->next == t->n_names) {
        t->step = STEP_DONE;
        if (archive_write_close(t->a) != ARCHIVE_OK)
            return hs_errf(t->error, sizeof t->error, "libarchive: %s",
                           archive_error_string(t->a));
        return 0;
    }
    const char *name = t->names[t->next];
    char path[PATH_MAX + 260];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    t->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (t->fd < 0 || fstat(t->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return hs_errf(t->error, sizeof t->error, "%s: %s", name,
                       t->fd < 0 ? strerror(errno) : "not a regular file");
    t->remaining = sb.st_size;
    t->step = STEP_DATA;
    return write_header(t, name, AE_IFREG, sb.st_size);
}

/* One chunk of the open file's data; its end moves on to the next file. */
static int file_data(hs_tar_stream *t)
{
    size_t want = t->remaining < CHUNK ? (size_t)t->remaining : CHUNK;
    ssize_t n = want ? read(t->fd, t->chunk, want) : 0;
    if (n < 0 || (n == 0 && want > 0))
        return hs_errf(t->error, sizeof t->error, "%s: %s", t->names[t->next],
                       n < 0 ? strerror(errno) : "the file shrank while it was archived");
    if (n > 0 && archive_write_data(t->a, t->chunk, (size_t)n) != n)
        return hs_errf(t->error, sizeof t->error, "libarchive: %s", archive_error_string(t->a));
    t->remaining -= n;
    if (t->remaining == 0) {
        close(t->fd);
        t->fd = -1;
        t->next++;
        t->step = STEP_HEADER;
    }
    return 0;
}

/* One step of the archive. */
static int advance(hs_tar_stream *t)
{
    switch (t->step) {
    case STEP_DIR:
        t->step = STEP_HEADER;
        return write_header(t, "", AE_IFDIR, 0);
    case STEP_HEADER:
        return next_file(t);
    case STEP_DATA:
        return file_data(t);
    case STEP_DONE:
        break;
    }
    return 0;
}

ssize_t hs_tar_stream_read(hs_tar_stream *t, char *buf, size_t max)
{
    if (t->error[0])
        return -1;
    while (t->pending_off == t->pending_len && t->step != STEP_DONE) {
        t->pending_off = t->pending_len = 0;
        if (advance(t) != 0)
            return -1;
    }
    size_t n = t->pending_len - t->pending_off;
    if (n > max)
        n = max;
    memcpy(buf, t->pending + t->pending_off, n);
    t->pending_off += n;
    return (ssize_t)n;
}

const char *hs_tar_stream_error(const hs_tar_stream *t) { return t->error; }

void hs_tar_stream_close(hs_tar_stream *t)
{
    if (!t)
        return;
    if (t->a)
        archive_write_free(t->a);
    if (t->fd >= 0)
        close(t->fd);
    for (int i = 0; i < t->n_names; i++)
        free(t->names[i]);
    free(t->names);
    free(t->pending);
    free(t);
}
