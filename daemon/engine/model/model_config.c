/* BLOOM config.json: parsing with every key spelling transformers accepts (n_embed/hidden_size,
 * num_attention_heads/n_head, n_layer/num_hidden_layers, torch_dtype/dtype), BloomConfig's
 * defaults for absent sizes (vocab 250880, hidden 64, 2 layers, 8 heads; token ids 1/2/3/0),
 * validation, and writing a config.json transformers loads as BloomForCausalLM.
 * Two spellings of one key with different values are an error rather than a silent pick. */
#include "model_config.h"
#include "common/errors.h"
#include "common/file_io.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads an integer key (or its alias) into *out; absent (or null) leaves *out. */
static int get_int(const cJSON *root, const char *key, const char *alias, int *out,
                   const char *src, char *err, size_t errlen)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    const cJSON *b = alias ? cJSON_GetObjectItemCaseSensitive(root, alias) : NULL;
    if (a && cJSON_IsNull(a))
        a = NULL;
    if (b && cJSON_IsNull(b))
        b = NULL;
    const cJSON *v[2] = {a, b};
    const char *names[2] = {key, alias};
    for (int i = 0; i < 2; i++) {
        if (!v[i])
            continue;
        double d = v[i]->valuedouble;
        if (!cJSON_IsNumber(v[i]) || d != floor(d) || d < INT_MIN || d > INT_MAX)
            return hs_errf(err, errlen, "%s: \"%s\" must be an integer", src, names[i]);
    }
    if (a && b && a->valuedouble != b->valuedouble)
        return hs_errf(err, errlen, "%s: \"%s\" (%g) and \"%s\" (%g) disagree", src, key,
                       a->valuedouble, alias, b->valuedouble);
    if (a || b)
        *out = (int)(a ? a : b)->valuedouble;
    return 0;
}

