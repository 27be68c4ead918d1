/* safetensors reader: maps files read-only, validates the header exactly as the format demands
 * (length cap, JSON object of entries, known dtypes, byte size = numel x dtype size, offsets
 * contiguous from 0 and covering the whole buffer, no duplicate names, __metadata__ of
 * strings), opens sharded checkpoints through model.safetensors.index.json, and finds tensors
 * with or without the `transformer.` prefix. Format facts: docs/model-families.md "safetensors".
 * Writing lives in safetensors_write.c, conversions in safetensors_convert.c. */
#include "common/errors.h"
#include "common/file_io.h"
#include "safetensors.h"
#include "safetensors_internal.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    int bits;
} dtype_table[HS_DTYPE_COUNT] = {
    [HS_DTYPE_BOOL] = {"BOOL", 8},          [HS_DTYPE_U8] = {"U8", 8},
    [HS_DTYPE_I8] = {"I8", 8},              [HS_DTYPE_I16] = {"I16", 16},
    [HS_DTYPE_U16] = {"U16", 16},           [HS_DTYPE_F16] = {"F16", 16},
    [HS_DTYPE_BF16] = {"BF16", 16},         [HS_DTYPE_I32] = {"I32", 32},
    [HS_DTYPE_U32] = {"U32", 32},           [HS_DTYPE_F32] = {"F32", 32},
    [HS_DTYPE_F64] = {"F64", 64},           [HS_DTYPE_I64] = {"I64", 64},
    [HS_DTYPE_U64] = {"U64", 64},           [HS_DTYPE_C64] = {"C64", 64},
    [HS_DTYPE_F8_E5M2] = {"F8_E5M2", 8},    [HS_DTYPE_F8_E4M3] = {"F8_E4M3", 8},
    [HS_DTYPE_F8_E8M0] = {"F8_E8M0", 8},    [HS_DTYPE_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [HS_DTYPE_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8}, [HS_DTYPE_F4] = {"F4", 4},
    [HS_DTYPE_F6_E2M3] = {"F6_E2M3", 6},    [HS_DTYPE_F6_E3M2] = {"F6_E3M2", 6},
};

const char *hs_dtype_name(hs_dtype dt)
{
    if ((int)dt < 0 || dt >= HS_DTYPE_COUNT)
        return "?";
    return dtype_table[dt].name;
}

int hs_dtype_from_name(const char *name, hs_dtype *out)
{
    for (int i = 0; i < HS_DTYPE_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) {
            *out = (hs_dtype)i;
            return 0;
        }
    return -1;
}

int hs_st_dtype_bits(hs_dtype dt)
{
    if ((int)dt < 0 || dt >= HS_DTYPE_COUNT)
        return 0;
    return dtype_table[dt].bits;
}

int hs_st_byte_size(hs_dtype dt, int64_t numel, uint64_t *nbytes)
{
    int bits = hs_st_dtype_bits(dt);
    if (bits == 0 || numel < 0 || (uint64_t)numel > UINT64_MAX / (uint64_t)bits)
        return -1;
    uint64_t total_bits = (uint64_t)numel * (uint64_t)bits;
    if (total_bits % 8)
        return -1;
    *nbytes = total_bits / 8;
    return 0;
}

/* ---- the set ------------------------------------------------------------------------ */

typedef struct st_file {
    char *path;
    void *map;      /* whole file, read-only; NULL for an empty mapping */
    size_t size;
} st_file;

struct hs_st_set {
    st_file *files;
    size_t n_files;
    hs_st_tensor *tensors; /* file order, then data offset order */
    size_t n_tensors, cap_tensors;
    size_t *by_name;       /* indices into tensors sorted by name, for bsearch */
};

static void set_free_contents(hs_st_set *set)
{
    for (size_t i = 0; i < set->n_tensors; i++)
        free((char *)set->tensors[i].name);
    for (size_t i = 0; i < set->n_files; i++) {
        if (set->files[i].map)
            munmap(set->files[i].map, set->files[i].size);
        free(set->files[i].path);
    }
    free(set->tensors);
    free(set->files);
    free(set->by_name);
}

void hs_st_release_pages(const void *data, size_t nbytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !data)
        return;
    uintptr_t begin = ((uintptr_t)data + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t end = ((uintptr_t)data + nbytes) / (uintptr_t)page * (uintptr_t)page;
    if (end > begin)
        (void)madvise((void *)begin, end - begin, MADV_DONTNEED); /* advice: failure is harmless */
}

void hs_st_close(hs_st_set *set)
{
    if (!set)
        return;
    set_free_contents(set);
    free(set);
}

size_t hs_st_count(const hs_st_set *set)
{
    return set->n_tensors;
}

const hs_st_tensor *hs_st_at(const hs_st_set *set, size_t i)
{
    return i < set->n_tensors ? &set->tensors[i] : NULL;
}

/* ---- header parsing ------------------------------------------------------------------ */

/* One entry before its offsets are checked against the others. */
typedef struct pending {
    char *name;
    hs_dtype dtype;
    int ndim;
    int64_t shape[HS_ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;
} pending;

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

/* A JSON number that is a non-negative integer exactly representable (<= 2^53). */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_entry(const char *path, const cJSON *item, pending *p, char *err, size_t errlen)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return hs_errf(err, errlen, "%s: tensor '%s': header entry is not a JSON object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return hs_errf(err, errlen, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    if (hs_dtype_from_name(dtype->valuestring, &p->dtype) != 0)
        return hs_errf(err, errlen, "%s: tensor '%s': unknown dtype \"%.32s\"", path, name,
                       dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return hs_errf(err, errlen, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > HS_ST_MAX_DIMS)
        return hs_errf(err, errlen, "%s: tensor '%s': %d dimensions (at most %d supported)", path,
                       name, ndim, HS_ST_MAX_DIMS);
    p->ndim = ndim;
    uint64_t numel = 1;
    int overflow = 0;
    const cJSON *dim;
    int k = 0;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t d;
        if (json_u64(dim, &d) != 0)
            return hs_errf(err, errlen, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                           path, name, k);
        p->shape[k++] = (int64_t)d;
        if (d != 0 && numel > (uint64_t)INT64_MAX / d)
            overflow = 1;
        else
            numel *= d;
    }
    for (int j = 0; j < ndim; j++)
        if (p->shape[j] == 0)
            numel = 0, overflow = 0;
    if (overflow)
        return hs_errf(err, errlen, "%s: tensor '%s': shape element count overflows", path, name);
    p->numel = (int64_t)numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_u64(cJSON_GetArrayItem(offs, 0), &p->begin) != 0 ||
        json_u64(cJSON_GetArrayItem(offs, 1), &p->end) != 0)
        return hs_errf(err, errlen, "%s: tensor '%s': \"data_offsets\" must be [begin, end] "
                       "non-negative integers", path, name);
    if (p->end < p->begin)
        return hs_errf(err, errlen, "%s: tensor '%s': data_offsets end %llu before begin %llu",
                       path, name, (unsigned long long)p->end, (unsigned long long)p->begin);
    uint64_t nbytes;
    if (hs_st_byte_size(p->dtype, p->numel, &nbytes) != 0)
        return hs_errf(err, errlen, "%s: tensor '%s': %lld elements of %s do not make whole bytes",
                       path, name, (long long)p->numel, hs_dtype_name(p->dtype));
    if (nbytes != p->end - p->begin)
        return hs_errf(err, errlen, "%s: tensor '%s': shape/size mismatch: %lld elements of %s are "
                       "%llu bytes but data_offsets span %llu", path, name, (long long)p->numel,
                       hs_dtype_name(p->dtype), (unsigned long long)nbytes,
                       (unsigned long long)(p->end - p->begin));
    return 0;
}

static int cmp_pending_offset(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_pending_name(const void *a, const void *b)
{
    return strcmp((*(const pending *const *)a)->name, (*(const pending *const *)b)->name);
}

static int check_metadata(const char *path, const cJSON *meta, char *err, size_t errlen)
{
    if (!cJSON_IsObject(meta))
        return hs_errf(err, errlen, "%s: \"__metadata__\" is not an object of strings", path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta) {
        if (!cJSON_IsString(kv))
            return hs_errf(err, errlen, "%s: \"__metadata__\" value of '%s' is not a string", path,
                           kv->string);
    }
    return 0;
}

/* Reads the 8-byte little-endian header length and checks it against the format's cap and
 * the file size. */
static int read_header_length(const st_file *f, uint64_t *len, char *err, size_t errlen)
{
    const unsigned char *base = f->map;
    if (f->size < 8)
        return hs_errf(err, errlen, "%s: truncated: %zu bytes, shorter than the 8-byte header "
                       "length", f->path, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | base[i];
    if (n > HS_ST_MAX_HEADER_LEN)
        return hs_errf(err, errlen, "%s: header length %llu exceeds the format's limit of %llu",
                       f->path, (unsigned long long)n, (unsigned long long)HS_ST_MAX_HEADER_LEN);
    if (n > f->size - 8)
        return hs_errf(err, errlen, "%s: header length %llu runs past the end of the %zu-byte file",
                       f->path, (unsigned long long)n, f->size);
    *len = n;
    return 0;
}

/* Parses the n header bytes: UTF-8 JSON starting with '{', nothing after it but whitespace.
 * Returns the root (the caller deletes it) or NULL with err set. */
static cJSON *parse_header_json(const st_file *f, uint64_t n, char *err, size_t errlen)
{
    const char *hdr = (const char *)f->map + 8;
    if (n < 2 || hdr[0] != '{') {
        hs_errf(err, errlen, "%s: header does not start with '{'", f->path);
        return NULL;
    }
    if (!utf8_valid((const unsigned char *)hdr, (size_t)n)) {
        hs_errf(err, errlen, "%s: header is not valid UTF-8", f->path);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!root) {
        hs_errf(err, errlen, "%s: header is not valid JSON (near byte %lld of the header)", f->path,
                end ? (long long)(end - hdr) : -1LL);
        return NULL;
    }
    for (const char *q = end; q < hdr + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            hs_errf(err, errlen, "%s: header has bytes after its JSON object (byte %lld)", f->path,
                    (long long)(q - hdr));
            return NULL;
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        hs_errf(err, errlen, "%s: header is not a JSON object", f->path);
        return NULL;
    }
    return root;
}

/* Every entry of the header object but __metadata__ (checked, at most once) into ps[0..*np),
 * names borrowed from the JSON. ps has room for every entry. */
static int collect_entries(const st_file *f, const cJSON *root, pending *ps, size_t *np, char *err,
                           size_t errlen)
{
    int seen_meta = 0;
    const cJSON *item;
    *np = 0;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++)
                return hs_errf(err, errlen, "%s: duplicate \"__metadata__\"", f->path);
            if (check_metadata(f->path, item, err, errlen) != 0)
                return -1;
            continue;
        }
        if (parse_entry(f->path, item, &ps[*np], err, errlen) != 0)
            return -1;
        ps[*np].name = item->string;
        (*np)++;
    }
    return 0;
}

