/* Loading a HF BLOOM directory onto a backend (model.h): config.json, tokenizer.json,
 * the safetensors tensors checked against the config's shapes, converted to fp32 and placed
 * in ONE backend allocation laid out by the parameter table; ALiBi slopes; the cache key
 * (absolute path, newest file mtime). Freeing a model. Runs no compute. */
#include "model.h"
#include "model_activations.h"
#include "common/errors.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Per layer: the 12 tensors of one block, in allocation order. */
enum { LAYER_TENSORS = 12 };

/* The parameter table under construction, with where each tensor's pointer goes. */
typedef struct param_table {
    hs_tensor_ref *refs;
    float ***dst; /* *dst[i] receives param_memory + refs[i].offset */
    size_t n, cap;
    size_t total; /* floats */
} param_table;

static int table_add(param_table *t, float **dst, const char *name, int ndim, int64_t s0,
                     int64_t s1)
{
    if (t->n == t->cap)
        return -1;
    hs_tensor_ref *r = &t->refs[t->n];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->ndim = ndim;
    r->shape[0] = s0;
    r->shape[1] = ndim == 2 ? s1 : 0;
    r->numel = (size_t)s0 * (size_t)(ndim == 2 ? s1 : 1);
    r->offset = t->total;
    /* Keep every tensor 16-float (64-byte) aligned inside the allocation. */
    t->total += (r->numel + 15) / 16 * 16;
    t->dst[t->n] = dst;
    t->n++;
    return 0;
}

/* Builds the table for cfg; the pointers it records live in m->p. */
static int build_table(hs_model *m, param_table *t, char *err, size_t errlen)
{
    const hs_model_config *c = &m->cfg;
    const int64_t V = c->vocab_size, C = c->hidden_size;
    t->cap = 5 + (size_t)c->n_layer * LAYER_TENSORS;
    t->refs = calloc(t->cap, sizeof *t->refs);
    t->dst = calloc(t->cap, sizeof *t->dst);
    m->p.layers = calloc((size_t)c->n_layer, sizeof *m->p.layers);
    if (!t->refs || !t->dst || !m->p.layers)
        return hs_errf(err, errlen, "model %s: out of memory for the parameter table", m->path);
    int rc = 0;
    rc |= table_add(t, &m->p.wte, "word_embeddings.weight", 2, V, C);
    rc |= table_add(t, &m->p.wte_ln_w, "word_embeddings_layernorm.weight", 1, C, 0);
    rc |= table_add(t, &m->p.wte_ln_b, "word_embeddings_layernorm.bias", 1, C, 0);
    for (int l = 0; l < c->n_layer; l++) {
        hs_layer_params *lp = &m->p.layers[l];
        char n[96];
#define LAYER_TENSOR(field, suffix, ndim, s0, s1)                                                \
    do {                                                                                         \
        snprintf(n, sizeof n, "h.%d.%s", l, suffix);                                             \
        rc |= table_add(t, &lp->field, n, ndim, s0, s1);                                         \
    } while (0)
        LAYER_TENSOR(ln1_w, "input_layernorm.weight", 1, C, 0);
        LAYER_TENSOR(ln1_b, "input_layernorm.bias", 1, C, 0);
        LAYER_TENSOR(qkv_w, "self_attention.query_key_value.weight", 2, 3 * C, C);
        LAYER_TENSOR(qkv_b, "self_attention.query_key_value.bias", 1, 3 * C, 0);
        LAYER_TENSOR(dense_w, "self_attention.dense.weight", 2, C, C);
        LAYER_TENSOR(dense_b, "self_attention.dense.bias", 1, C, 0);
        LAYER_TENSOR(ln2_w, "post_attention_layernorm.weight", 1, C, 0);
        LAYER_TENSOR(ln2_b, "post_attention_layernorm.bias", 1, C, 0);
        LAYER_TENSOR(fc_w, "mlp.dense_h_to_4h.weight", 2, 4 * C, C);
        LAYER_TENSOR(fc_b, "mlp.dense_h_to_4h.bias", 1, 4 * C, 0);
        LAYER_TENSOR(proj_w, "mlp.dense_4h_to_h.weight", 2, C, 4 * C);
        LAYER_TENSOR(proj_b, "mlp.dense_4h_to_h.bias", 1, C, 0);
#undef LAYER_TENSOR
    }
    rc |= table_add(t, &m->p.lnf_w, "ln_f.weight", 1, C, 0);
    rc |= table_add(t, &m->p.lnf_b, "ln_f.bias", 1, C, 0);
    if (rc)
        return hs_errf(err, errlen, "model %s: parameter table overflow", m->path);
    return 0;
}

