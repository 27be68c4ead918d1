/* Parsing and resolving surgery targets (see surgery_targets.h). */
#include "surgery_targets.h"
#include "engine/diagnosis/diagnosis.h"
#include "common/errors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_field(char *field, size_t fieldlen, const char *fmt, const char *sub)
{
    if (field && fieldlen)
        snprintf(field, fieldlen, fmt, sub ? sub : "");
    return 0;
}

static int cmp_target(const void *a, const void *b)
{
    const hs_head_target *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return x->head < y->head ? -1 : x->head > y->head;
}

static bool parse_int_string(const char *s, int *out)
{
    char *end;
    if (!*s)
        return false;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

bool hs_targets_is_rule(const cJSON *targets)
{
    return cJSON_IsObject(targets) && cJSON_GetObjectItemCaseSensitive(targets, "from_run");
}

int hs_targets_parse_explicit(const cJSON *targets, int n_layer, int n_head,
                              hs_head_target **out, int *n_out, char *field, size_t fieldlen,
                              char *err, size_t errlen)
{
    *out = NULL;
    *n_out = 0;
    set_field(field, fieldlen, "targets", NULL);
    if (!cJSON_IsObject(targets))
        return hs_errf(err, errlen,
                       "targets must be an object: {\"<layer>\": [heads]} or a rule with from_run");
    int cap = 0, n = 0;
    hs_head_target *t = NULL;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, targets)
    {
        int l;
        if (!parse_int_string(layer->string, &l) || l >= n_layer) {
            set_field(field, fieldlen, "targets.%s", layer->string);
            free(t);
            return hs_errf(err, errlen, "targets: layer \"%s\" is not a layer index in [0, %d)",
                           layer->string, n_layer);
        }
        if (!cJSON_IsArray(layer) || cJSON_GetArraySize(layer) == 0) {
            set_field(field, fieldlen, "targets.%s", layer->string);
            free(t);
            return hs_errf(err, errlen, "targets.%s must be a non-empty array of head indices",
                           layer->string);
        }
        const cJSON *h;
        cJSON_ArrayForEach(h, layer)
        {
            if (!cJSON_IsNumber(h) || h->valuedouble != floor(h->valuedouble) ||
                h->valuedouble < 0 || h->valuedouble >= n_head) {
                set_field(field, fieldlen, "targets.%s", layer->string);
                free(t);
                return hs_errf(err, errlen,
                               "targets.%s: head %g is not a head index in [0, %d)",
                               layer->string, cJSON_IsNumber(h) ? h->valuedouble : NAN, n_head);
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                hs_head_target *bigger = realloc(t, (size_t)cap * sizeof *t);
                if (!bigger) {
                    free(t);
                    return hs_errf(err, errlen, "targets: out of memory");
                }
                t = bigger;
            }
            t[n].layer = l;
            t[n].head = (int)h->valuedouble;
            n++;
        }
    }
    if (n == 0) {
        free(t);
        return hs_errf(err, errlen, "targets: empty target set");
    }
    qsort(t, (size_t)n, sizeof *t, cmp_target);
    for (int i = 1; i < n; i++)
        if (t[i].layer == t[i - 1].layer && t[i].head == t[i - 1].head) {
            char key[16];
            snprintf(key, sizeof key, "%d", t[i].layer);
            set_field(field, fieldlen, "targets.%s", key);
            int head = t[i].head;
            free(t);
            return hs_errf(err, errlen, "targets.%s: head %d listed twice", key, head);
        }
    *out = t;
    *n_out = n;
    return 0;
}

int hs_parse_index_range(const cJSON *v, int limit, int *lo, int *hi, char *err, size_t errlen)
{
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble >= limit)
            return hs_errf(err, errlen, "%g is not an index in [0, %d)", v->valuedouble, limit);
        *lo = *hi = (int)v->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(v))
        return hs_errf(err, errlen, "expected \"a-b\", \"a\" or an integer");
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v->valuestring);
    char *dash = strchr(buf, '-');
    if (dash)
        *dash = '\0';
    if (!parse_int_string(buf, lo) || !parse_int_string(dash ? dash + 1 : buf, hi))
        return hs_errf(err, errlen, "\"%s\": expected \"a-b\", \"a\" or an integer",
                       v->valuestring);
    if (*lo > *hi || *hi >= limit)
        return hs_errf(err, errlen, "\"%s\": must be a range within [0, %d)", v->valuestring,
                       limit);
    return 0;
}

