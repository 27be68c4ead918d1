/* config.json (model_config.h): reading the file, detecting the family from model_type,
 * the key readers the family files share, the checks every family's dimensions must pass,
 * and writing a checkpoint's config.json atomically. Two spellings of one key with different
 * values are an error rather than a silent pick. */
#include "model_config.h"
#include "common/errors.h"
#include "common/file_io.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cJSON *present(const cJSON *obj, const char *key)
{
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int hs_config_int(const cJSON *obj, const char *key, const char *alias, int *out,
                  const char *src, char *err, size_t errlen)
{
    const cJSON *v[2] = {present(obj, key), present(obj, alias)};
    const char *names[2] = {key, alias};
    for (int i = 0; i < 2; i++) {
        if (!v[i])
            continue;
        double d = v[i]->valuedouble;
        if (!cJSON_IsNumber(v[i]) || d != floor(d) || d < INT_MIN || d > INT_MAX)
            return hs_errf(err, errlen, "%s: \"%s\" must be an integer", src, names[i]);
    }
    if (v[0] && v[1] && v[0]->valuedouble != v[1]->valuedouble)
        return hs_errf(err, errlen, "%s: \"%s\" (%g) and \"%s\" (%g) disagree", src, key,
                       v[0]->valuedouble, alias, v[1]->valuedouble);
    if (v[0] || v[1])
        *out = (int)(v[0] ? v[0] : v[1])->valuedouble;
    return 0;
}

int hs_config_number(const cJSON *obj, const char *key, double *out, const char *src,
                     char *err, size_t errlen)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return hs_errf(err, errlen, "%s: \"%s\" must be a number", src, key);
    *out = v->valuedouble;
    return 0;
}

int hs_config_bool(const cJSON *obj, const char *key, bool *out, const char *src, char *err,
                   size_t errlen)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return hs_errf(err, errlen, "%s: \"%s\" must be true or false", src, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int hs_config_dtype(const cJSON *obj, hs_model_config *cfg, const char *src, char *err,
                    size_t errlen)
{
    const char *keys[2] = {"torch_dtype", "dtype"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = present(obj, keys[i]);
        if (!v)
            continue;
        const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
        if (!s || (strcmp(s, "float32") && strcmp(s, "float16") && strcmp(s, "bfloat16")))
            return hs_errf(err, errlen, "%s: \"%s\" must be \"float32\", \"float16\" or \"bfloat16\"",
                           src, keys[i]);
        if (cfg->torch_dtype[0] && strcmp(cfg->torch_dtype, s) != 0)
            return hs_errf(err, errlen, "%s: \"torch_dtype\" and \"dtype\" disagree", src);
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", s);
    }
    return 0;
}

int hs_config_token_ids(const cJSON *obj, hs_model_config *cfg, const char *src, char *err,
                        size_t errlen)
{
    if (hs_config_int(obj, "bos_token_id", NULL, &cfg->bos_token_id, src, err, errlen) ||
        hs_config_int(obj, "eos_token_id", NULL, &cfg->eos_token_id, src, err, errlen) ||
        hs_config_int(obj, "pad_token_id", NULL, &cfg->pad_token_id, src, err, errlen) ||
        hs_config_int(obj, "unk_token_id", NULL, &cfg->unk_token_id, src, err, errlen))
        return -1;
    return 0;
}

void hs_config_write_common(const hs_model_config *cfg, cJSON *root)
{
    const char *keys[4] = {"bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"};
    const int vals[4] = {cfg->bos_token_id, cfg->eos_token_id, cfg->pad_token_id,
                         cfg->unk_token_id};
    for (int i = 0; i < 4; i++)
        if (vals[i] >= 0)
            cJSON_AddNumberToObject(root, keys[i], vals[i]);
    if (cfg->torch_dtype[0])
        cJSON_AddStringToObject(root, "torch_dtype", cfg->torch_dtype);
}

/* The family config.json names; an absent model_type is BLOOM (its original uploads). */
static const hs_family *detect_family(const cJSON *root, const char *src, char *err,
                                      size_t errlen)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!mt || cJSON_IsNull(mt))
        return hs_family_find("bloom");
    if (!cJSON_IsString(mt)) {
        hs_errf(err, errlen, "%s: \"model_type\" must be a string", src);
        return NULL;
    }
    const hs_family *f = hs_family_find(mt->valuestring);
    if (f)
        return f;
    const char *why = hs_family_non_alibi_reason(mt->valuestring);
    size_t n;
    const hs_family *const *all = hs_families(&n);
    char names[128] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", all[i]->name);
    }
    if (why)
        hs_errf(err, errlen, "%s: model_type \"%s\" is not an ALiBi model family (%s); "
                "supported: %s", src, mt->valuestring, why, names);
    else
        hs_errf(err, errlen, "%s: model_type \"%s\" is not a supported model family; supported: %s",
                src, mt->valuestring, names);
    return NULL;
}

