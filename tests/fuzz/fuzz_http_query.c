/* libFuzzer target: arbitrary bytes as a raw request target ("/path?query"), through the
 * guard's URI check (percent-decoding, UTF-8, NUL, repeated parameters) and the route
 * matcher. Invariants: the verdict is 0 or 400 with a NUL-terminated field and detail; an
 * accepted target contains no "%00"; a matched {id} is positive. */
#include "http/api.h"
#include "http/http_guard.h"
#include "http/http_server.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_guard_verdict v;
    memset(&v, 0x5a, sizeof v);
    int status = hs_guard_uri((const char *)data, size, &v);
    if (status != 0 && status != 400)
        abort();
    if (status != v.status)
        abort();
    if (status) {
        if (!memchr(v.field, '\0', sizeof v.field) || !memchr(v.detail, '\0', sizeof v.detail))
            abort();
    } else if (size >= 3 && memmem(data, size, "%00", 3)) {
        abort();
    }
    /* The path part, NUL-terminated, against every route pattern. */
    char *path = malloc(size + 1);
    if (!path)
        return 0;
    size_t n = 0;
    while (n < size && data[n] != '?' && data[n] != '\0') {
        path[n] = (char)data[n];
        n++;
    }
    path[n] = '\0';
    for (size_t i = 0; i < hs_route_count; i++) {
        int64_t id = 0;
        if (hs_http_route_matches(hs_routes[i].pattern, path, &id) &&
            strstr(hs_routes[i].pattern, "{id}") && id <= 0)
            abort();
    }
    free(path);
    return 0;
}