/* No tensor name twice in one header. */
static int check_unique_names(const st_file *f, const pending *ps, size_t np, char *err,
                              size_t errlen)
{
    const pending **names = malloc((np ? np : 1) * sizeof *names);
    if (!names)
        return hs_errf(err, errlen, "%s: out of memory reading the header", f->path);
    for (size_t i = 0; i < np; i++)
        names[i] = &ps[i];
    qsort(names, np, sizeof *names, cmp_pending_name);
    int rc = 0;
    for (size_t i = 1; i < np && rc == 0; i++)
        if (strcmp(names[i - 1]->name, names[i]->name) == 0)
            rc = hs_errf(err, errlen, "%s: tensor '%s' appears twice in the header", f->path,
                         names[i]->name);
    free(names);
    return rc;
}

/* Sorted by offset, the tensors must tile [0, data_len) exactly: no overlap, no gap, no
 * truncation, nothing left over. Sorts ps. */
static int check_offsets_tile(const st_file *f, pending *ps, size_t np, uint64_t data_len,
                              char *err, size_t errlen)
{
    qsort(ps, np, sizeof *ps, cmp_pending_offset);
    uint64_t expect = 0;
    for (size_t i = 0; i < np; i++) {
        if (ps[i].begin < expect)
            return hs_errf(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] overlap the "
                           "previous tensor '%s' (which ends at %llu)", f->path, ps[i].name,
                           (unsigned long long)ps[i].begin, (unsigned long long)ps[i].end,
                           ps[i - 1].name, (unsigned long long)expect);
        if (ps[i].begin > expect)
            return hs_errf(err, errlen, "%s: tensor '%s': gap before data_offsets begin %llu (the "
                           "previous tensor ends at %llu)", f->path, ps[i].name,
                           (unsigned long long)ps[i].begin, (unsigned long long)expect);
        if (ps[i].end > data_len)
            return hs_errf(err, errlen, "%s: tensor '%s': truncated data: data_offsets end %llu but "
                           "the file holds %llu data bytes", f->path, ps[i].name,
                           (unsigned long long)ps[i].end, (unsigned long long)data_len);
        expect = ps[i].end;
    }
    if (expect != data_len)
        return hs_errf(err, errlen, "%s: %llu bytes after the last tensor%s%s%s are not covered by "
                       "any tensor", f->path, (unsigned long long)(data_len - expect),
                       np ? " '" : "", np ? ps[np - 1].name : "", np ? "'" : "");
    return 0;
}