/* The file named in "missing tensor" errors: the single file or the shard index. */
static const char *checkpoint_file_name(const hs_st_set *set, const char *dir, char *buf,
                                        size_t buflen)
{
    snprintf(buf, buflen, "%s/model.safetensors.index.json", dir);
    struct stat st;
    if (stat(buf, &st) == 0)
        return buf;
    if (hs_st_count(set) > 0)
        return hs_st_at(set, 0)->file;
    snprintf(buf, buflen, "%s/model.safetensors", dir);
    return buf;
}

static int check_tensors(const hs_model *m, const param_table *t, const hs_st_set *set,
                         const hs_st_tensor **found, char *err, size_t errlen)
{
    char fbuf[4200];
    for (size_t i = 0; i < t->n; i++) {
        const hs_tensor_ref *r = &t->refs[i];
        const hs_st_tensor *st = hs_st_find(set, r->name);
        if (!st)
            return hs_errf(err, errlen, "%s: tensor '%s' is missing",
                           checkpoint_file_name(set, m->path, fbuf, sizeof fbuf), r->name);
        bool ok = st->ndim == r->ndim && st->shape[0] == r->shape[0] &&
                  (r->ndim == 1 || st->shape[1] == r->shape[1]);
        if (!ok) {
            char got[128] = "[";
            for (int d = 0; d < st->ndim && d < HS_ST_MAX_DIMS; d++) {
                size_t len = strlen(got);
                snprintf(got + len, sizeof got - len, "%s%lld", d ? ", " : "",
                         (long long)st->shape[d]);
            }
            strncat(got, "]", sizeof got - strlen(got) - 1);
            char want[64];
            if (r->ndim == 2)
                snprintf(want, sizeof want, "[%lld, %lld]", (long long)r->shape[0],
                         (long long)r->shape[1]);
            else
                snprintf(want, sizeof want, "[%lld]", (long long)r->shape[0]);
            return hs_errf(err, errlen, "%s: tensor '%s' has shape %s, config.json implies %s",
                           st->file, r->name, got, want);
        }
        if (st->dtype != HS_DTYPE_F32 && st->dtype != HS_DTYPE_F16 &&
            st->dtype != HS_DTYPE_BF16)
            return hs_errf(err, errlen, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 needed)",
                           st->file, r->name, hs_dtype_name(st->dtype));
        found[i] = st;
    }
    return 0;
}

/* Converts every tensor to fp32 into its place in param_memory. The cpu backend's memory is
 * host memory (ops.h), so it is written directly; other backends go through one host
 * staging buffer of the largest tensor. */
static int upload_tensors(hs_model *m, const param_table *t, const hs_st_tensor **found,
                          char *err, size_t errlen)
{
    bool host_memory = strcmp(m->be->name, "cpu") == 0;
    float *staging = NULL;
    if (!host_memory) {
        size_t max_numel = 0;
        for (size_t i = 0; i < t->n; i++)
            if (t->refs[i].numel > max_numel)
                max_numel = t->refs[i].numel;
        staging = malloc(max_numel * sizeof(float));
        if (!staging)
            return hs_errf(err, errlen, "model %s: out of host memory staging %zu floats",
                           m->path, max_numel);
    }
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const hs_tensor_ref *r = &t->refs[i];
        float *dst = m->param_memory + r->offset;
        if (host_memory) {
            rc = hs_st_to_f32(found[i], dst, err, errlen);
        } else {
            rc = hs_st_to_f32(found[i], staging, err, errlen);
            if (rc == 0 && m->be->upload(m->bctx, dst, staging, r->numel * sizeof(float)) != 0)
                rc = hs_errf(err, errlen, "model %s: uploading tensor '%s' failed: %s", m->path,
                             r->name, m->be->last_error(m->bctx));
        }
    }
    free(staging);
    return rc;
}

/* Newest modification time over the directory's regular files (config, tokenizer, weights,
 * index), in nanoseconds. */
int hs_model_dir_mtime_ns(const char *dir, long long *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return hs_errf(err, errlen, "model directory %s: %s", dir, strerror(errno));
    long long newest = 0;
    struct dirent *e;
    char p[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        long long ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (ns > newest)
            newest = ns;
    }
    closedir(d);
    *out = newest;
    return 0;
}

