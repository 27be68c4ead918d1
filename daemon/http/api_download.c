/* Downloads of a checkpoint: GET .../checkpoints/{name}/archive streams the directory as a tar
 * ("<name>/<file>", common/tar_stream.h) that unpacks into a directory transformers loads;
 * GET .../checkpoints/{name}/files/{file} serves one file with single-range support
 * (Range: bytes=a-b, a-, -n; 206 with Content-Range, 416 when unsatisfiable; a multi-range
 * or malformed Range gets the whole file). Both are pulled by libmicrohttpd as it sends
 * them: constant memory, no temporary copy. */
#include "api.h"
#include "common/errors.h"
#include "common/tar_stream.h"
#include "store/checkpoint_files.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The checkpoint's directory into dir; false after answering 404/500. */
static bool checkpoint_dir(hs_req *req, hs_resp *resp, char *dir, size_t dirlen)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return false;
    char why[512], err[HS_ERR_LEN];
    int rc = hs_checkpoint_files_dir(db, &req->app->env, req->id, req->names[0], dir, dirlen,
                                     why, sizeof why, err, sizeof err);
    if (rc < 0)
        hs_resp_internal(resp, err);
    else if (rc == 0)
        hs_resp_error(resp, 404, "not found", NULL, "%s", why);
    return rc == 1;
}

static ssize_t tar_read(void *arg, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = hs_tar_stream_read(arg, buf, max);
    if (n < 0)
        fprintf(stderr, "surgeond: checkpoint archive: %s\n", hs_tar_stream_error(arg));
    return n > 0 ? n : n == 0 ? HS_STREAM_END : HS_STREAM_ERROR;
}

static void tar_free(void *arg) { hs_tar_stream_close(arg); }

void hs_api_checkpoint_archive(hs_req *req, hs_resp *resp)
{
    char dir[PATH_MAX], err[HS_ERR_LEN];
    if (!checkpoint_dir(req, resp, dir, sizeof dir))
        return;
    hs_tar_stream *t = hs_tar_stream_open(dir, req->names[0], err, sizeof err);
    if (!t)
        return hs_resp_internal(resp, err);
    resp->status = 200;
    resp->content_type = "application/x-tar";
    snprintf(resp->disposition, sizeof resp->disposition,
             "attachment; filename=\"run-%lld-%s.tar\"", (long long)req->id, req->names[0]);
    resp->stream_read = tar_read;
    resp->stream_free = tar_free;
    resp->stream_arg = t;
    resp->stream_size = HS_STREAM_SIZE_UNKNOWN;
}

typedef struct file_part {
    int fd;
    uint64_t start;
} file_part;

static ssize_t part_read(void *arg, uint64_t pos, char *buf, size_t max)
{
    file_part *p = arg;
    ssize_t n = pread(p->fd, buf, max, (off_t)(p->start + pos));
    return n > 0 ? n : n == 0 ? HS_STREAM_END : HS_STREAM_ERROR;
}

static void part_free(void *arg)
{
    file_part *p = arg;
    close(p->fd);
    free(p);
}

/* An unsigned decimal at *s (advanced past it); false when there is none or it overflows. */
static bool parse_u64(const char **s, uint64_t *v)
{
    if (**s < '0' || **s > '9')
        return false;
    *v = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++) {
        if (*v > (UINT64_MAX - 9) / 10)
            return false;
        *v = *v * 10 + (uint64_t)(**s - '0');
    }
    return true;
}

int hs_http_parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *s = h + 6;
    uint64_t a = 0, b = UINT64_MAX;
    if (*s == '-') { /* the last n bytes */
        s++;
        if (!parse_u64(&s, &b) || *s)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (!parse_u64(&s, &a) || *s++ != '-')
        return 0;
    if (*s && (!parse_u64(&s, &b) || *s || b < a))
        return 0;
    if (a >= size)
        return -1;
    *first = a;
    *last = b < size - 1 ? b : size - 1;
    return 1;
}

/* Opens the checkpoint's file {file}: its descriptor, or -1 after answering 404. */
static int open_file(hs_req *req, hs_resp *resp, const char *dir, struct stat *sb)
{
    char path[PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", dir, req->names[1]);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, sb) == 0 && S_ISREG(sb->st_mode))
        return fd;
    if (fd >= 0)
        close(fd);
    hs_resp_error(resp, 404, "not found", NULL, "checkpoint \"%s\" of run %lld has no file \"%s\"",
                  req->names[0], (long long)req->id, req->names[1]);
    return -1;
}

void hs_api_checkpoint_file(hs_req *req, hs_resp *resp)
{
    char dir[PATH_MAX];
    struct stat sb;
    if (!checkpoint_dir(req, resp, dir, sizeof dir))
        return;
    int fd = open_file(req, resp, dir, &sb);
    if (fd < 0)
        return;
    uint64_t size = (uint64_t)sb.st_size, first = 0, last = size ? size - 1 : 0;
    int range = hs_http_parse_range(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Range"),
                            size, &first, &last);
    if (range < 0) {
        close(fd);
        hs_resp_error(resp, 416, "range not satisfiable", NULL,
                      "the file has %" PRIu64 " bytes", size);
        snprintf(resp->content_range, sizeof resp->content_range, "bytes */%" PRIu64, size);
        return;
    }
    file_part *p = malloc(sizeof *p);
    if (!p) {
        close(fd);
        return hs_resp_internal(resp, "out of memory");
    }
    *p = (file_part){.fd = fd, .start = first};
    resp->status = range ? 206 : 200;
    resp->content_type = "application/octet-stream";
    resp->accept_ranges = true;
    if (range)
        snprintf(resp->content_range, sizeof resp->content_range,
                 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
    resp->stream_read = part_read;
    resp->stream_free = part_free;
    resp->stream_arg = p;
    resp->stream_size = size ? last - first + 1 : 0;
}
