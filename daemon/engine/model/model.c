/* Loading an HF model directory onto a backend (model.h): config.json (its family), the
 * config checked against the checkpoint before anything is sized from it, tokenizer.json,
 * the family's tensors checked against the config's shapes; each tensor either left mapped in
 * its file dtype or converted to fp32 with QKV rows in the engine's order and placed in ONE
 * backend allocation laid out by the parameter table; the family's ALiBi slopes; the cache key
 * (absolute path, newest file mtime). Freeing a model. Runs no compute: the widening of mapped
 * layers when they run is model_weights.c. */
#include "model.h"
#include "model_activations.h"
#include "model_weights.h"
#include "common/errors.h"
#include "common/system_memory.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The parameter table under construction, with where each tensor's pointer goes. */
typedef struct param_table {
    hs_tensor_ref *refs;
    float ***dst; /* *dst[i] receives param_memory + refs[i].offset */
    size_t n, cap;
    size_t total; /* floats */
} param_table;

/* Shape of a slot for cfg: ndim and the two extents. */
static int slot_shape(const hs_model_config *c, hs_tensor_slot slot, int64_t *s0, int64_t *s1)
{
    const int64_t V = c->vocab_size, C = c->hidden_size, F = c->mlp_hidden;
    *s1 = 0;
    switch (slot) {
    case HS_SLOT_WTE: *s0 = V; *s1 = C; return 2;
    case HS_SLOT_QKV_W: *s0 = 3 * C; *s1 = C; return 2;
    case HS_SLOT_QKV_B: *s0 = 3 * C; return 1;
    case HS_SLOT_DENSE_W: *s0 = C; *s1 = C; return 2;
    case HS_SLOT_FC_W: *s0 = F; *s1 = C; return 2;
    case HS_SLOT_FC_B: *s0 = F; return 1;
    case HS_SLOT_PROJ_W: *s0 = C; *s1 = F; return 2;
    default: *s0 = C; return 1; /* layernorm weights and biases, dense and proj biases */
    }
}

float **hs_model_layer_slot(hs_layer_params *lp, hs_tensor_slot slot)
{
    switch (slot) {
    case HS_SLOT_LN1_W: return &lp->ln1_w;
    case HS_SLOT_LN1_B: return &lp->ln1_b;
    case HS_SLOT_QKV_W: return &lp->qkv_w;
    case HS_SLOT_QKV_B: return &lp->qkv_b;
    case HS_SLOT_DENSE_W: return &lp->dense_w;
    case HS_SLOT_DENSE_B: return &lp->dense_b;
    case HS_SLOT_LN2_W: return &lp->ln2_w;
    case HS_SLOT_LN2_B: return &lp->ln2_b;
    case HS_SLOT_FC_W: return &lp->fc_w;
    case HS_SLOT_FC_B: return &lp->fc_b;
    case HS_SLOT_PROJ_W: return &lp->proj_w;
    case HS_SLOT_PROJ_B: return &lp->proj_b;
    default: return NULL;
    }
}

/* Where the pointer of slot (layer) lives in m->p. */
static float **slot_pointer(hs_model *m, hs_tensor_slot slot, int layer)
{
    switch (slot) {
    case HS_SLOT_WTE: return &m->p.wte;
    case HS_SLOT_EMB_LN_W: return &m->p.wte_ln_w;
    case HS_SLOT_EMB_LN_B: return &m->p.wte_ln_b;
    case HS_SLOT_LNF_W: return &m->p.lnf_w;
    case HS_SLOT_LNF_B: return &m->p.lnf_b;
    default: return layer >= 0 ? hs_model_layer_slot(&m->p.layers[layer], slot) : NULL;
    }
}

static int table_add(param_table *t, hs_model *m, hs_tensor_slot slot, int layer)
{
    if (t->n == t->cap)
        return -1;
    hs_tensor_ref *r = &t->refs[t->n];
    if (hs_family_tensor_name(m->cfg.family, slot, layer, r->name, sizeof r->name) != 0)
        return -1;
    r->slot = slot;
    r->layer = layer;
    r->ndim = slot_shape(&m->cfg, slot, &r->shape[0], &r->shape[1]);
    r->numel = (size_t)r->shape[0] * (size_t)(r->ndim == 2 ? r->shape[1] : 1);
    t->dst[t->n] = slot_pointer(m, slot, layer);
    t->n++;
    return 0;
}