/* The checks every family's dimensions must pass. */
static int check_dimensions(hs_model_config *cfg, const char *src, char *err, size_t errlen)
{
    const char *names[5] = {"vocabulary size", "hidden size", "head count", "layer count",
                            "MLP hidden size"};
    const int vals[5] = {cfg->vocab_size, cfg->hidden_size, cfg->n_head, cfg->n_layer,
                         cfg->mlp_hidden};
    for (int i = 0; i < 5; i++)
        if (vals[i] <= 0)
            return hs_errf(err, errlen, "%s: the %s must be positive (is %d)", src, names[i],
                           vals[i]);
    if (cfg->hidden_size % cfg->n_head != 0)
        return hs_errf(err, errlen, "%s: hidden size %d is not divisible by the head count %d",
                       src, cfg->hidden_size, cfg->n_head);
    cfg->head_dim = cfg->hidden_size / cfg->n_head;
    if (!(cfg->layer_norm_epsilon > 0) || !isfinite(cfg->layer_norm_epsilon))
        return hs_errf(err, errlen, "%s: \"layer_norm_epsilon\" must be a positive number", src);
    return 0;
}

static int parse_named(const char *json, size_t len, const char *src, hs_model_config *cfg,
                       char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return hs_errf(err, errlen, "%s: not valid JSON", src);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        hs_errf(err, errlen, "%s: not a JSON object", src);
        goto out;
    }
    cfg->family = detect_family(root, src, err, errlen);
    if (!cfg->family)
        goto out;
    cfg->bos_token_id = cfg->eos_token_id = cfg->pad_token_id = cfg->unk_token_id = -1;
    if (cfg->family->parse_config(root, src, cfg, err, errlen) != 0 ||
        hs_config_dtype(root, cfg, src, err, errlen) != 0 ||
        check_dimensions(cfg, src, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int hs_model_config_parse(const char *json, size_t len, hs_model_config *cfg, char *err,
                          size_t errlen)
{
    return parse_named(json, len, "config.json", cfg, err, errlen);
}

int hs_model_config_load(const char *path, hs_model_config *cfg, char *err, size_t errlen)
{
    size_t n;
    char *buf = hs_read_file(path, NULL, 16u << 20, &n, err, errlen);
    if (!buf)
        return -1;
    int rc = parse_named(buf, n, path, cfg, err, errlen);
    free(buf);
    return rc;
}

cJSON *hs_model_config_to_json(const hs_model_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    cJSON *name = cJSON_CreateString(cfg->family->architecture);
    if (!root || !arch || !name) {
        cJSON_Delete(root);
        cJSON_Delete(arch);
        cJSON_Delete(name);
        return NULL;
    }
    cJSON_AddItemToArray(arch, name);
    cJSON_AddItemToObject(root, "architectures", arch);
    if (!cJSON_AddStringToObject(root, "model_type", cfg->family->name) ||
        cfg->family->write_config(cfg, root) != 0) {
        cJSON_Delete(root);
        return NULL;
    }
    hs_config_write_common(cfg, root);
    return root;
}

int hs_model_config_write(const hs_model_config *cfg, const char *path, char *err, size_t errlen)
{
    cJSON *root = hs_model_config_to_json(cfg);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return hs_errf(err, errlen, "%s: out of memory", path);
    size_t n = strlen(text);
    char *with_newline = realloc(text, n + 2);
    if (!with_newline) {
        free(text);
        return hs_errf(err, errlen, "%s: out of memory", path);
    }
    with_newline[n] = '\n';
    with_newline[n + 1] = '\0';

    char tmp[PATH_MAX];
    int rc = 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        rc = hs_errf(err, errlen, "%s: path too long", path);
    else if (hs_write_file_synced(tmp, with_newline, n + 1, err, errlen) != 0)
        rc = -1;
    else if (rename(tmp, path) != 0)
        rc = hs_errf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    free(with_newline);
    return rc;
}