/* Parses config text; src names it in errors (the file path, or "config.json"). */
static int parse_named(const char *json, size_t len, const char *src, hs_model_config *cfg,
                       char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = 250880;
    cfg->hidden_size = 64;
    cfg->n_layer = 2;
    cfg->n_head = 8;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = 3;
    cfg->unk_token_id = 0;

    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return hs_errf(err, errlen, "%s: not valid JSON", src);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        hs_errf(err, errlen, "%s: not a JSON object", src);
        goto out;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "bloom") != 0)) {
        hs_errf(err, errlen, "%s: \"model_type\" is %s%s%s, not \"bloom\"", src,
                cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "not a string",
                cJSON_IsString(mt) ? "\"" : "");
        goto out;
    }
    if (get_int(root, "vocab_size", NULL, &cfg->vocab_size, src, err, errlen) ||
        get_int(root, "hidden_size", "n_embed", &cfg->hidden_size, src, err, errlen) ||
        get_int(root, "n_head", "num_attention_heads", &cfg->n_head, src, err, errlen) ||
        get_int(root, "n_layer", "num_hidden_layers", &cfg->n_layer, src, err, errlen) ||
        get_int(root, "bos_token_id", NULL, &cfg->bos_token_id, src, err, errlen) ||
        get_int(root, "eos_token_id", NULL, &cfg->eos_token_id, src, err, errlen) ||
        get_int(root, "pad_token_id", NULL, &cfg->pad_token_id, src, err, errlen) ||
        get_int(root, "unk_token_id", NULL, &cfg->unk_token_id, src, err, errlen))
        goto out;
    const char *pos_keys[3] = {"vocab_size", "hidden_size", "n_head"};
    const int pos_vals[3] = {cfg->vocab_size, cfg->hidden_size, cfg->n_head};
    for (int i = 0; i < 3; i++)
        if (pos_vals[i] <= 0) {
            hs_errf(err, errlen, "%s: \"%s\" must be positive (is %d)", src, pos_keys[i], pos_vals[i]);
            goto out;
        }
    if (cfg->n_layer <= 0) {
        hs_errf(err, errlen, "%s: \"n_layer\" must be positive (is %d)", src, cfg->n_layer);
        goto out;
    }
    if (cfg->hidden_size % cfg->n_head != 0) {
        hs_errf(err, errlen, "%s: \"hidden_size\" %d is not divisible by \"n_head\" %d", src,
                cfg->hidden_size, cfg->n_head);
        goto out;
    }
    cfg->head_dim = cfg->hidden_size / cfg->n_head;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (!eps) {
        hs_errf(err, errlen, "%s: \"layer_norm_epsilon\" is missing", src);
        goto out;
    }
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !isfinite(eps->valuedouble)) {
        hs_errf(err, errlen, "%s: \"layer_norm_epsilon\" must be a positive number", src);
        goto out;
    }
    cfg->layer_norm_epsilon = eps->valuedouble;
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "apply_residual_connection_post_layernorm");
    if (post && !cJSON_IsBool(post) && !cJSON_IsNull(post)) {
        hs_errf(err, errlen, "%s: \"apply_residual_connection_post_layernorm\" must be a boolean", src);
        goto out;
    }
    if (cJSON_IsTrue(post)) {
        hs_errf(err, errlen, "%s: \"apply_residual_connection_post_layernorm\": true is not "
                "supported (every published BLOOM has false)", src);
        goto out;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    const cJSON *dt2 = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    const cJSON *dts[2] = {dt, dt2};
    const char *dt_names[2] = {"torch_dtype", "dtype"};
    for (int i = 0; i < 2; i++) {
        if (!dts[i] || cJSON_IsNull(dts[i]))
            continue;
        const char *s = cJSON_IsString(dts[i]) ? dts[i]->valuestring : NULL;
        if (!s || (strcmp(s, "float32") && strcmp(s, "float16") && strcmp(s, "bfloat16"))) {
            hs_errf(err, errlen, "%s: \"%s\" must be \"float32\", \"float16\" or \"bfloat16\"",
                    src, dt_names[i]);
            goto out;
        }
        if (cfg->torch_dtype[0] && strcmp(cfg->torch_dtype, s) != 0) {
            hs_errf(err, errlen, "%s: \"torch_dtype\" and \"dtype\" disagree", src);
            goto out;
        }
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", s);
    }
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

int hs_model_config_write(const hs_model_config *cfg, const char *path, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    if (!root || !arch) {
        cJSON_Delete(root);
        cJSON_Delete(arch);
        return hs_errf(err, errlen, "%s: out of memory", path);
    }
    cJSON_AddItemToArray(arch, cJSON_CreateString("BloomForCausalLM"));
    cJSON_AddItemToObject(root, "architectures", arch);
    cJSON_AddStringToObject(root, "model_type", "bloom");
    cJSON_AddNumberToObject(root, "vocab_size", cfg->vocab_size);
    cJSON_AddNumberToObject(root, "hidden_size", cfg->hidden_size);
    cJSON_AddNumberToObject(root, "n_head", cfg->n_head);
    cJSON_AddNumberToObject(root, "n_layer", cfg->n_layer);
    cJSON_AddNumberToObject(root, "layer_norm_epsilon", cfg->layer_norm_epsilon);
    cJSON_AddNumberToObject(root, "bos_token_id", cfg->bos_token_id);
    cJSON_AddNumberToObject(root, "eos_token_id", cfg->eos_token_id);
    cJSON_AddNumberToObject(root, "pad_token_id", cfg->pad_token_id);
    cJSON_AddNumberToObject(root, "unk_token_id", cfg->unk_token_id);
    cJSON_AddBoolToObject(root, "apply_residual_connection_post_layernorm", 0);
    cJSON_AddNumberToObject(root, "hidden_dropout", 0.0);
    cJSON_AddNumberToObject(root, "attention_dropout", 0.0);
    cJSON_AddNumberToObject(root, "initializer_range", 0.02);
    cJSON_AddNumberToObject(root, "pretraining_tp", 1);
    cJSON_AddBoolToObject(root, "slow_but_exact", 0);
    cJSON_AddBoolToObject(root, "use_cache", 1);
    if (cfg->torch_dtype[0])
        cJSON_AddStringToObject(root, "torch_dtype", cfg->torch_dtype);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return hs_errf(err, errlen, "%s: out of memory", path);

    char tmp[PATH_MAX];
    int rc = 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(text);
        return hs_errf(err, errlen, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = hs_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(text);
        return rc;
    }
    size_t n = strlen(text), off = 0;
    while (off < n && rc == 0) {
        ssize_t k = write(fd, text + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = hs_errf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        else
            off += (size_t)k;
    }
    if (rc == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) != 0))
        rc = hs_errf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = hs_errf(err, errlen, "%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = hs_errf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    free(text);
    return rc;
}