/* The number of tensors and floats (64-byte aligned) the config implies, computed without
 * allocating, with overflow checks: what a config can be checked against before any
 * allocation is sized from it. */
static int count_parameters(const hs_model_config *c, size_t *tensors, size_t *floats,
                            char *err, size_t errlen, const char *path)
{
    size_t n_global = 0, n_layer = 0, f_global = 0, f_layer = 0;
    for (int s = 0; s < HS_SLOT_COUNT; s++) {
        if (!c->family->tensor_names[s])
            continue;
        int64_t s0, s1;
        int nd = slot_shape(c, (hs_tensor_slot)s, &s0, &s1);
        size_t numel = (size_t)s0 * (size_t)(nd == 2 ? s1 : 1);
        if (nd == 2 && s1 > 0 && numel / (size_t)s1 != (size_t)s0)
            return hs_errf(err, errlen, "%s: config.json: tensor sizes overflow", path);
        size_t padded = (numel + 15) / 16 * 16;
        if (hs_slot_is_per_layer((hs_tensor_slot)s)) {
            n_layer++;
            f_layer += padded;
        } else {
            n_global++;
            f_global += padded;
        }
    }
    const size_t L = (size_t)c->n_layer;
    if (f_layer && L > (SIZE_MAX - f_global) / f_layer)
        return hs_errf(err, errlen, "%s: config.json: %d layers overflow the parameter count",
                       path, c->n_layer);
    *tensors = n_global + L * n_layer;
    *floats = f_global + L * f_layer;
    return 0;
}

/* Builds the table for cfg from the family's tensor names; the pointers it records live in
 * m->p. */