int hs_targets_parse_rule(const cJSON *targets, int n_layer, int n_head, hs_target_rule *rule,
                          char *field, size_t fieldlen, char *err, size_t errlen)
{
    memset(rule, 0, sizeof *rule);
    rule->class_mask = (1u << HS_HEAD_BOS_SINK) | (1u << HS_HEAD_DEAD);
    rule->layer_hi = n_layer - 1;
    rule->head_hi = n_head - 1;
    const cJSON *it;
    cJSON_ArrayForEach(it, targets)
    {
        set_field(field, fieldlen, "targets.%s", it->string);
        if (strcmp(it->string, "from_run") == 0) {
            if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
                it->valuedouble < 1 || it->valuedouble > 9e15)
                return hs_errf(err, errlen, "targets.from_run must be a run id (integer >= 1)");
            rule->from_run = (int64_t)it->valuedouble;
        } else if (strcmp(it->string, "classes") == 0) {
            if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0)
                return hs_errf(err, errlen, "targets.classes must be a non-empty array of class "
                                            "names (bos-sink, dead, low-entropy, healthy)");
            rule->class_mask = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, it)
            {
                hs_head_class cls;
                if (!cJSON_IsString(c) || hs_head_class_from_name(c->valuestring, &cls) != 0)
                    return hs_errf(err, errlen, "targets.classes: \"%s\" is not a head class "
                                                "(bos-sink, dead, low-entropy, healthy)",
                                   cJSON_IsString(c) ? c->valuestring : "?");
                rule->class_mask |= 1u << cls;
            }
        } else if (strcmp(it->string, "layers") == 0) {
            char why[HS_ERR_LEN];
            if (hs_parse_index_range(it, n_layer, &rule->layer_lo, &rule->layer_hi, why,
                                     sizeof why) != 0)
                return hs_errf(err, errlen, "targets.layers: %s", why);
        } else if (strcmp(it->string, "heads") == 0) {
            char why[HS_ERR_LEN];
            if (hs_parse_index_range(it, n_head, &rule->head_lo, &rule->head_hi, why,
                                     sizeof why) != 0)
                return hs_errf(err, errlen, "targets.heads: %s", why);
        } else {
            return hs_errf(err, errlen, "targets: unknown rule field \"%s\" (from_run, classes, "
                                        "layers, heads)", it->string);
        }
    }
    set_field(field, fieldlen, "targets", NULL);
    return 0;
}

int hs_targets_from_diagnosis(const hs_target_rule *rule, const cJSON *heads,
                              hs_head_target **out, int *n_out, char *err, size_t errlen)
{
    *out = NULL;
    *n_out = 0;
    int n_rows = cJSON_GetArraySize(heads);
    hs_head_target *t = malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof *t);
    if (!t)
        return hs_errf(err, errlen, "targets: out of memory");
    int n = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, heads)
    {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(row, "layer");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(row, "head");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(row, "class");
        hs_head_class cls;
        if (!cJSON_IsNumber(l) || !cJSON_IsNumber(h) || !cJSON_IsString(c) ||
            hs_head_class_from_name(c->valuestring, &cls) != 0) {
            free(t);
            return hs_errf(err, errlen, "targets.from_run %lld: a stored head row is malformed",
                           (long long)rule->from_run);
        }
        int layer = (int)l->valuedouble, head = (int)h->valuedouble;
        if (layer < rule->layer_lo || layer > rule->layer_hi || head < rule->head_lo ||
            head > rule->head_hi || !(rule->class_mask & (1u << cls)))
            continue;
        t[n].layer = layer;
        t[n].head = head;
        n++;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_target);
    int unique = 0;
    for (int i = 0; i < n; i++)
        if (unique == 0 || cmp_target(&t[unique - 1], &t[i]) != 0)
            t[unique++] = t[i];
    if (unique == 0) {
        free(t);
        return hs_errf(err, errlen,
                       "targets: empty target set (no head of run %lld matches the rule)",
                       (long long)rule->from_run);
    }
    *out = t;
    *n_out = unique;
    return 0;
}

cJSON *hs_targets_to_json(const hs_head_target *t, int n)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", t[i].layer);
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!arr)
            arr = cJSON_AddArrayToObject(o, key);
        if (!arr || !cJSON_AddItemToArray(arr, cJSON_CreateNumber(t[i].head))) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}
