/* Validation of a run's metadata fields: name, tags, notes (spec_meta.h). */
#include "spec_meta.h"
#include "spec.h"
#include "common/utf8.h"
#include <string.h>

bool hs_spec_is_meta_field(const char *name)
{
    return strcmp(name, "name") == 0 || strcmp(name, "tags") == 0 || strcmp(name, "notes") == 0;
}

bool hs_run_tag_valid(const char *tag)
{
    size_t n = strlen(tag);
    if (n < 1 || n > HS_RUN_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static int check_name(const cJSON *v, hs_spec_error *e)
{
    if (!cJSON_IsString(v))
        return hs_spec_errorf(e, "name", "name must be a string (or null to clear it)");
    size_t bytes = strlen(v->valuestring), n = 0;
    if (!hs_utf8_valid(v->valuestring, bytes))
        return hs_spec_errorf(e, "name", "name must be UTF-8 text");
    for (size_t i = 0; i < bytes; i++) /* characters: every byte but continuation bytes */
        n += ((unsigned char)v->valuestring[i] & 0xC0) != 0x80;
    if (n < 1 || n > HS_RUN_NAME_MAX)
        return hs_spec_errorf(e, "name", "name must be 1..%d characters (got %zu)",
                              HS_RUN_NAME_MAX, n);
    return 0;
}

static int check_tags(const cJSON *v, hs_spec_error *e)
{
    if (!cJSON_IsArray(v))
        return hs_spec_errorf(e, "tags", "tags must be an array of strings (or null)");
    int n = cJSON_GetArraySize(v);
    if (n > HS_RUN_TAGS_MAX)
        return hs_spec_errorf(e, "tags", "at most %d tags (got %d)", HS_RUN_TAGS_MAX, n);
    for (const cJSON *t = v->child; t; t = t->next) {
        if (!cJSON_IsString(t) || !hs_run_tag_valid(t->valuestring))
            return hs_spec_errorf(e, "tags",
                                  "each tag must be 1..%d characters of A-Z a-z 0-9 . _ : -",
                                  HS_RUN_TAG_MAX);
        for (const cJSON *u = t->next; u; u = u->next)
            if (cJSON_IsString(u) && strcmp(t->valuestring, u->valuestring) == 0)
                return hs_spec_errorf(e, "tags", "tag \"%s\" appears twice", t->valuestring);
    }
    return 0;
}

static int check_notes(const cJSON *v, hs_spec_error *e)
{
    if (!cJSON_IsString(v))
        return hs_spec_errorf(e, "notes", "notes must be a string (or null to clear them)");
    size_t n = strlen(v->valuestring);
    if (n > HS_RUN_NOTES_MAX)
        return hs_spec_errorf(e, "notes", "notes must be at most %d bytes (got %zu)",
                              HS_RUN_NOTES_MAX, n);
    if (!hs_utf8_valid(v->valuestring, strlen(v->valuestring)))
        return hs_spec_errorf(e, "notes", "notes must be UTF-8 text");
    return 0;
}

int hs_spec_meta_check(const cJSON *obj, bool allow_null, hs_spec_error *e)
{
    static const char *const names[] = {"name", "tags", "notes"};
    int (*const checks[])(const cJSON *, hs_spec_error *) = {check_name, check_tags,
                                                              check_notes};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
        if (!v)
            continue;
        if (cJSON_IsNull(v)) {
            if (allow_null)
                continue;
            return hs_spec_errorf(e, names[i], "%s must not be null in a job spec", names[i]);
        }
        if (checks[i](v, e) != 0)
            return -1;
    }
    return 0;
}
