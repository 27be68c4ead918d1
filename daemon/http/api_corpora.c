/* Uploaded corpora: POST /api/v1/corpora?name=NAME stores the raw body atomically under
 * <data-dir>/corpora/NAME (temporary file ".NAME.tmp.<thread>", fsync, rename; the temporary
 * file is removed on every failure); GET lists them. They are used in specs as "upload:NAME".
 * At start-up hs_api_corpora_sweep removes temporary files an interrupted upload (a crash, a
 * kill) left behind. */
#include "api.h"
#include "common/errors.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* ".NAME.tmp.<digits>": the temporary file of an upload of NAME. */
static bool is_temp_name(const char *entry)
{
    if (entry[0] != '.')
        return false;
    const char *mark = strstr(entry + 1, ".tmp.");
    if (!mark || mark == entry + 1)
        return false;
    const char *p = mark + 5;
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int hs_api_corpora_sweep(const char *data_dir, int *removed, char *err, size_t errlen)
{
    *removed = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/corpora", data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : hs_errf(err, errlen, "cannot read %s: %s", dir,
                                             strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_temp_name(e->d_name))
            continue;
        char path[4096 + 320];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            (*removed)++;
        else if (errno != ENOENT && rc == 0)
            rc = hs_errf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

static int write_atomically(const char *dir, const char *name, const char *data, size_t len,
                            char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    char tmp[4096 + 320], final[4096 + 320];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, name, (long)gettid());
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            hs_errf(err, errlen, "writing %s: %s", tmp, w < 0 ? strerror(errno) : "no progress");
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)w;
    }
    /* close even when fsync failed: the descriptor is never leaked */
    int synced = fsync(fd) == 0 ? 0 : errno;
    int closed = close(fd) == 0 ? 0 : errno;
    if (synced || closed) {
        hs_errf(err, errlen, "flushing %s: %s", tmp, strerror(synced ? synced : closed));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        hs_errf(err, errlen, "renaming %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

void hs_api_corpora_upload(hs_req *req, hs_resp *resp)
{
    const char *name = hs_req_query(req, "name");
    if (!name)
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "the query parameter name is required (POST /api/v1/corpora?name=NAME)");
    if (!valid_name(name))
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not start with '.'");
    if (req->body_len == 0)
        return hs_resp_error(resp, 400, "empty corpus", NULL, "the request body (the text) is empty");
    char dir[4096], err[HS_ERR_LEN];
    snprintf(dir, sizeof dir, "%s/corpora", req->app->env.data_dir);
    if (write_atomically(dir, name, req->body, req->body_len, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        char full[200];
        snprintf(full, sizeof full, "upload:%s", name);
        cJSON_AddStringToObject(o, "name", full);
        cJSON_AddNumberToObject(o, "bytes", (double)req->body_len);
    }
    hs_resp_json(resp, 201, o);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)a, "name")),
                  cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)b, "name")));
}

void hs_api_corpora_list(hs_req *req, hs_resp *resp)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/corpora", req->app->env.data_dir);
    cJSON *items[1024];
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < sizeof items / sizeof items[0]) {
            if (e->d_name[0] == '.')
                continue;
            char path[4352];
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
                continue;
            cJSON *o = cJSON_CreateObject();
            if (!o)
                break;
            char full[300];
            snprintf(full, sizeof full, "upload:%s", e->d_name);
            cJSON_AddStringToObject(o, "name", full);
            cJSON_AddNumberToObject(o, "bytes", (double)sb.st_size);
            items[n++] = o;
        }
        closedir(d);
    }
    qsort(items, n, sizeof items[0], by_name);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "corpora") : NULL;
    for (size_t i = 0; i < n; i++) {
        if (arr)
            cJSON_AddItemToArray(arr, items[i]);
        else
            cJSON_Delete(items[i]);
    }
    hs_resp_json(resp, 200, o);
}
