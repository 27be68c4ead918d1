/* Central validation of a job spec against its kind's field table (hs_spec_validate of
 * job_kinds.h) and of the common fields every spec may carry (job_spec.h). Every check is
 * linear in the size of the spec (duplicate keys through a hash set), and messages quote user
 * input cut on a UTF-8 character boundary. */
#include "kinds.h"
#include "spec.h"
#include "spec_meta.h"
#include "common/utf8.h"
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_spec_errorf(hs_spec_error *e, const char *field, const char *fmt, ...)
{
    if (e) {
        snprintf(e->field, sizeof e->field, "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->detail, sizeof e->detail, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const common_fields[] = {"kind", "priority", "client_id", "max_attempts",
                                            "slurm"};

bool hs_spec_is_common_field(const char *name)
{
    for (size_t i = 0; i < sizeof common_fields / sizeof common_fields[0]; i++)
        if (strcmp(name, common_fields[i]) == 0)
            return true;
    return hs_spec_is_meta_field(name);
}

static const char *type_name(hs_field_type t)
{
    switch (t) {
    case HS_FIELD_STRING: return "a string";
    case HS_FIELD_INT: return "an integer";
    case HS_FIELD_NUMBER: return "a number";
    case HS_FIELD_BOOL: return "a boolean";
    case HS_FIELD_STRING_ARRAY: return "an array of strings";
    case HS_FIELD_NUMBER_ARRAY: return "an array of numbers";
    case HS_FIELD_OBJECT: return "an object";
    case HS_FIELD_ANY: return "a JSON value";
    }
    return "?";
}

/* Integral and exactly representable (|v| <= 2^53), so ranges up to 9e15 hold whole. */
static bool is_integral(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) <= 9007199254740992.0;
}

/* Characters (code points) of valid UTF-8 text: lengths are counted as JSON Schema does. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int check_range(const hs_spec_field *f, double v, const char *what, hs_spec_error *e)
{
    if (!(f->min < f->max))
        return 0;
    bool low = f->exclusive_min ? !(v > f->min) : v < f->min;
    if (low || v > f->max)
        return hs_spec_errorf(e, f->name, "%s%s must be in %s%.10g, %.10g] (got %.10g)", f->name,
                              what, f->exclusive_min ? "(" : "[", f->min, f->max, v);
    return 0;
}

static int check_field(const hs_spec_field *f, const cJSON *v, hs_spec_error *e)
{
    if (f->nullable && cJSON_IsNull(v))
        return 0;
    switch (f->type) {
    case HS_FIELD_STRING:
        if (!cJSON_IsString(v))
            break;
        if (check_range(f, (double)utf8_chars(v->valuestring), " (length in characters)", e) != 0)
            return -1;
        if (f->enum_values) {
            for (const char *const *ev = f->enum_values; *ev; ev++)
                if (strcmp(*ev, v->valuestring) == 0)
                    return 0;
            char allowed[256] = "";
            size_t used = 0;
            for (const char *const *ev = f->enum_values; *ev && used < sizeof allowed; ev++)
                used += snprintf(allowed + used, sizeof allowed - used, "%s%s",
                                 ev == f->enum_values ? "" : ", ", *ev);
            return hs_spec_errorf(e, f->name, "%s must be one of: %s (got \"%.*s\")", f->name,
                                  allowed, hs_utf8_prefix(v->valuestring, 60), v->valuestring);
        }
        return 0;
    case HS_FIELD_INT:
        if (!cJSON_IsNumber(v))
            break;
        if (!is_integral(v->valuedouble))
            return hs_spec_errorf(e, f->name, "%s must be an integer (got %g)", f->name,
                                  v->valuedouble);
        return check_range(f, v->valuedouble, "", e);
    case HS_FIELD_NUMBER:
        if (!cJSON_IsNumber(v))
            break;
        return check_range(f, v->valuedouble, "", e);
    case HS_FIELD_BOOL:
        if (!cJSON_IsBool(v))
            break;
        return 0;
    case HS_FIELD_STRING_ARRAY:
    case HS_FIELD_NUMBER_ARRAY: {
        if (!cJSON_IsArray(v))
            break;
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
            bool ok = f->type == HS_FIELD_STRING_ARRAY ? cJSON_IsString(item)
                                                       : cJSON_IsNumber(item);
            if (!ok)
                return hs_spec_errorf(e, f->name, "%s[%d] must be %s", f->name, i,
                                      f->type == HS_FIELD_STRING_ARRAY ? "a string" : "a number");
            i++;
        }
        return check_range(f, (double)i, " (length)", e);
    }
    case HS_FIELD_OBJECT:
        if (!cJSON_IsObject(v))
            break;
        return 0;
    case HS_FIELD_ANY:
        return 0;
    }
    return hs_spec_errorf(e, f->name, "%s must be %s", f->name, type_name(f->type));
}

int hs_spec_validate(const hs_job_kind *kind, const cJSON *spec, const hs_kind_env *env,
                     hs_spec_error *err)
{
    if (!cJSON_IsObject(spec))
        return hs_spec_errorf(err, "", "a job spec must be a JSON object");
    const cJSON *item;
    cJSON_ArrayForEach(item, spec)
    {
        if (!item->string)
            continue;
        if (hs_spec_is_common_field(item->string))
            continue;
        const hs_spec_field *f = kind->fields;
        while (f && f->name && strcmp(f->name, item->string) != 0)
            f++;
        if (!f || !f->name)
            return hs_spec_errorf(err, item->string, "unknown field \"%.*s\" for kind %s",
                                  hs_utf8_prefix(item->string, 100), item->string, kind->name);
        if (check_field(f, item, err) != 0)
            return -1;
    }
    for (const hs_spec_field *f = kind->fields; f && f->name; f++)
        if (f->required && !cJSON_GetObjectItemCaseSensitive(spec, f->name))
            return hs_spec_errorf(err, f->name, "missing required field %s for kind %s", f->name,
                                  kind->name);
    if (kind->check)
        return kind->check(spec, env, err);
    return 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Duplicate top-level keys would make "the" value ambiguous: one pass with an open-addressing
 * set of the names seen (a spec with many keys must not cost quadratic time). */
static int check_duplicates(const cJSON *spec, hs_spec_error *err)
{
    size_t n = 0;
    for (const cJSON *a = spec->child; a; a = a->next)
        n++;
    if (n < 2)
        return 0;
    size_t cap = 4;
    while (cap < 2 * n)
        cap *= 2;
    const char **set = calloc(cap, sizeof *set);
    if (!set)
        return hs_spec_errorf(err, "", "out of memory checking the spec's fields");
    int rc = 0;
    for (const cJSON *a = spec->child; a && rc == 0; a = a->next) {
        if (!a->string)
            continue;
        for (size_t i = hash_str(a->string) & (cap - 1);; i = (i + 1) & (cap - 1)) {
            if (!set[i]) {
                set[i] = a->string;
                break;
            }
            if (strcmp(set[i], a->string) == 0) {
                rc = hs_spec_errorf(err, a->string, "field %.*s appears twice",
                                    hs_utf8_prefix(a->string, 100), a->string);
                break;
            }
        }
    }
    free(set);
    return rc;
}

/* Whether every key and string under v is valid UTF-8; *bad: the top-level member holding the
 * first that is not (the HTTP layer refuses such bodies already; this covers `surgeond run`). */
static bool utf8_clean(const cJSON *v, const cJSON **bad)
{
    for (const cJSON *c = v->child; c; c = c->next) {
        const char *s = c->string;
        bool ok = (!s || hs_utf8_valid(s, strlen(s))) &&
                  (!cJSON_IsString(c) || hs_utf8_valid(c->valuestring, strlen(c->valuestring))) &&
                  (!c->child || utf8_clean(c, bad));
        if (!ok) {
            if (!*bad || v->string == NULL)
                *bad = c;
            return false;
        }
    }
    return true;
}

int hs_job_spec_parse(const cJSON *spec, const hs_kind_env *env, hs_job_spec *out,
                      hs_spec_error *err)
{
    memset(out, 0, sizeof *out);
    out->max_attempts = 3;
    if (!cJSON_IsObject(spec))
        return hs_spec_errorf(err, "", "a job spec must be a JSON object");
    if (check_duplicates(spec, err) != 0)
        return -1;
    const cJSON *bad = NULL;
    if (!utf8_clean(spec, &bad))
        return hs_spec_errorf(err, bad && bad->string ? bad->string : "",
                              "field %.*s holds text that is not valid UTF-8",
                              bad && bad->string ? hs_utf8_prefix(bad->string, 100) : 0,
                              bad && bad->string ? bad->string : "");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    if (!kind)
        return hs_spec_errorf(err, "kind", "missing required field kind");
    if (!cJSON_IsString(kind))
        return hs_spec_errorf(err, "kind", "kind must be a string");
    out->kind = hs_job_kind_find(kind->valuestring);
    if (!out->kind)
        return hs_spec_errorf(err, "kind",
                              "unknown job kind \"%.*s\" (GET /api/v1/kinds lists them)",
                              hs_utf8_prefix(kind->valuestring, 80), kind->valuestring);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "priority");
    if (v) {
        if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble))
            return hs_spec_errorf(err, "priority", "priority must be an integer");
        if (v->valuedouble < -1000000 || v->valuedouble > 1000000)
            return hs_spec_errorf(err, "priority",
                                  "priority must be in [-1000000, 1000000] (got %g)",
                                  v->valuedouble);
        out->priority = (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(spec, "max_attempts");
    if (v) {
        if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble))
            return hs_spec_errorf(err, "max_attempts", "max_attempts must be an integer");
        if (v->valuedouble < 1 || v->valuedouble > 10)
            return hs_spec_errorf(err, "max_attempts", "max_attempts must be in [1, 10] (got %g)",
                                  v->valuedouble);
        out->max_attempts = (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(spec, "client_id");
    if (v) {
        if (!cJSON_IsString(v))
            return hs_spec_errorf(err, "client_id", "client_id must be a string");
        size_t len = utf8_chars(v->valuestring);
        if (len == 0 || len > 200)
            return hs_spec_errorf(err, "client_id", "client_id must be 1..200 characters");
        out->client_id = v->valuestring;
    }
    v = cJSON_GetObjectItemCaseSensitive(spec, "slurm");
    if (v && hs_spec_check_slurm(v, err) != 0)
        return -1;
    if (hs_spec_meta_check(spec, false, err) != 0)
        return -1;
    return hs_spec_validate(out->kind, spec, env, err);
}
