/* Writing, finding and restoring surgery checkpoints (see surgery_checkpoint.h). */
#include "surgery_checkpoint.h"
#include "engine/families/model_config.h"
#include "common/errors.h"
#include "common/file_io.h"
#include "engine/formats/safetensors.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const tokenizer_files[] = {"tokenizer.json", "tokenizer_config.json",
                                              "special_tokens_map.json"};

void hs_surgery_state_free(hs_surgery_state *st)
{
    if (!st)
        return;
    free(st->start_bos);
    free(st->targets);
    free(st->ckpts);
    st->start_bos = NULL;
    st->targets = NULL;
    st->ckpts = NULL;
    st->n_targets = st->n_ckpts = 0;
}

/* ---- small file helpers ------------------------------------------------------------- */

static int copy_file_synced(const char *src, const char *dst, char *err, size_t errlen)
{
    char *data;
    size_t len;
    if (!(data = hs_read_file(src, NULL, 0, &len, err, errlen)))
        return -1;
    int rc = hs_write_file_synced(dst, data, len, err, errlen);
    free(data);
    return rc;
}

static int join(char *out, size_t outlen, const char *dir, const char *name, char *err,
                size_t errlen)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outlen)
        return hs_errf(err, errlen, "path too long: %s/%s", dir, name);
    return 0;
}

/* ---- writing ------------------------------------------------------------------------- */

/* True when tensor t is still the mapped file's bytes in dtype dt: written back as they are. */
static bool unchanged_in_file(const hs_tensor_ref *t, hs_dtype dt)
{
    hs_table_dtype want = dt == HS_DTYPE_F16 ? HS_TABLE_F16 : HS_TABLE_BF16;
    return t->mapped && !t->promoted && (dt == HS_DTYPE_F16 || dt == HS_DTYPE_BF16) &&
           t->file_dtype == want;
}

/* The model's tensors under the family's checkpoint names, rows of the fused QKV tensors put
 * back into the family's file layout, in the dtype the model was loaded from. Tensors of a
 * mapped checkpoint that did not change are handed to the writer as the file's bytes. */
static int write_model_tensors(const hs_model *m, const char *path, char *err,
                               size_t errlen)
{
    const hs_family *f = m->cfg.family;
    const int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    hs_dtype dt = m->source_dtype;
    if (dt != HS_DTYPE_F32 && dt != HS_DTYPE_F16 && dt != HS_DTYPE_BF16)
        dt = HS_DTYPE_F32;
    size_t max_numel = 1;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!unchanged_in_file(&m->tensors[i], dt) && m->tensors[i].numel > max_numel)
            max_numel = m->tensors[i].numel;
    float *host = malloc(max_numel * sizeof(float));
    float *file_order = malloc(max_numel * sizeof(float));
    hs_st_writer *w = hs_st_writer_new();
    int rc = 0;
    if (!host || !file_order || !w) {
        rc = hs_errf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hs_tensor_ref *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%s%s", f->checkpoint_prefix, t->name);
        if (unchanged_in_file(t, dt)) {
            /* unchanged since the load: its bytes in the mapped file are the checkpoint's */
            if (hs_st_writer_add_borrowed(w, name, dt, t->ndim, t->shape, t->file_data,
                                          t->numel * sizeof(uint16_t), err, errlen) != 0) {
                rc = -1;
                goto done;
            }
            continue;
        }
        if (hs_model_tensor_to_host(m, t, host, err, errlen) != 0) {
            rc = -1;
            goto done;
        }
        const float *data = host;
        if (f->qkv_layout != HS_QKV_INTERLEAVED_PER_HEAD &&
            (t->slot == HS_SLOT_QKV_W || t->slot == HS_SLOT_QKV_B)) {
            const size_t rows = (size_t)t->shape[0], cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
            for (size_t r = 0; r < rows; r++)
                memcpy(file_order + hs_qkv_row_to_file(f->qkv_layout, r, C, d) * cols,
                       host + r * cols, cols * sizeof(float));
            data = file_order;
        }
        if (hs_st_writer_add_f32(w, name, dt, t->ndim, t->shape, data, err, errlen) != 0) {
            rc = -1;
            goto done;
        }
    }
    rc = hs_st_writer_write(w, path, err, errlen);