/* Appends the checked entries to set->tensors, pointing into the mapped data. */
static int append_tensors(hs_st_set *set, const st_file *f, const pending *ps, size_t np,
                          const unsigned char *data, char *err, size_t errlen)
{
    if (set->n_tensors + np > set->cap_tensors) {
        size_t cap = set->cap_tensors ? set->cap_tensors : 64;
        while (cap < set->n_tensors + np)
            cap *= 2;
        hs_st_tensor *t = realloc(set->tensors, cap * sizeof *t);
        if (!t)
            return hs_errf(err, errlen, "%s: out of memory", f->path);
        set->tensors = t;
        set->cap_tensors = cap;
    }
    for (size_t i = 0; i < np; i++) {
        char *copy = strdup(ps[i].name);
        if (!copy)
            return hs_errf(err, errlen, "%s: out of memory", f->path);
        hs_st_tensor *t = &set->tensors[set->n_tensors++];
        memset(t, 0, sizeof *t);
        t->name = copy;
        t->dtype = ps[i].dtype;
        t->ndim = ps[i].ndim;
        memcpy(t->shape, ps[i].shape, sizeof t->shape);
        t->numel = ps[i].numel;
        t->data = data + ps[i].begin;
        t->nbytes = (size_t)(ps[i].end - ps[i].begin);
        t->file = f->path;
    }
    return 0;
}

