/* Whole files on disk: reading, durable writing, fsync of entries, making directories and
 * removing trees (file_io.h). */
#include "file_io.h"
#include "errors.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "16 MiB", "1 GiB" or "N bytes". */
static void format_size(size_t bytes, char *out, size_t outlen)
{
    if (bytes % (1u << 30) == 0)
        snprintf(out, outlen, "%zu GiB", bytes >> 30);
    else if (bytes % (1u << 20) == 0)
        snprintf(out, outlen, "%zu MiB", bytes >> 20);
    else
        snprintf(out, outlen, "%zu bytes", bytes);
}

char *hs_read_file(const char *path, const char *what, size_t max, size_t *len, char *err,
                   size_t errlen)
{
    const char *name = what ? what : path;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        hs_errf(err, errlen, "%s: cannot open: %s", name, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool too_large = false, no_memory = false, read_error = false;
    for (;;) {
        if (n == cap) {
            if (max > 0 && cap > max) { /* more than max bytes read already */
                too_large = true;
                break;
            }
            size_t bigger = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, bigger + 1);
            if (!nb) {
                no_memory = true;
                break;
            }
            buf = nb;
            cap = bigger;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            read_error = ferror(fp) != 0;
            break;
        }
    }
    fclose(fp);
    if (max > 0 && n > max)
        too_large = true;
    if (too_large || no_memory || read_error) {
        free(buf);
        char limit[32];
        format_size(max, limit, sizeof limit);
        if (too_large)
            hs_errf(err, errlen, "%s: larger than %s", name, limit);
        else
            hs_errf(err, errlen, "%s: %s", name, no_memory ? "out of memory" : "read error");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int hs_write_file_synced(const char *path, const void *data, size_t len, char *err,
                         size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            return hs_errf(err, errlen, "%s: write failed: %s", path, strerror(saved));
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        return hs_errf(err, errlen, "%s: fsync failed: %s", path, strerror(saved));
    }
    if (close(fd) != 0)
        return hs_errf(err, errlen, "%s: close failed: %s", path, strerror(errno));
    return 0;
}

int hs_fsync_path(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return hs_errf(err, errlen, "%s: fsync failed: %s", path, strerror(saved));
    return 0;
}

int hs_fsync_parent_dir(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return hs_errf(err, errlen, "%s: path too long", path);
    return hs_fsync_path(dir, err, errlen);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int hs_remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int hs_make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return hs_errf(err, errlen, "path too long: %.200s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return hs_errf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}
