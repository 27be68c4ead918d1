/* A job spec's texts: the inline array or the lines of a corpus file (job_texts.h). */
#include "texts.h"
#include "common/errors.h"
#include "spec.h"
#include <ctype.h>
#include "store/paths.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_job_texts_free(char **texts, int n)
{
    for (int i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
}

static int copy_text_array(const cJSON *arr, const char *field, char ***out, int *n, char *err,
                           size_t errlen)
{
    int count = cJSON_GetArraySize(arr);
    char **t = calloc(count > 0 ? (size_t)count : 1, sizeof *t);
    if (!t)
        return hs_errf(err, errlen, "%s: out of memory", field);
    for (int i = 0; i < count; i++) {
        const cJSON *item = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(item)) {
            hs_job_texts_free(t, i);
            return hs_errf(err, errlen, "%s[%d] must be a string", field, i);
        }
        if (!(t[i] = strdup(item->valuestring))) {
            hs_job_texts_free(t, i);
            return hs_errf(err, errlen, "%s: out of memory", field);
        }
    }
    *out = t;
    *n = count;
    return 0;
}

/* One text per non-empty line of the corpus file `name` (the value of `field`). */
static int read_text_lines(const hs_kind_env *env, const char *field, const char *name,
                           char ***out, int *n, char *err, size_t errlen)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (hs_resolve_corpus(env, name, path, sizeof path, why, sizeof why) != 0)
        return hs_errf(err, errlen, "%s: %s", field, why);
    FILE *f = fopen(path, "r");
    if (!f)
        return hs_errf(err, errlen, "%s \"%s\": %s", field, name, strerror(errno));
    char *line = NULL, **t = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0, alloc = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (count == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            char **bigger = realloc(t, (size_t)alloc * sizeof *t);
            if (!bigger) {
                rc = hs_errf(err, errlen, "%s \"%s\": out of memory", field, name);
                break;
            }
            t = bigger;
        }
        if (!(t[count] = strdup(line))) {
            rc = hs_errf(err, errlen, "%s \"%s\": out of memory", field, name);
            break;
        }
        count++;
    }
    if (rc == 0 && ferror(f))
        rc = hs_errf(err, errlen, "%s \"%s\": read error", field, name);
    free(line);
    fclose(f);
    if (rc == 0 && count == 0)
        rc = hs_errf(err, errlen, "%s \"%s\" holds no text (one text per non-empty line)", field,
                     name);
    if (rc != 0) {
        hs_job_texts_free(t, count);
        return -1;
    }
    *out = t;
    *n = count;
    return 0;
}

int hs_job_texts_load(const cJSON *spec, const hs_kind_env *env, const char *array_field,
                      const char *file_field, char ***texts, int *n, char *err, size_t errlen)
{
    *texts = NULL;
    *n = 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(spec, array_field);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, file_field);
    if (cJSON_IsArray(arr))
        return copy_text_array(arr, array_field, texts, n, err, errlen);
    if (cJSON_IsString(file))
        return read_text_lines(env, file_field, file->valuestring, texts, n, err, errlen);
    return hs_errf(err, errlen, "%s: one of %s or %s is required", array_field, array_field,
                   file_field);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* 1 when the file at path holds only whitespace, 0 when not, -1 when unreadable. */
static int file_blank(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[4096];
    size_t n;
    int rc = 1;
    while (rc == 1 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (!blank(buf, n))
            rc = 0;
    fclose(f);
    return rc;
}

int hs_job_texts_check_blank(const cJSON *spec, const hs_kind_env *env, const char *array_field,
                             const char *file_field, hs_spec_error *e)
{
    const cJSON *t;
    int i = 0;
    const cJSON *array = array_field ? cJSON_GetObjectItemCaseSensitive(spec, array_field) : NULL;
    cJSON_ArrayForEach(t, array)
    {
        if (cJSON_IsString(t) && blank(t->valuestring, strlen(t->valuestring)))
            return hs_spec_errorf(e, array_field, "%s[%d] is empty or only whitespace",
                                  array_field, i);
        i++;
    }
    const cJSON *file = file_field ? cJSON_GetObjectItemCaseSensitive(spec, file_field) : NULL;
    char path[PATH_MAX], why[HS_ERR_LEN];
    if (cJSON_IsString(file) &&
        hs_resolve_corpus(env, file->valuestring, path, sizeof path, why, sizeof why) == 0 &&
        file_blank(path) == 1)
        return hs_spec_errorf(e, file_field, "%s \"%s\" is empty or only whitespace",
                              file_field, file->valuestring);
    return 0;
}
