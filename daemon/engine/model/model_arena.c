/* One backend allocation per tensor class, laid out from a table (model_arena.h). */
#include "model_arena.h"
#include "common/errors.h"
#include <stdint.h>

enum { ARENA_ALIGN = 64 };

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

int hs_model_arena_layout(hs_model_arena *a, const hs_model_arena_row *rows, size_t n_rows,
                          const char *what, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < n_rows; i++) {
        size_t add = align_up(rows[i].bytes);
        if (add < rows[i].bytes || total + add < total)
            return hs_errf(err, errlen, "%s: size overflows", what);
        total += add;
    }
    if (total > a->capacity || a->base == NULL) {
        if (a->base)
            a->be->free(a->bctx, a->base);
        a->base = NULL;
        a->capacity = 0;
        a->used = 0;
        void *base = a->be->alloc(a->bctx, total ? total : ARENA_ALIGN);
        if (!base)
            return hs_errf(err, errlen, "%s: cannot allocate %zu bytes on %s: %s", what, total,
                           a->be->name, a->be->last_error(a->bctx));
        a->base = base;
        a->capacity = total ? total : ARENA_ALIGN;
    }
    size_t offset = 0;
    for (size_t i = 0; i < n_rows; i++) {
        *rows[i].slot = rows[i].bytes ? (void *)((uint8_t *)a->base + offset) : NULL;
        offset += align_up(rows[i].bytes);
    }
    a->used = total;
    return 0;
}

int hs_model_arena_zero(hs_model_arena *a, const char *what, char *err, size_t errlen)
{
    if (!a->base || a->used == 0)
        return 0;
    if (a->be->fill_zero(a->bctx, a->base, a->used) != 0)
        return hs_errf(err, errlen, "%s: zero-fill failed: %s", what, a->be->last_error(a->bctx));
    return 0;
}

void hs_model_arena_release(hs_model_arena *a)
{
    if (a->base)
        a->be->free(a->bctx, a->base);
    a->base = NULL;
    a->capacity = 0;
    a->used = 0;
}