static int build_table(hs_model *m, param_table *t, size_t n_tensors, char *err, size_t errlen)
{
    const hs_model_config *c = &m->cfg;
    t->cap = n_tensors;
    t->refs = calloc(t->cap, sizeof *t->refs);
    t->dst = calloc(t->cap, sizeof *t->dst);
    m->p.layers = calloc((size_t)c->n_layer, sizeof *m->p.layers);
    if (!t->refs || !t->dst || !m->p.layers)
        return hs_errf(err, errlen, "model %s: out of memory for the parameter table", m->path);
    const hs_family *f = c->family;
    int rc = 0;
    /* globals first (embeddings), then every block, then the final layernorm */
    for (int s = HS_SLOT_WTE; s <= HS_SLOT_EMB_LN_B; s++)
        if (f->tensor_names[s])
            rc |= table_add(t, m, (hs_tensor_slot)s, -1);
    for (int l = 0; l < c->n_layer; l++)
        for (int s = HS_SLOT_LN1_W; s <= HS_SLOT_PROJ_B; s++)
            if (f->tensor_names[s])
                rc |= table_add(t, m, (hs_tensor_slot)s, l);
    for (int s = HS_SLOT_LNF_W; s <= HS_SLOT_LNF_B; s++)
        if (f->tensor_names[s])
            rc |= table_add(t, m, (hs_tensor_slot)s, -1);
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

/* The table dtype a checkpoint dtype is read as in place, or −1 for one that must be
 * converted (F32 is never mapped: it would gain nothing over resident fp32). */
static int mappable_dtype(hs_dtype dt)
{
    return dt == HS_DTYPE_F16 ? HS_TABLE_F16 : dt == HS_DTYPE_BF16 ? HS_TABLE_BF16 : -1;
}

/* Decides for each tensor whether it stays mapped (the matrices of an fp16/bf16 checkpoint
 * the backend can read in place, 2-byte aligned in the file) and lays out param_memory (the
 * rest, each tensor 16-float = 64-byte aligned) and the layer scratch (one layer's mapped
 * matrices, the largest layer's worth). */
static void place_tensors(hs_model *m, param_table *t, const hs_st_tensor **found,
                          hs_weights_placement placement)
{
    const hs_backend *be = m->be;
    size_t scratch_max = 0, scratch_layer = 0;
    int layer = -2;
    t->total = 0;
    for (size_t i = 0; i < t->n; i++) {
        hs_tensor_ref *r = &t->refs[i];
        if (r->layer != layer) {
            layer = r->layer;
            scratch_layer = 0;
        }
        int td = mappable_dtype(found[i]->dtype);
        unsigned storage_bit = td == HS_TABLE_F16 ? HS_STORAGE_F16 : HS_STORAGE_BF16;
        r->mapped = placement != HS_WEIGHTS_FP32 && be->caps.host_memory && r->ndim == 2 &&
                    td >= 0 && (be->caps.storage_dtypes & storage_bit) &&
                    ((uintptr_t)found[i]->data % sizeof(uint16_t)) == 0;
        if (r->mapped) {
            r->file_data = found[i]->data;
            r->file_dtype = (hs_table_dtype)td;
            if (r->layer >= 0) {
                r->scratch_offset = scratch_layer;
                scratch_layer += (r->numel + 15) / 16 * 16;
                if (scratch_layer > scratch_max)
                    scratch_max = scratch_layer;
            }
            m->weights_mapped = true;
            continue;
        }
        r->offset = t->total;
        t->total += (r->numel + 15) / 16 * 16;
    }
    m->layer_scratch_floats = scratch_max;
}

/* Converts every tensor to fp32 into its place in param_memory, rows in the engine's order.
 * Host-memory backends (caps) are written directly; others go through a host staging buffer
 * of the largest tensor. A tensor whose rows are permuted is converted into staging first. */
static int upload_tensors(hs_model *m, const param_table *t, const hs_st_tensor **found,
                          char *err, size_t errlen)
{
    const bool host_memory = m->be->caps.host_memory;
    size_t max_numel = 0;
    bool any_permuted = false;
    for (size_t i = 0; i < t->n; i++) {
        if (t->refs[i].mapped)
            continue;
        if (t->refs[i].numel > max_numel)
            max_numel = t->refs[i].numel;
        any_permuted |= hs_model_needs_row_permutation(m, &t->refs[i]);
    }
    float *staging = NULL, *permuted = NULL;
    if (!host_memory || any_permuted) {
        staging = malloc(max_numel * sizeof(float));
        permuted = any_permuted && !host_memory ? malloc(max_numel * sizeof(float)) : NULL;
        if (!staging || (any_permuted && !host_memory && !permuted)) {
            free(staging);
            free(permuted);
            return hs_errf(err, errlen, "model %s: out of host memory staging %zu floats",
                           m->path, max_numel);
        }
    }
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const hs_tensor_ref *r = &t->refs[i];
        if (r->mapped)
            continue;
        float *dst = m->param_memory + r->offset;
        const bool permute = hs_model_needs_row_permutation(m, r);
        if (host_memory && !permute) {
            rc = hs_st_to_f32(found[i], dst, err, errlen);
            continue;
        }
        rc = hs_st_to_f32(found[i], staging, err, errlen);
        if (rc != 0)
            break;
        const float *ready = staging;
        if (permute) {
            float *target = host_memory ? dst : permuted;
            hs_model_permute_qkv_rows(m, r, staging, target);
            if (host_memory)
                continue;
            ready = permuted;
        }
        if (m->be->upload(m->bctx, dst, ready, r->numel * sizeof(float)) != 0)
            rc = hs_errf(err, errlen, "model %s: uploading tensor '%s' failed: %s", m->path,
                         r->name, m->be->last_error(m->bctx));
    }
    free(staging);
    free(permuted);
    return rc;
}

/* Before anything is sized from config.json: the checkpoint must hold at least as many tensors
 * as the config implies (its last block included). A config declaring millions of layers is
 * refused here, with the numbers, instead of being allocated. */
