/* safetensors writer: tensors collected in memory, then written atomically (temporary file in
 * the same directory, fsync, rename, fsync of the directory). Header: compact JSON with
 * "__metadata__" first, then tensors in the reference writer's order (descending dtype
 * alignment, then name), right-padded with spaces to a multiple of 8 bytes. */
#include "common/errors.h"
#include "common/file_io.h"
#include "safetensors.h"
#include "safetensors_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wtensor {
    char *name;
    hs_dtype dtype;
    int ndim;
    int64_t shape[HS_ST_MAX_DIMS];
    unsigned char *data;
    size_t nbytes;
    bool borrowed; /* data is the caller's (hs_st_writer_add_borrowed), not freed here */
} wtensor;

typedef struct meta_kv {
    char *key, *value;
} meta_kv;

struct hs_st_writer {
    wtensor *t;
    size_t n, cap;
    meta_kv *meta;
    size_t n_meta;
};

/* Growable byte buffer for the header. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_fmt_u64(sbuf *b, unsigned long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    sb_put(b, tmp, (size_t)n);
}

/* JSON string literal (UTF-8 passed through; quotes, backslashes and controls escaped). */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\') {
            char esc[2] = {'\\', (char)*q};
            sb_put(b, esc, 2);
        } else if (*q < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", *q);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)q, 1);
        }
    }
    sb_put(b, "\"", 1);
}

hs_st_writer *hs_st_writer_new(void)
{
    return calloc(1, sizeof(hs_st_writer));
}

void hs_st_writer_free(hs_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        if (!w->t[i].borrowed)
            free(w->t[i].data);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

int hs_st_writer_set_metadata(hs_st_writer *w, const char *key, const char *value)
{
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return -1;
            free(w->meta[i].value);
            w->meta[i].value = v;
            return 0;
        }
    meta_kv *m = realloc(w->meta, (w->n_meta + 1) * sizeof *m);
    if (!m)
        return -1;
    w->meta = m;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta].value = v;
    w->n_meta++;
    return 0;
}

/* Validates name/shape and reserves a slot with a buffer of the right size. */
/* The next tensor entry, named and shaped, with nbytes of data allocated unless borrow. */
static wtensor *add_slot(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                         const int64_t *shape, bool borrow, size_t *nbytes_out, char *err,
                         size_t errlen)
{
    if (!name || !*name || strcmp(name, "__metadata__") == 0) {
        hs_errf(err, errlen, "safetensors writer: invalid tensor name '%s'", name ? name : "");
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            hs_errf(err, errlen, "safetensors writer: tensor '%s' added twice", name);
            return NULL;
        }
    if (ndim < 0 || ndim > HS_ST_MAX_DIMS) {
        hs_errf(err, errlen, "safetensors writer: tensor '%s': %d dimensions", name, ndim);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && numel > INT64_MAX / shape[i])) {
            hs_errf(err, errlen, "safetensors writer: tensor '%s': bad shape", name);
            return NULL;
        }
        numel *= shape[i];
    }
    uint64_t nbytes;
    if (hs_st_byte_size(dtype, numel, &nbytes) != 0 || nbytes > SIZE_MAX) {
        hs_errf(err, errlen, "safetensors writer: tensor '%s': %lld elements of %s do not make "
                "whole bytes", name, (long long)numel, hs_dtype_name(dtype));
        return NULL;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) {
            hs_errf(err, errlen, "safetensors writer: out of memory");
            return NULL;
        }
        w->t = t;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->borrowed = borrow;
    t->data = borrow ? NULL : malloc(nbytes ? (size_t)nbytes : 1);
    if (!t->name || (!borrow && !t->data)) {
        free(t->name);
        free(t->data);
        hs_errf(err, errlen, "safetensors writer: tensor '%s': out of memory", name);
        return NULL;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = (size_t)nbytes;
    *nbytes_out = (size_t)nbytes;
    return t;
}

int hs_st_writer_add_raw(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                         const int64_t *shape, const void *data, size_t nbytes, char *err,
                         size_t errlen)
{
    size_t want;
    wtensor *t = add_slot(w, name, dtype, ndim, shape, false, &want, err, errlen);
    if (!t)
        return -1;
    if (want != nbytes) {
        free(t->name);
        free(t->data);
        return hs_errf(err, errlen, "safetensors writer: tensor '%s': %zu bytes given, shape and "
                       "%s need %zu", name, nbytes, hs_dtype_name(dtype), want);
    }
    if (nbytes)
        memcpy(t->data, data, nbytes);
    w->n++;
    return 0;
}

int hs_st_writer_add_borrowed(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                              const int64_t *shape, const void *data, size_t nbytes, char *err,
                              size_t errlen)
{
    size_t want;
    wtensor *t = add_slot(w, name, dtype, ndim, shape, true, &want, err, errlen);
    if (!t)
        return -1;
    if (want != nbytes) {
        free(t->name);
        return hs_errf(err, errlen, "safetensors writer: tensor '%s': %zu bytes given, shape and "
                       "%s need %zu", name, nbytes, hs_dtype_name(dtype), want);
    }
    t->data = (unsigned char *)data; /* only read, by the write */
    w->n++;
    return 0;
}