done:
    hs_st_writer_free(w);
    free(host);
    free(file_order);
    return rc;
}

/* Floats in the largest slice part of a head (the host buffer the state tensors go through). */
static size_t largest_slice_part(int C, int d)
{
    size_t qkv = hs_slice_part_numel(HS_SLICE_QKV_W, C, d);
    size_t dense = hs_slice_part_numel(HS_SLICE_DENSE, C, d);
    return qkv > dense ? qkv : dense;
}

/* The state tensor of a head's slice part: k = 0 the weights, 1 and 2 AdamW's moments. */
static void state_tensor_name(char *name, size_t len, const hs_head_slices *s,
                              hs_slice_part part, int k)
{
    static const char *const suffix[3] = {"", ".exp_avg", ".exp_avg_sq"};
    snprintf(name, len, "h.%d.head.%d.%s%s", s->layer, s->head, hs_slice_part_name(part),
             suffix[k]);
}

static int write_state_tensors(const char *path, const hs_head_slices *slices, int n_slices,
                               hs_surgery_optimizer *opt, const hs_backend *be,
                               hs_backend_ctx *bctx, int C, int d, char *err, size_t errlen)
{
    float *host = malloc(largest_slice_part(C, d) * sizeof(float));
    hs_st_writer *w = hs_st_writer_new();
    int rc = 0;
    if (!host || !w) {
        rc = hs_errf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", (long long)hs_surgery_optimizer_steps(opt));
    if (hs_st_writer_set_metadata(w, "adamw_step", steps) != 0) {
        rc = hs_errf(err, errlen, "%s: cannot set metadata", path);
        goto done;
    }
    for (int i = 0; i < n_slices; i++) {
        const hs_head_slices *s = &slices[i];
        for (int p = 0; p < HS_SLICE_PARTS; p++) {
            hs_slice_part part = (hs_slice_part)p;
            if (!hs_slice_has_part(s, part))
                continue;
            size_t n = hs_slice_part_numel(part, C, d);
            int64_t shape[2] = {part == HS_SLICE_QKV_W ? 3 * d : part == HS_SLICE_QKV_B ? 3 * d : C,
                                part == HS_SLICE_QKV_W ? C : d};
            int ndim = part == HS_SLICE_QKV_B ? 1 : 2;
            for (int k = 0; k < 3; k++) {
                char name[128];
                state_tensor_name(name, sizeof name, s, part, k);
                if (k == 0) {
                    if (hs_surgery_slice_download(be, bctx, s, part, C, d, host, err, errlen))
                        goto fail;
                } else if (be->download(bctx, host,
                                        hs_surgery_optimizer_moment(opt, i, part, k - 1),
                                        n * sizeof(float)) != 0) {
                    hs_errf(err, errlen, "%s: reading %s: %s", path, name, be->last_error(bctx));
                    goto fail;
                }
                if (hs_st_writer_add_f32(w, name, HS_DTYPE_F32, ndim, shape, host, err, errlen))
                    goto fail;
            }
        }
    }
    rc = hs_st_writer_write(w, path, err, errlen);
    goto done;
fail:
    rc = -1;
done:
    hs_st_writer_free(w);
    free(host);
    return rc;
}

static cJSON *number_or_null(double x)
{
    return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static char *state_to_json(const hs_surgery_state *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "prefix", st->prefix);
    cJSON_AddNumberToObject(o, "step", (double)st->step);
    cJSON_AddNumberToObject(o, "epoch", st->epoch);
    cJSON_AddNumberToObject(o, "micro_batch", (double)st->micro_batch);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)st->seed);
    cJSON_AddStringToObject(o, "seed", seed); /* a string: uint64 does not fit a double */
    cJSON_AddBoolToObject(o, "shuffle", st->shuffle);
    cJSON_AddItemToObject(o, "best_ppl", number_or_null(st->best_ppl));
    cJSON_AddNumberToObject(o, "patience_count", st->patience_count);
    cJSON_AddBoolToObject(o, "early_stopped", st->early_stopped);
    cJSON_AddNumberToObject(o, "n_layer", st->n_layer);
    cJSON_AddNumberToObject(o, "n_head", st->n_head);
    cJSON *targets = cJSON_AddArrayToObject(o, "targets");
    for (int i = 0; targets && i < st->n_targets; i++) {
        int pair[2] = {st->targets[i].layer, st->targets[i].head};
        cJSON_AddItemToArray(targets, cJSON_CreateIntArray(pair, 2));
    }
    if (st->start_bos)
        cJSON_AddItemToObject(o, "start_bos",
                              cJSON_CreateDoubleArray(st->start_bos, st->n_layer * st->n_head));
    cJSON *ckpts = cJSON_AddArrayToObject(o, "checkpoints");
    for (int i = 0; ckpts && i < st->n_ckpts; i++) {
        const hs_surgery_ckpt_entry *c = &st->ckpts[i];
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        cJSON_AddStringToObject(e, "name", c->name);
        cJSON_AddStringToObject(e, "path", c->path);
        cJSON_AddNumberToObject(e, "epoch", c->epoch);
        cJSON_AddNumberToObject(e, "step", (double)c->step);
        cJSON_AddItemToObject(e, "ppl", number_or_null(c->ppl));
        cJSON_AddNumberToObject(e, "woken", c->woken);
        cJSON_AddNumberToObject(e, "drift", c->drift);
        cJSON_AddBoolToObject(e, "best", c->best);
        cJSON_AddItemToArray(ckpts, e);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

int hs_surgery_checkpoint_write(const char *checkpoints_dir, const char *name,
                                const hs_model *m, const hs_head_slices *slices,
                                int n_slices, hs_surgery_optimizer *opt,
                                const hs_surgery_state *st, char *err, size_t errlen)
{
    char tmp[4096], final_dir[4096], old[4096], path[4096], src[4096], tmpname[160];
    if (mkdir(checkpoints_dir, 0755) != 0 && errno != EEXIST)
        return hs_errf(err, errlen, "%s: cannot create: %s", checkpoints_dir, strerror(errno));
    snprintf(tmpname, sizeof tmpname, ".tmp-%s-%ld", name, (long)getpid());
    if (join(tmp, sizeof tmp, checkpoints_dir, tmpname, err, errlen) ||
        join(final_dir, sizeof final_dir, checkpoints_dir, name, err, errlen))
        return -1;
    hs_remove_tree(tmp); /* a leftover of the same pid; absence is fine */
    if (mkdir(tmp, 0755) != 0)
        return hs_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));

    const hs_model_config *cfg = &m->cfg;
    char *state_text = NULL;
    if (join(path, sizeof path, tmp, "model.safetensors", err, errlen) ||
        write_model_tensors(m, path, err, errlen))
        goto fail;
    if (join(path, sizeof path, tmp, "config.json", err, errlen) ||
        hs_model_config_write(cfg, path, err, errlen))
        goto fail;
    for (size_t i = 0; i < sizeof tokenizer_files / sizeof tokenizer_files[0]; i++) {
        if (join(src, sizeof src, m->path, tokenizer_files[i], err, errlen) ||
            join(path, sizeof path, tmp, tokenizer_files[i], err, errlen))
            goto fail;
        if (access(src, R_OK) != 0)
            continue; /* optional files; the loader insists on tokenizer.json itself */
        if (copy_file_synced(src, path, err, errlen))
            goto fail;
    }
    if (join(path, sizeof path, tmp, HS_SURGERY_STATE_TENSORS, err, errlen) ||
        write_state_tensors(path, slices, n_slices, opt, m->be, m->bctx, cfg->hidden_size,
                            cfg->head_dim, err, errlen))
        goto fail;
    state_text = state_to_json(st);
    if (!state_text) {
        hs_errf(err, errlen, "%s: out of memory", HS_SURGERY_STATE_JSON);
        goto fail;
    }
    if (join(path, sizeof path, tmp, HS_SURGERY_STATE_JSON, err, errlen) ||
        hs_write_file_synced(path, state_text, strlen(state_text), err, errlen))
        goto fail;
    free(state_text);
    state_text = NULL;
    if (hs_fsync_path(tmp, err, errlen))
        goto fail;

    /* Replace an existing checkpoint of that name: move it aside first (rename cannot
     * replace a non-empty directory), then remove it once the new one is in place. */
    bool had_old = false;
    if (access(final_dir, F_OK) == 0) {
        snprintf(tmpname, sizeof tmpname, ".old-%s-%ld", name, (long)getpid());
        if (join(old, sizeof old, checkpoints_dir, tmpname, err, errlen))
            goto fail;
        hs_remove_tree(old);
        if (rename(final_dir, old) != 0) {
            hs_errf(err, errlen, "%s: cannot move aside: %s", final_dir, strerror(errno));
            goto fail;
        }
        had_old = true;
    }
    if (rename(tmp, final_dir) != 0) {
        hs_errf(err, errlen, "%s: cannot rename into place: %s", final_dir, strerror(errno));
        goto fail;
    }
    if (hs_fsync_path(checkpoints_dir, err, errlen))
        return -1;
    if (had_old)
        hs_remove_tree(old);
    return 0;