hs_model *hs_model_load(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                              char *err, size_t errlen)
{
    hs_model *m = calloc(1, sizeof *m);
    if (!m) {
        hs_errf(err, errlen, "model %s: out of memory", dir);
        return NULL;
    }
    m->be = be;
    m->bctx = bctx;
    param_table t = {0};
    const hs_st_tensor **found = NULL;
    hs_st_set *set = NULL;
    char p[PATH_MAX + 64];

    char abs[PATH_MAX];
    if (!realpath(dir, abs)) {
        hs_errf(err, errlen, "model directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        hs_errf(err, errlen, "model directory %s: not a directory", dir);
        goto fail;
    }
    if (strlen(abs) >= sizeof m->path) {
        hs_errf(err, errlen, "model directory %s: path too long", dir);
        goto fail;
    }
    snprintf(m->path, sizeof m->path, "%s", abs);

    snprintf(p, sizeof p, "%s/config.json", m->path);
    if (hs_model_config_load(p, &m->cfg, err, errlen) != 0)
        goto fail;
    if (m->cfg.apply_residual_connection_post_layernorm) {
        hs_errf(err, errlen, "%s: apply_residual_connection_post_layernorm true is not supported",
                p);
        goto fail;
    }

    snprintf(p, sizeof p, "%s/tokenizer.json", m->path);
    if (stat(p, &st) != 0) {
        hs_errf(err, errlen, "model directory %s has no tokenizer.json", m->path);
        goto fail;
    }
    m->tok = hs_tokenizer_load(p, err, errlen);
    if (!m->tok)
        goto fail;

    set = hs_st_open_dir(m->path, err, errlen);
    if (!set)
        goto fail;
    if (build_table(m, &t, err, errlen) != 0)
        goto fail;
    found = calloc(t.n, sizeof *found);
    if (!found) {
        hs_errf(err, errlen, "model %s: out of memory", m->path);
        goto fail;
    }
    if (check_tensors(m, &t, set, found, err, errlen) != 0)
        goto fail;
    m->source_dtype = found[0]->dtype; /* word_embeddings.weight */

    m->n_params = t.total;
    m->param_memory = be->alloc(bctx, t.total * sizeof(float));
    if (!m->param_memory) {
        hs_errf(err, errlen, "model %s: cannot allocate %zu parameters on %s: %s", m->path,
                t.total, be->name, be->last_error(bctx));
        goto fail;
    }
    for (size_t i = 0; i < t.n; i++)
        *t.dst[i] = m->param_memory + t.refs[i].offset;
    if (upload_tensors(m, &t, found, err, errlen) != 0)
        goto fail;

    float *host_slopes = malloc((size_t)m->cfg.n_head * sizeof(float));
    m->slopes = be->alloc(bctx, (size_t)m->cfg.n_head * sizeof(float));
    if (!host_slopes || !m->slopes) {
        free(host_slopes);
        hs_errf(err, errlen, "model %s: cannot allocate the ALiBi slopes", m->path);
        goto fail;
    }
    hs_alibi_slopes(m->cfg.n_head, host_slopes);
    int up = be->upload(bctx, m->slopes, host_slopes, (size_t)m->cfg.n_head * sizeof(float));
    free(host_slopes);
    if (up != 0) {
        hs_errf(err, errlen, "model %s: uploading the ALiBi slopes failed: %s", m->path,
                be->last_error(bctx));
        goto fail;
    }
    if (hs_model_dir_mtime_ns(m->path, &m->files_mtime_ns, err, errlen) != 0)
        goto fail;

    m->tensors = t.refs;
    m->n_tensors = t.n;
    t.refs = NULL;
    free(t.dst);
    free(found);
    hs_st_close(set);
    return m;

fail:
    free(t.refs);
    free(t.dst);
    free(found);
    if (set)
        hs_st_close(set);
    hs_model_free(m);
    return NULL;
}

void hs_model_free(hs_model *m)
{
    if (!m)
        return;
    hs_model_fwd_acts_free(m);
    if (m->param_memory)
        m->be->free(m->bctx, m->param_memory);
    if (m->slopes)
        m->be->free(m->bctx, m->slopes);
    if (m->tok)
        hs_tokenizer_free(m->tok);
    free(m->p.layers);
    free(m->tensors);
    free(m);
}

const hs_tensor_ref *hs_model_find_tensor(const hs_model *m, const char *name)
{
    if (strncmp(name, "transformer.", 12) == 0)
        name += 12;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}