int hs_st_writer_add_f32(hs_st_writer *w, const char *name, hs_dtype dtype, int ndim,
                         const int64_t *shape, const float *data, char *err, size_t errlen)
{
    if (dtype != HS_DTYPE_F32 && dtype != HS_DTYPE_F16 && dtype != HS_DTYPE_BF16)
        return hs_errf(err, errlen, "safetensors writer: tensor '%s': fp32 data can be stored as "
                       "F32, F16 or BF16, not %s", name ? name : "", hs_dtype_name(dtype));
    size_t nbytes;
    wtensor *t = add_slot(w, name, dtype, ndim, shape, false, &nbytes, err, errlen);
    if (!t)
        return -1;
    if (dtype == HS_DTYPE_F32) {
        for (size_t i = 0; i < nbytes / 4; i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            for (int k = 0; k < 4; k++)
                t->data[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
    } else {
        for (size_t i = 0; i < nbytes / 2; i++) {
            uint16_t h = dtype == HS_DTYPE_F16 ? hs_f32_to_f16(data[i]) : hs_f32_to_bf16(data[i]);
            t->data[2 * i] = (unsigned char)(h & 0xFF);
            t->data[2 * i + 1] = (unsigned char)(h >> 8);
        }
    }
    w->n++;
    return 0;
}

/* Reference writer order: larger dtype first, then name. */
static int cmp_write_order(const void *a, const void *b)
{
    const wtensor *x = *(const wtensor *const *)a, *y = *(const wtensor *const *)b;
    int bx = hs_st_dtype_bits(x->dtype), by = hs_st_dtype_bits(y->dtype);
    if (bx != by)
        return bx > by ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The header JSON (metadata, then tensors in write order with contiguous offsets), padded
 * with spaces to a multiple of 8 bytes. h->oom tells of a failed allocation. */
static void build_header(const hs_st_writer *w, const wtensor *const *order, sbuf *h)
{
    sb_str(h, "{\"__metadata__\":{");
    for (size_t i = 0; i < w->n_meta; i++) {
        if (i)
            sb_str(h, ",");
        sb_json_string(h, w->meta[i].key);
        sb_str(h, ":");
        sb_json_string(h, w->meta[i].value);
    }
    sb_str(h, "}");
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = order[i];
        sb_str(h, ",");
        sb_json_string(h, t->name);
        sb_str(h, ":{\"dtype\":\"");
        sb_str(h, hs_dtype_name(t->dtype));
        sb_str(h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_str(h, ",");
            sb_fmt_u64(h, (unsigned long long)t->shape[d]);
        }
        sb_str(h, "],\"data_offsets\":[");
        sb_fmt_u64(h, (unsigned long long)offset);
        sb_str(h, ",");
        offset += t->nbytes;
        sb_fmt_u64(h, (unsigned long long)offset);
        sb_str(h, "]}");
    }
    sb_str(h, "}");
    while (!h->oom && h->n % 8)
        sb_str(h, " ");
}

/* Writes length, header and data to tmp, fsyncs and closes it; removes tmp on failure. */
static int write_temp_file(const hs_st_writer *w, const wtensor *const *order, const sbuf *h,
                           const char *tmp, char *err, size_t errlen)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    unsigned char len8[8];
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)((uint64_t)h->n >> (8 * k));
    int bad = write_all(fd, len8, 8) != 0 || write_all(fd, h->p, h->n) != 0;
    for (size_t i = 0; i < w->n && !bad; i++)
        bad = write_all(fd, order[i]->data, order[i]->nbytes) != 0;
    if (bad || fsync(fd) != 0) {
        int rc = hs_errf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0) {
        int rc = hs_errf(err, errlen, "%s: close failed: %s", tmp, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return 0;
}

/* Writes the file atomically: a temporary file beside path, renamed into place, then the
 * directory entry made durable. */
static int write_atomically(const hs_st_writer *w, const wtensor *const *order, const sbuf *h,
                            const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return hs_errf(err, errlen, "%s: path too long", path);
    if (write_temp_file(w, order, h, tmp, err, errlen) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        int rc = hs_errf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return hs_fsync_parent_dir(path, err, errlen) != 0 ? -1 : 0;
}

int hs_st_writer_write(hs_st_writer *w, const char *path, char *err, size_t errlen)
{
    int has_format = 0;
    for (size_t i = 0; i < w->n_meta; i++)
        has_format |= strcmp(w->meta[i].key, "format") == 0;
    if (!has_format && hs_st_writer_set_metadata(w, "format", "pt") != 0)
        return hs_errf(err, errlen, "%s: out of memory", path);

    const wtensor **order = malloc((w->n ? w->n : 1) * sizeof *order);
    if (!order)
        return hs_errf(err, errlen, "%s: out of memory", path);
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, cmp_write_order);

    sbuf h = {0};
    build_header(w, order, &h);
    int rc = h.oom ? hs_errf(err, errlen, "%s: out of memory building the header", path)
                   : write_atomically(w, order, &h, path, err, errlen);
    free(h.p);
    free(order);
    return rc;
}