fail:
    free(state_text);
    hs_remove_tree(tmp);
    return -1;
}

/* ---- finding and reading ------------------------------------------------------------ */

int hs_surgery_checkpoint_cleanup(const char *checkpoints_dir, char *err, size_t errlen)
{
    DIR *dir = opendir(checkpoints_dir);
    if (!dir)
        return errno == ENOENT ? 0
                               : hs_errf(err, errlen, "%s: cannot list: %s", checkpoints_dir,
                                         strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0 && strncmp(e->d_name, ".old-", 5) != 0)
            continue;
        if (join(path, sizeof path, checkpoints_dir, e->d_name, NULL, 0) == 0)
            hs_remove_tree(path);
    }
    closedir(dir);
    return 0;
}

/* Optimizer steps of a complete checkpoint of the pass `prefix`, or -1. */
static int64_t state_step_of(const char *ckpt_dir, const char *prefix)
{
    char path[4096], *text;
    size_t len;
    if (join(path, sizeof path, ckpt_dir, HS_SURGERY_STATE_JSON, NULL, 0) ||
        !(text = hs_read_file(path, NULL, 0, &len, NULL, 0)))
        return -1;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(o, "prefix");
    const char *its_prefix = cJSON_IsString(pre) ? pre->valuestring : "";
    int64_t result = cJSON_IsNumber(step) && strcmp(its_prefix, prefix) == 0
                         ? (int64_t)step->valuedouble
                         : -1;
    cJSON_Delete(o);
    return result;
}

