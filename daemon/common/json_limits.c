/* One-pass JSON limit and string check (json_limits.h): a small state machine over the raw
 * bytes with a stack of open containers, each with its item count and current key. */
#include "json_limits.h"
#include "utf8.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define KEY_MAX 48

typedef struct frame {
    bool object;
    bool want_item; /* array: next value starts an item; object: next string is a key */
    size_t count;
    char key[KEY_MAX + 1];
} frame;

typedef struct scan {
    frame st[HS_JSON_MAX_DEPTH + 1];
    int depth; /* st[1..depth] are open */
} scan;

static void path(const scan *sc, int upto, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int d = 1; d <= upto && used < cap; d++) {
        const frame *f = &sc->st[d];
        int n;
        if (f->object)
            n = snprintf(out + used, cap - used, "%s%s", used ? "." : "", f->key);
        else
            n = snprintf(out + used, cap - used, "[%zu]", f->count ? f->count - 1 : 0);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int issue_at(const scan *sc, int upto, hs_json_issue *is, const char *error,
                    const char *detail)
{
    if (is) {
        is->error = error;
        path(sc, upto, is->field, sizeof is->field);
        snprintf(is->detail, sizeof is->detail, "%s", detail);
    }
    return -1;
}

/* Counts one more item in the open container; -1 past its limit. */
static int count_item(scan *sc, hs_json_issue *is)
{
    if (sc->depth == 0)
        return 0;
    frame *f = &sc->st[sc->depth];
    f->count++;
    char d[200];
    if (f->object && f->count > HS_JSON_MAX_KEYS) {
        snprintf(d, sizeof d, "an object has more than %d keys (limit: %d keys per object)",
                 HS_JSON_MAX_KEYS, HS_JSON_MAX_KEYS);
        return issue_at(sc, sc->depth - 1, is, "JSON limit exceeded", d);
    }
    if (!f->object && f->count > HS_JSON_MAX_ITEMS) {
        snprintf(d, sizeof d, "an array has more than %d items (limit: %d items per array)",
                 HS_JSON_MAX_ITEMS, HS_JSON_MAX_ITEMS);
        return issue_at(sc, sc->depth - 1, is, "JSON limit exceeded", d);
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The string whose opening quote is at s[i]: *end receives the index after its closing quote
 * (len when unterminated), the return value what is wrong with it (NULL: nothing). */
static const char *string_problem(const char *s, size_t len, size_t i, size_t *end)
{
    const unsigned char *u = (const unsigned char *)s;
    const char *problem = NULL;
    size_t j = i + 1;
    while (j < len) {
        unsigned char c = u[j];
        if (c == '"') {
            *end = j + 1;
            return problem;
        }
        if (c == '\\') {
            if (j + 1 < len && s[j + 1] == 'u' && j + 5 < len) {
                int v = 0;
                for (int k = 2; k < 6; k++) {
                    int h = hexval(s[j + k]);
                    v = h < 0 ? -1 : (v < 0 ? -1 : v * 16 + h);
                }
                if (v == 0 && !problem)
                    problem = "contains a NUL character (\\u0000), which is not allowed";
                j += 6;
            } else {
                j += 2;
            }
            continue;
        }
        if (c < 0x20) {
            if (!problem)
                problem = "contains a raw control character (escape it as \\u00XX)";
            j++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = hs_utf8_seq_len(u + j, len - j);
            if (l == 0) {
                if (!problem)
                    problem = "is not valid UTF-8";
                l = 1;
            }
            j += l;
            continue;
        }
        j++;
    }
    *end = len;
    return problem;
}

int hs_json_check(const char *s, size_t len, hs_json_issue *is)
{
    static _Thread_local scan sc; /* ~2 KB; per thread so HTTP threads do not share it */
    sc.depth = 0;
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        frame *top = sc.depth ? &sc.st[sc.depth] : NULL;
        if (c == '"') {
            size_t end;
            const char *problem = string_problem(s, len, i, &end);
            bool key = top && top->object && top->want_item;
            if (key) {
                if (count_item(&sc, is) != 0)
                    return -1;
                size_t kl = end > i + 2 ? end - i - 2 : 0;
                if (kl > KEY_MAX)
                    kl = KEY_MAX;
                memcpy(top->key, s + i + 1, kl);
                top->key[kl] = '\0';
                top->key[hs_utf8_prefix(top->key, kl)] = '\0';
                top->want_item = false;
            } else if (top && !top->object && top->want_item) {
                if (count_item(&sc, is) != 0)
                    return -1;
                top->want_item = false;
            }
            if (problem) {
                char d[200];
                snprintf(d, sizeof d, "a %s %s", key ? "key" : "string", problem);
                return issue_at(&sc, sc.depth, is, "invalid JSON string", d);
            }
            i = end;
            continue;
        }
        if (c == '{' || c == '[') {
            if (top && !top->object && top->want_item) {
                if (count_item(&sc, is) != 0)
                    return -1;
                top->want_item = false;
            }
            if (sc.depth == HS_JSON_MAX_DEPTH) {
                char d[200];
                snprintf(d, sizeof d, "the body nests deeper than %d levels (limit: %d)",
                         HS_JSON_MAX_DEPTH, HS_JSON_MAX_DEPTH);
                return issue_at(&sc, sc.depth, is, "JSON limit exceeded", d);
            }
            frame *f = &sc.st[++sc.depth];
            f->object = c == '{';
            f->want_item = true;
            f->count = 0;
            f->key[0] = '\0';
        } else if (c == '}' || c == ']') {
            if (sc.depth == 0)
                return 0; /* unbalanced: the parser reports it */
            sc.depth--;
        } else if (c == ',') {
            if (top)
                top->want_item = true;
        } else if (c != ':' && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            if (top && !top->object && top->want_item) { /* number or literal in an array */
                if (count_item(&sc, is) != 0)
                    return -1;
                top->want_item = false;
            }
        }
        i++;
    }
    return 0;
}