/* Validates the header of a mapped file and appends its tensors to set: length, JSON, each
 * entry, unique names, offsets tiling the data, then the append. */
static int parse_header(hs_st_set *set, const st_file *f, char *err, size_t errlen)
{
    uint64_t n = 0;
    if (read_header_length(f, &n, err, errlen) != 0)
        return -1;
    cJSON *root = parse_header_json(f, n, err, errlen);
    if (!root)
        return -1;
    size_t count = (size_t)cJSON_GetArraySize(root), np;
    pending *ps = calloc(count ? count : 1, sizeof *ps);
    int rc = -1;
    if (!ps)
        hs_errf(err, errlen, "%s: out of memory reading the header", f->path);
    else if (collect_entries(f, root, ps, &np, err, errlen) == 0 &&
             check_unique_names(f, ps, np, err, errlen) == 0 &&
             check_offsets_tile(f, ps, np, (uint64_t)(f->size - 8) - n, err, errlen) == 0)
        rc = append_tensors(set, f, ps, np, (const unsigned char *)f->map + 8 + n, err, errlen);
    free(ps);
    cJSON_Delete(root);
    return rc;
}

/* Maps path into a new st_file slot of set. */
static int map_file(hs_st_set *set, const char *path, char *err, size_t errlen)
{
    st_file *files = realloc(set->files, (set->n_files + 1) * sizeof *files);
    if (!files)
        return hs_errf(err, errlen, "%s: out of memory", path);
    set->files = files;
    st_file *f = &files[set->n_files];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return hs_errf(err, errlen, "%s: out of memory", path);
    set->n_files++;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hs_errf(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hs_errf(err, errlen, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size > 0) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return hs_errf(err, errlen, "%s: cannot mmap: %s", path, strerror(e));
        }
        f->map = m;
    }
    close(fd);
    return 0;
}

static int cmp_tensor_by_name(const hs_st_set *set, size_t i, size_t j)
{
    return strcmp(set->tensors[i].name, set->tensors[j].name);
}

/* Sorted name index; a name held by two shards is an error. */
static int build_name_index(hs_st_set *set, char *err, size_t errlen)
{
    set->by_name = malloc((set->n_tensors ? set->n_tensors : 1) * sizeof *set->by_name);
    if (!set->by_name)
        return hs_errf(err, errlen, "out of memory indexing tensors");
    for (size_t i = 0; i < set->n_tensors; i++)
        set->by_name[i] = i;
    /* bottom-up merge sort of indices (qsort has no context pointer) */
    size_t n = set->n_tensors;
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return hs_errf(err, errlen, "out of memory indexing tensors");
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = cmp_tensor_by_name(set, set->by_name[a], set->by_name[b]) <= 0
                               ? set->by_name[a++] : set->by_name[b++];
            while (a < mid)
                tmp[k++] = set->by_name[a++];
            while (b < hi)
                tmp[k++] = set->by_name[b++];
        }
        memcpy(set->by_name, tmp, n * sizeof *tmp);
    }
    free(tmp);
    for (size_t i = 1; i < n; i++) {
        const hs_st_tensor *a = &set->tensors[set->by_name[i - 1]];
        const hs_st_tensor *b = &set->tensors[set->by_name[i]];
        if (strcmp(a->name, b->name) == 0)
            return hs_errf(err, errlen, "tensor '%s' is stored twice: in %s and in %s", a->name,
                           a->file, b->file);
    }
    return 0;
}