int hs_surgery_checkpoint_latest(const char *checkpoints_dir, const char *prefix, char *path,
                                 size_t pathlen, char *err, size_t errlen)
{
    DIR *dir = opendir(checkpoints_dir);
    if (!dir)
        return errno == ENOENT ? 0
                               : hs_errf(err, errlen, "%s: cannot list: %s", checkpoints_dir,
                                         strerror(errno));
    struct dirent *e;
    int64_t best = -1;
    char candidate[4096];
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (join(candidate, sizeof candidate, checkpoints_dir, e->d_name, NULL, 0))
            continue;
        int64_t step = state_step_of(candidate, prefix);
        if (step > best) {
            best = step;
            snprintf(path, pathlen, "%s", candidate);
        }
    }
    closedir(dir);
    return best >= 0 ? 1 : 0;
}

static int get_int(const cJSON *o, const char *key, int64_t *out, const char *file, char *err,
                   size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it))
        return hs_errf(err, errlen, "%s: field %s missing or not a number", file, key);
    *out = (int64_t)it->valuedouble;
    return 0;
}

static double get_number_or_nan(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

/* st->targets from the state's "targets": [[layer, head], ...] of numbers. */
static int read_state_targets(const cJSON *o, hs_surgery_state *st, const char *path, char *err,
                              size_t errlen)
{
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(o, "targets");
    int nt = cJSON_GetArraySize(targets);
    if (!cJSON_IsArray(targets))
        return hs_errf(err, errlen, "%s: field targets missing", path);
    st->targets = calloc(nt > 0 ? (size_t)nt : 1, sizeof *st->targets);
    if (!st->targets)
        return hs_errf(err, errlen, "%s: out of memory", path);
    for (int i = 0; i < nt; i++) {
        const cJSON *pair = cJSON_GetArrayItem(targets, i);
        const cJSON *l = cJSON_GetArrayItem(pair, 0), *h = cJSON_GetArrayItem(pair, 1);
        if (cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(l) || !cJSON_IsNumber(h))
            return hs_errf(err, errlen, "%s: targets[%d] is not a [layer, head] pair", path, i);
        st->targets[i].layer = (int)l->valuedouble;
        st->targets[i].head = (int)h->valuedouble;
    }
    st->n_targets = nt;
    return 0;
}

/* st->start_bos from the optional "start_bos": n_layer·n_head numbers. */
static int read_state_start_bos(const cJSON *o, hs_surgery_state *st, const char *path,
                                char *err, size_t errlen)
{
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(o, "start_bos");
    if (!cJSON_IsArray(bos))
        return 0;
    int n = cJSON_GetArraySize(bos);
    if (n != st->n_layer * st->n_head)
        return hs_errf(err, errlen, "%s: start_bos has %d values, expected %d", path, n,
                       st->n_layer * st->n_head);
    st->start_bos = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!st->start_bos)
        return hs_errf(err, errlen, "%s: out of memory", path);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, bos) st->start_bos[i++] = x->valuedouble;
    return 0;
}