static int check_config_against_checkpoint(const hs_model *m, const hs_st_set *set,
                                           size_t *n_tensors, char *err, size_t errlen)
{
    size_t floats = 0;
    if (count_parameters(&m->cfg, n_tensors, &floats, err, errlen, m->path) != 0)
        return -1;
    char last[96];
    if (hs_family_tensor_name(m->cfg.family, HS_SLOT_QKV_W, m->cfg.n_layer - 1, last,
                              sizeof last) == 0 && !hs_st_find(set, last))
        return hs_errf(err, errlen, "model %s: config.json declares %d layers but the checkpoint "
                       "has no tensor '%s'", m->path, m->cfg.n_layer, last);
    /* A few missing tensors are named one by one later; a table far larger than the file
     * is refused here, before it is allocated. */
    size_t have = hs_st_count(set);
    if (*n_tensors / 2 > have)
        return hs_errf(err, errlen, "model %s: config.json declares %d layers, which needs %zu "
                       "tensors, but the checkpoint holds only %zu", m->path, m->cfg.n_layer,
                       *n_tensors, have);
    if (floats > SIZE_MAX / sizeof(float))
        return hs_errf(err, errlen, "model %s: %zu parameters overflow the address space",
                       m->path, floats);
    return 0;
}

/* A mapped model whose matrices as fp32 fit HS_KEEP_WIDENED_SHARE of the available memory
 * keeps each one widened after its first use (HS_WEIGHTS_AUTO); it needs no layer scratch. */
static void decide_keep_widened(hs_model *m, const param_table *t,
                                hs_weights_placement placement)
{
    if (!m->weights_mapped || placement != HS_WEIGHTS_AUTO)
        return;
    double fp32_bytes = 0.0;
    for (size_t i = 0; i < t->n; i++)
        if (t->refs[i].mapped)
            fp32_bytes += (double)t->refs[i].numel * sizeof(float);
    long long avail = hs_available_memory_bytes();
    if (avail > 0 && fp32_bytes <= HS_KEEP_WIDENED_SHARE * (double)avail) {
        m->keep_widened = true;
        m->layer_scratch_floats = 0;
    }
}

/* After placement, before any allocation: on a host-memory backend the fp32 parameters and the
 * layer scratch must fit in the memory the system has available (mapped matrices are file
 * pages the kernel can drop and re-read, so they are not counted here). */
