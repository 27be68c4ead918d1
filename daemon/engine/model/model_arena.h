/* Private to the model graph (model_*.c): one backend allocation per tensor class, laid out
 * from a table of (pointer to set, bytes) rows, llm.c style. Re-laying a class for a new
 * (B, T) reuses the allocation when it is large enough and only grows it otherwise.
 * Owns no model semantics: which tensors a class holds is the caller's table. */
#ifndef HS_MODEL_ARENA_H
#define HS_MODEL_ARENA_H
#include "ops.h"
#include <stddef.h>

typedef struct hs_model_arena {
    const hs_backend *be;
    hs_backend_ctx *bctx;
    void *base;      /* one backend allocation, or NULL */
    size_t capacity; /* bytes of base */
    size_t used;     /* bytes the last layout needed */
} hs_model_arena;

/* One row of a class table: *slot receives a pointer inside the allocation (NULL when
 * bytes is 0). Rows are placed in order, each aligned to 64 bytes. */
typedef struct hs_model_arena_row {
    void **slot;
    size_t bytes;
} hs_model_arena_row;

/* Lays the rows out in a, (re)allocating when the total exceeds the capacity. `what` names
 * the class in errors ("forward activations"). */
int hs_model_arena_layout(hs_model_arena *a, const hs_model_arena_row *rows, size_t n_rows,
                          const char *what, char *err, size_t errlen);
/* Zero-fills the bytes the last layout used. */
int hs_model_arena_zero(hs_model_arena *a, const char *what, char *err, size_t errlen);
void hs_model_arena_release(hs_model_arena *a);

#endif
