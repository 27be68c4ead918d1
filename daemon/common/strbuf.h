/* A growable text buffer for building responses (Prometheus text, OpenAPI pieces). */
#ifndef HS_STRBUF_H
#define HS_STRBUF_H
#include <stdbool.h>
#include <stddef.h>

typedef struct hs_strbuf {
    char *data; /* NUL-terminated */
    size_t len, cap;
    bool failed; /* an allocation failed; data holds what fit */
} hs_strbuf;

void hs_strbuf_printf(hs_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_strbuf_append(hs_strbuf *b, const char *text, size_t len);
void hs_strbuf_free(hs_strbuf *b);

#endif