/* st->ckpts from "checkpoints": the entries of the checkpoints written so far. */
static int read_state_checkpoints(const cJSON *o, hs_surgery_state *st, const char *path,
                                  char *err, size_t errlen)
{
    const cJSON *ckpts = cJSON_GetObjectItemCaseSensitive(o, "checkpoints");
    int nc = cJSON_GetArraySize(ckpts);
    st->ckpts = calloc(nc > 0 ? (size_t)nc : 1, sizeof *st->ckpts);
    if (!st->ckpts)
        return hs_errf(err, errlen, "%s: out of memory", path);
    for (int i = 0; i < nc; i++) {
        const cJSON *e = cJSON_GetArrayItem(ckpts, i);
        hs_surgery_ckpt_entry *c = &st->ckpts[i];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *cpath = cJSON_GetObjectItemCaseSensitive(e, "path");
        int64_t epoch = 0, step = 0, woken = -1, drift = -1;
        if (!cJSON_IsString(name) || !cJSON_IsString(cpath) ||
            get_int(e, "epoch", &epoch, path, err, errlen) ||
            get_int(e, "step", &step, path, err, errlen) ||
            get_int(e, "woken", &woken, path, err, errlen) ||
            get_int(e, "drift", &drift, path, err, errlen))
            return hs_errf(err, errlen, "%s: checkpoints[%d] incomplete", path, i);
        snprintf(c->name, sizeof c->name, "%s", name->valuestring);
        snprintf(c->path, sizeof c->path, "%s", cpath->valuestring);
        c->epoch = (int)epoch;
        c->step = step;
        c->woken = (int)woken;
        c->drift = (int)drift;
        c->ppl = get_number_or_nan(e, "ppl");
        c->best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "best"));
    }
    st->n_ckpts = nc;
    return 0;
}