hs_st_set *hs_st_open_file(const char *path, char *err, size_t errlen)
{
    hs_st_set *set = calloc(1, sizeof *set);
    if (!set) {
        hs_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (map_file(set, path, err, errlen) != 0 ||
        parse_header(set, &set->files[0], err, errlen) != 0 ||
        build_name_index(set, err, errlen) != 0) {
        hs_st_close(set);
        return NULL;
    }
    return set;
}

/* A shard name from the index must be a plain file name inside the directory. */
static int shard_name_ok(const char *s)
{
    return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

/* Maps and parses every shard the index's weight_map names, each file once. */
static int map_shards(hs_st_set *set, const char *dir, const char *index_path, const cJSON *wm,
                      char *err, size_t errlen)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring))
            return hs_errf(err, errlen, "%s: tensor '%s': shard must be a file name in the directory",
                           index_path, e->string);
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->valuestring) >= (int)sizeof path)
            return hs_errf(err, errlen, "%s: tensor '%s': shard path too long", index_path, e->string);
        int known = 0;
        for (size_t i = 0; i < set->n_files && !known; i++)
            known = strcmp(set->files[i].path, path) == 0;
        if (known)
            continue;
        if (map_file(set, path, err, errlen) != 0 ||
            parse_header(set, &set->files[set->n_files - 1], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static const hs_st_tensor *find_exact(const hs_st_set *set, const char *name);

/* Every tensor the index names must be in the shard it names. */
static int check_index_matches_shards(const hs_st_set *set, const char *dir,
                                      const char *index_path, const cJSON *wm, char *err,
                                      size_t errlen)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        const hs_st_tensor *t = find_exact(set, e->string);
        const char *slash = t ? strrchr(t->file, '/') : NULL;
        if (!t || strcmp(slash ? slash + 1 : t->file, e->valuestring) != 0)
            return hs_errf(err, errlen, "%s: tensor '%s' is missing from its shard %s/%s",
                           index_path, e->string, dir, e->valuestring);
    }
    return 0;
}

static hs_st_set *open_sharded(const char *dir, const char *index_path, char *err, size_t errlen)
{
    size_t len;
    char *text = hs_read_file(index_path, NULL, 64u << 20, &len, err, errlen);
    if (!text)
        return NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) {
        hs_errf(err, errlen, "%s: not valid JSON", index_path);
        return NULL;
    }
    hs_st_set *set = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child)
        hs_errf(err, errlen, "%s: missing or empty \"weight_map\" object", index_path);
    else if (!(set = calloc(1, sizeof *set)))
        hs_errf(err, errlen, "%s: out of memory", index_path);
    else if (map_shards(set, dir, index_path, wm, err, errlen) != 0 ||
             build_name_index(set, err, errlen) != 0 ||
             check_index_matches_shards(set, dir, index_path, wm, err, errlen) != 0) {
        hs_st_close(set);
        set = NULL;
    }
    cJSON_Delete(root);
    return set;
}

hs_st_set *hs_st_open_dir(const char *dir, char *err, size_t errlen)
{
    char single[PATH_MAX], index[PATH_MAX];
    if (snprintf(single, sizeof single, "%s/model.safetensors", dir) >= (int)sizeof single ||
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir) >= (int)sizeof index) {
        hs_errf(err, errlen, "%s: path too long", dir);
        return NULL;
    }
    struct stat st;
    if (stat(single, &st) == 0)
        return hs_st_open_file(single, err, errlen);
    if (stat(index, &st) == 0)
        return open_sharded(dir, index, err, errlen);
    hs_errf(err, errlen, "%s: no model.safetensors or model.safetensors.index.json", dir);
    return NULL;
}

static const hs_st_tensor *find_exact(const hs_st_set *set, const char *name)
{
    size_t lo = 0, hi = set->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const hs_st_tensor *t = &set->tensors[set->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

#define TRANSFORMER_PREFIX "transformer."

const hs_st_tensor *hs_st_find(const hs_st_set *set, const char *name)
{
    const hs_st_tensor *t = find_exact(set, name);
    if (t)
        return t;
    size_t plen = strlen(TRANSFORMER_PREFIX);
    if (strncmp(name, TRANSFORMER_PREFIX, plen) == 0)
        return find_exact(set, name + plen);
    size_t n = strlen(name);
    char stack[256];
    char *buf = n + plen < sizeof stack ? stack : malloc(n + plen + 1);
    if (!buf)
        return NULL;
    memcpy(buf, TRANSFORMER_PREFIX, plen);
    memcpy(buf + plen, name, n + 1);
    t = find_exact(set, buf);
    if (buf != stack)
        free(buf);
    return t;
}
