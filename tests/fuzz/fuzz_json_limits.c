/* libFuzzer target: arbitrary bytes as a JSON request body through the limit checker, then
 * cJSON. Invariants: a refusal names a NUL-terminated field and detail; a body the checker
 * accepts and cJSON parses has no string holding a NUL cut or invalid UTF-8, and nests no
 * deeper than the limit. */
#include "common/json_limits.h"
#include "common/utf8.h"
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* depth: how many containers v is inside of, itself included when it is one. */
static void walk(const cJSON *v, int depth)
{
    if ((cJSON_IsArray(v) || cJSON_IsObject(v)) && depth > HS_JSON_MAX_DEPTH)
        abort();
    for (const cJSON *c = v->child; c; c = c->next) {
        if (c->string && !hs_utf8_valid(c->string, strlen(c->string)))
            abort();
        if (cJSON_IsString(c) && !hs_utf8_valid(c->valuestring, strlen(c->valuestring)))
            abort();
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_json_issue is;
    if (hs_json_check((const char *)data, size, &is) != 0) {
        if (!memchr(is.field, '\0', sizeof is.field) || !memchr(is.detail, '\0', sizeof is.detail))
            abort();
        return 0;
    }
    cJSON *o = cJSON_ParseWithLength((const char *)data, size);
    if (o) {
        if (cJSON_IsString(o) && !hs_utf8_valid(o->valuestring, strlen(o->valuestring)))
            abort();
        walk(o, 1);
        cJSON_Delete(o);
    }
    return 0;
}