/* The scalar fields: counters, sizes, seed, prefix, flags, best perplexity. */
static int read_state_scalars(const cJSON *o, hs_surgery_state *st, const char *path, char *err,
                              size_t errlen)
{
    int64_t v[7];
    const char *keys[7] = {"step", "epoch", "micro_batch", "patience_count", "n_layer", "n_head",
                           "version"};
    for (int i = 0; i < 7; i++)
        if (get_int(o, keys[i], &v[i], path, err, errlen))
            return -1;
    st->step = v[0];
    st->epoch = (int)v[1];
    st->micro_batch = v[2];
    st->patience_count = (int)v[3];
    st->n_layer = (int)v[4];
    st->n_head = (int)v[5];
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (!cJSON_IsString(seed))
        return hs_errf(err, errlen, "%s: field seed missing", path);
    st->seed = strtoull(seed->valuestring, NULL, 10);
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(o, "prefix");
    snprintf(st->prefix, sizeof st->prefix, "%s", cJSON_IsString(prefix) ? prefix->valuestring : "");
    st->shuffle = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "shuffle"));
    st->early_stopped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "early_stopped"));
    st->best_ppl = get_number_or_nan(o, "best_ppl");
    return 0;
}

int hs_surgery_checkpoint_read_state(const char *ckpt_dir, hs_surgery_state *st, char *err,
                                     size_t errlen)
{
    char path[4096], *text;
    size_t len;
    memset(st, 0, sizeof *st);
    if (join(path, sizeof path, ckpt_dir, HS_SURGERY_STATE_JSON, err, errlen) ||
        !(text = hs_read_file(path, NULL, 0, &len, err, errlen)))
        return -1;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(o))
        hs_errf(err, errlen, "%s: not a JSON object", path);
    else if (read_state_scalars(o, st, path, err, errlen) == 0 &&
             read_state_targets(o, st, path, err, errlen) == 0 &&
             read_state_start_bos(o, st, path, err, errlen) == 0 &&
             read_state_checkpoints(o, st, path, err, errlen) == 0)
        rc = 0;
    cJSON_Delete(o);
    if (rc != 0)
        hs_surgery_state_free(st);
    return rc;
}

int hs_surgery_checkpoint_restore(const char *ckpt_dir, const hs_head_slices *slices,
                                  int n_slices, int hidden, int head_dim,
                                  hs_surgery_optimizer *opt, int64_t steps, const hs_backend *be,
                                  hs_backend_ctx *bctx, char *err, size_t errlen)
{
    char path[4096];
    if (join(path, sizeof path, ckpt_dir, HS_SURGERY_STATE_TENSORS, err, errlen))
        return -1;
    hs_st_set *set = hs_st_open_file(path, err, errlen);
    if (!set)
        return -1;
    float *host = malloc(largest_slice_part(hidden, head_dim) * sizeof(float));
    int rc = 0;
    if (!host) {
        rc = hs_errf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n_slices; i++) {
        const hs_head_slices *s = &slices[i];
        for (int p = 0; p < HS_SLICE_PARTS; p++) {
            hs_slice_part part = (hs_slice_part)p;
            if (!hs_slice_has_part(s, part))
                continue;
            size_t n = hs_slice_part_numel(part, hidden, head_dim);
            for (int k = 0; k < 3; k++) {
                char name[128];
                state_tensor_name(name, sizeof name, s, part, k);
                const hs_st_tensor *t = hs_st_find(set, name);
                if (!t || (size_t)t->numel != n) {
                    rc = hs_errf(err, errlen, "%s: tensor %s missing or of the wrong size", path,
                                 name);
                    goto done;
                }
                if (hs_st_to_f32(t, host, err, errlen)) {
                    rc = -1;
                    goto done;
                }
                if (k == 0) {
                    if (hs_surgery_slice_upload(be, bctx, s, part, hidden, head_dim, host, err,
                                                errlen)) {
                        rc = -1;
                        goto done;
                    }
                } else if (be->upload(bctx, hs_surgery_optimizer_moment(opt, i, part, k - 1),
                                      host, n * sizeof(float)) != 0) {
                    rc = hs_errf(err, errlen, "%s: restoring %s: %s", path, name,
                                 be->last_error(bctx));
                    goto done;
                }
            }
        }
    }
    hs_surgery_optimizer_set_steps(opt, steps);
    if (be->synchronize(bctx) != 0)
        rc = hs_errf(err, errlen, "%s: %s", path, be->last_error(bctx));
done:
    free(host);
    hs_st_close(set);
    return rc;
}
