/* libFuzzer target: the request guard's header checks. The input is split at '\n' into
 * method, Host, Origin, Content-Type, Transfer-Encoding and Content-Length values (an empty
 * line is an absent header); the first byte picks the configuration. Invariants: the status
 * is one the guard documents; a loopback daemon never lets a non-loopback Host through; a
 * state-changing request with an Origin passes only when that Origin is http://<Host>. */
#include "http/http_guard.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *field[FIELDS] = {0};
    char *p = buf;
    for (int i = 0; i < FIELDS && p; i++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        field[i] = *p ? p : NULL;
        p = nl ? nl + 1 : NULL;
    }
    static const char *const kinds[] = {"json", "text", NULL};
    hs_guard_config cfg = {.loopback = flags & 1, .port = (uint16_t)(8700 + (flags >> 4)),
                           .max_body = (flags & 2) ? 4096 : 64u << 20};
    hs_guard_request r = {
        .method = field[0] ? field[0] : "POST",
        .host = field[1],
        .origin = field[2],
        .content_type = field[3],
        .transfer_encoding = field[4],
        .content_length = field[5],
        .content_length_count = field[5] ? 1 + ((flags >> 2) & 1) : 0,
        .route_known = (flags >> 3) & 1,
        .body_kind = kinds[(flags >> 5) % 3],
    };
    hs_guard_verdict v;
    int status = hs_guard_headers(&cfg, &r, &v);
    if (status != 0 && status != 400 && status != 403 && status != 413 && status != 415 &&
        status != 421)
        abort();
    if (status != v.status)
        abort();
    if (status == 0) {
        char host[256];
        uint16_t port;
        if (cfg.loopback && r.host &&
            (hs_guard_split_host(r.host, host, sizeof host, 80, &port) != 0 ||
             port != cfg.port))
            abort();
        if (hs_guard_is_mutating(r.method) && r.origin &&
            (!r.host || strncasecmp(r.origin, "http://", 7) != 0))
            abort();
    }
    free(buf);
    return 0;
}
