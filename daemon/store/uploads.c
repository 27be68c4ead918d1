/* Uploaded corpora on disk (uploads.h). */
#include "uploads.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "data_dir.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTED 1024

bool hs_upload_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HS_UPLOAD_NAME_MAX || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

int hs_upload_store(const char *data_dir, const char *name, const void *data, size_t len,
                    char *err, size_t errlen)
{
    if (!hs_upload_name_valid(name))
        return hs_errf(err, errlen, "invalid upload name \"%.140s\"", name);
    char dir[4096], tmp[4096 + 320], final[4096 + 320];
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, name, (long)gettid());
    snprintf(final, sizeof final, "%s/%s", dir, name);
    if (hs_write_file_synced(tmp, data, len, err, errlen) != 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        hs_errf(err, errlen, "renaming %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    char ignored[HS_ERR_LEN];
    (void)hs_fsync_parent_dir(final, ignored, sizeof ignored); /* best effort, as before */
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)a, "name")),
                  cJSON_GetStringValue(cJSON_GetObjectItem(*(cJSON *const *)b, "name")));
}

/* {name: "upload:<file>", bytes} of a regular file in dir, or NULL (not one, out of memory). */
static cJSON *upload_json(const char *dir, const char *file)
{
    char path[4096 + 320], full[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    snprintf(full, sizeof full, "upload:%s", file);
    cJSON_AddStringToObject(o, "name", full);
    cJSON_AddNumberToObject(o, "bytes", (double)sb.st_size);
    return o;
}

int hs_uploads_list_json(const char *data_dir, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    char dir[4096];
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    cJSON **items = calloc(MAX_LISTED, sizeof *items);
    if (!items)
        return hs_errf(err, errlen, "out of memory listing uploads");
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_LISTED) {
            if (e->d_name[0] == '.')
                continue;
            cJSON *o = upload_json(dir, e->d_name);
            if (o)
                items[n++] = o;
        }
        closedir(d);
    }
    qsort(items, n, sizeof items[0], by_name);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            cJSON_AddItemToArray(arr, items[i]);
        else
            cJSON_Delete(items[i]);
    }
    free(items);
    if (!arr)
        return hs_errf(err, errlen, "out of memory listing uploads");
    *out = arr;
    return 0;
}

/* ".NAME.tmp.<digits>": the temporary file of an upload of NAME (hs_upload_store). */
static bool is_temp_name(const char *entry)
{
    if (entry[0] != '.')
        return false;
    const char *mark = strstr(entry + 1, ".tmp.");
    if (!mark || mark == entry + 1 || !mark[5])
        return false;
    for (const char *p = mark + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int hs_uploads_sweep_temp(const char *data_dir, int *removed, char *err, size_t errlen)
{
    *removed = 0;
    char dir[4096];
    if (hs_data_uploads_dir(data_dir, dir, sizeof dir, err, errlen) != 0)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : hs_errf(err, errlen, "cannot read %s: %s", dir,
                                             strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_temp_name(e->d_name))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            (*removed)++;
        else if (errno != ENOENT && rc == 0)
            rc = hs_errf(err, errlen, "cannot remove %s/%s: %s", dir, e->d_name,
                         strerror(errno));
    }
    closedir(d);
    return rc;
}
