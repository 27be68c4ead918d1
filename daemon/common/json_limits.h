/* Limits a JSON request body must keep before it is parsed, checked in one linear pass over
 * the raw text: nesting depth, keys per object, items per array; and what a parser would
 * silently lose: strings must be valid UTF-8 and hold no NUL (\u0000) or raw control
 * characters. A violation names the field (a path such as "targets.5" or "texts[3]") and the
 * limit. Syntax errors are left to the parser. */
#ifndef HS_JSON_LIMITS_H
#define HS_JSON_LIMITS_H
#include <stddef.h>

#define HS_JSON_MAX_DEPTH 32
#define HS_JSON_MAX_KEYS 1000
#define HS_JSON_MAX_ITEMS 100000

typedef struct hs_json_issue {
    const char *error; /* "JSON limit exceeded" or "invalid JSON string" */
    char field[160];   /* path of the offending value; "" for the whole body */
    char detail[256];
} hs_json_issue;

/* 0 when text[0..len) keeps the limits, else -1 with issue filled. */
int hs_json_check(const char *text, size_t len, hs_json_issue *issue);

#endif