static int check_memory(const hs_model *m, const param_table *t, char *err, size_t errlen)
{
    if (!m->be->caps.host_memory)
        return 0;
    long long avail = hs_available_memory_bytes();
    unsigned long long need = ((unsigned long long)t->total + m->layer_scratch_floats) *
                              sizeof(float);
    if (avail > 0 && need > (unsigned long long)avail)
        return hs_errf(err, errlen, "model %s: its fp32 parameters%s need %llu bytes but only "
                       "%lld bytes of memory are available", m->path,
                       m->weights_mapped ? " and layer scratch" : "", need, avail);
    return 0;
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

/* m->path = the absolute path of the directory `dir` (which must be one). */
static int set_model_path(hs_model *m, const char *dir, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        return hs_errf(err, errlen, "model directory %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode))
        return hs_errf(err, errlen, "model directory %s: not a directory", dir);
    if (strlen(abs) >= sizeof m->path)
        return hs_errf(err, errlen, "model directory %s: path too long", dir);
    snprintf(m->path, sizeof m->path, "%s", abs);
    return 0;
}

/* The family's ALiBi slopes into backend memory (m->slopes). */
static int load_slopes(hs_model *m, char *err, size_t errlen)
{
    const size_t bytes = (size_t)m->cfg.n_head * sizeof(float);
    float *host = malloc(bytes);
    m->slopes = m->be->alloc(m->bctx, bytes);
    if (!host || !m->slopes) {
        free(host);
        return hs_errf(err, errlen, "model %s: cannot allocate the ALiBi slopes", m->path);
    }
    m->cfg.family->alibi_slopes(&m->cfg, host);
    int up = m->be->upload(m->bctx, m->slopes, host, bytes);
    free(host);
    if (up != 0)
        return hs_errf(err, errlen, "model %s: uploading the ALiBi slopes failed: %s", m->path,
                       m->be->last_error(m->bctx));
    return 0;
}

/* tensors[layer_refs[l] .. layer_refs[l+1]−1] are layer l's (the table lists globals, then
 * every block in order, then the final layernorm). */
static int index_layers(hs_model *m, const param_table *t, char *err, size_t errlen)
{
    const int L = m->cfg.n_layer;
    m->layer_refs = calloc((size_t)L + 1, sizeof *m->layer_refs);
    if (!m->layer_refs)
        return hs_errf(err, errlen, "model %s: out of memory", m->path);
    size_t i = 0;
    while (i < t->n && t->refs[i].layer < 0)
        i++;
    for (int l = 0; l < L; l++) {
        m->layer_refs[l] = i;
        while (i < t->n && t->refs[i].layer == l)
            i++;
    }
    m->layer_refs[L] = i;
    return 0;
}

hs_model *hs_model_load(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                              char *err, size_t errlen)
{
    return hs_model_load_with(dir, be, bctx, HS_WEIGHTS_AUTO, err, errlen);
}

hs_model *hs_model_load_with(const char *dir, const hs_backend *be, hs_backend_ctx *bctx,
                             hs_weights_placement placement, char *err, size_t errlen)
{
    hs_model *m = calloc(1, sizeof *m);
    if (!m) {
        hs_errf(err, errlen, "model %s: out of memory", dir);
        return NULL;
    }
    m->be = be;
    m->bctx = bctx;
    m->scratch_layer = -1;
    param_table t = {0};
    const hs_st_tensor **found = NULL;
    hs_st_set *set = NULL;
    char p[PATH_MAX + 64];

    if (set_model_path(m, dir, err, errlen) != 0)
        goto fail;
    struct stat st;

    snprintf(p, sizeof p, "%s/config.json", m->path);
    if (hs_model_config_load(p, &m->cfg, err, errlen) != 0)
        goto fail;

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
    size_t n_tensors = 0;
    if (check_config_against_checkpoint(m, set, &n_tensors, err, errlen) != 0)
        goto fail;
    if (build_table(m, &t, n_tensors, err, errlen) != 0)
        goto fail;
    found = calloc(t.n, sizeof *found);
    if (!found) {
        hs_errf(err, errlen, "model %s: out of memory", m->path);
        goto fail;
    }
    if (check_tensors(m, &t, set, found, err, errlen) != 0)
        goto fail;
    m->source_dtype = found[0]->dtype; /* the token embeddings */
    place_tensors(m, &t, found, placement);
    decide_keep_widened(m, &t, placement);
    if (check_memory(m, &t, err, errlen) != 0 || index_layers(m, &t, err, errlen) != 0)
        goto fail;

    m->n_params = t.total;
    m->param_memory = be->alloc(bctx, t.total * sizeof(float));
    if (!m->param_memory) {
        hs_errf(err, errlen, "model %s: cannot allocate %zu parameters on %s: %s", m->path,
                t.total, be->name, be->last_error(bctx));
        goto fail;
    }
    for (size_t i = 0; i < t.n; i++)
        *t.dst[i] = t.refs[i].mapped ? NULL : m->param_memory + t.refs[i].offset;
    if (upload_tensors(m, &t, found, err, errlen) != 0)
        goto fail;
    if (m->layer_scratch_floats) {
        m->layer_scratch = be->alloc(bctx, m->layer_scratch_floats * sizeof(float));
        if (!m->layer_scratch) {
            hs_errf(err, errlen, "model %s: cannot allocate the layer scratch (%zu floats) on "
                    "%s: %s", m->path, m->layer_scratch_floats, be->name, be->last_error(bctx));
            goto fail;
        }
    }
    /* the embeddings are the first tensor of the table */
    m->wte_table = t.refs[0].mapped ? (hs_table){t.refs[0].file_data, t.refs[0].file_dtype}
                                    : hs_table_f32(m->p.wte);

    if (load_slopes(m, err, errlen) != 0)
        goto fail;
    if (hs_model_dir_mtime_ns(m->path, &m->files_mtime_ns, err, errlen) != 0)
        goto fail;

    m->tensors = t.refs;
    m->n_tensors = t.n;
    t.refs = NULL;
    free(t.dst);
    free(found);
    if (m->weights_mapped)
        m->mapping = set; /* the mapped matrices point into it */
    else
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
    if (m->layer_scratch)
        m->be->free(m->bctx, m->layer_scratch);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].promoted)
            m->be->free(m->bctx, m->tensors[i].promoted);
    if (m->mapping)
        hs_st_close(m->mapping);
    free(m->layer_refs);
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
