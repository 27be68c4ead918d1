/* The request guard: what the HTTP layer refuses from the request line and headers alone,
 * before a body is read or a handler runs. Pure functions of their inputs (fuzzed by
 * tests/fuzz/fuzz_http_headers.c and fuzz_http_query.c):
 *   - the URI: the decoded path and query parameters must be valid UTF-8 without NUL, with
 *     well-formed %XX escapes, no parameter given twice (400, field = the parameter);
 *   - Content-Length: repeated, malformed, or together with Transfer-Encoding is 400; over the
 *     body limit is 413 at once;
 *   - Host (only when the daemon listens on a loopback address, against DNS rebinding): a
 *     loopback name or address with the daemon's port, else 421;
 *   - Origin (state-changing methods): when present it must be the daemon's own origin,
 *     http://<Host>, else 403;
 *   - Content-Type: JSON routes need application/json (parameters allowed); the corpus upload
 *     takes text/plain, application/octet-stream or none; bodiless state-changing routes take
 *     none or application/json; anything else is 415 (HTML forms cannot send these). */
#ifndef HS_HTTP_GUARD_H
#define HS_HTTP_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_guard_verdict {
    int status;          /* 0: let it through */
    const char *error;
    char field[64];
    char detail[300];
} hs_guard_verdict;

typedef struct hs_guard_config {
    bool loopback;       /* the daemon listens on a loopback address */
    uint16_t port;       /* the port it listens on */
    size_t max_body;
} hs_guard_config;

typedef struct hs_guard_request {
    const char *method;
    const char *host;            /* header values, NULL when absent */
    const char *origin;
    const char *content_type;
    const char *transfer_encoding;
    const char *content_length;  /* the first Content-Length */
    int content_length_count;    /* how many Content-Length headers there were */
    bool route_known;            /* method and path name a route */
    const char *body_kind;       /* that route's request body: "json", "text" or NULL */
} hs_guard_request;

/* Checks the raw request target ("/path?query", as received). 0, or the status with v filled. */
int hs_guard_uri(const char *uri, size_t len, hs_guard_verdict *v);
/* Checks the headers in the order listed above. 0, or the status with v filled. */
int hs_guard_headers(const hs_guard_config *cfg, const hs_guard_request *r, hs_guard_verdict *v);
/* Whether method changes state (anything but GET, HEAD, OPTIONS). */
bool hs_guard_is_mutating(const char *method);
/* Splits "host[:port]" or "[v6]:port" into a lower-case host (at most cap-1 bytes) and port
 * (default_port when absent). -1 when malformed. */
int hs_guard_split_host(const char *hostport, char *host, size_t cap, uint16_t default_port,
                        uint16_t *port);

#endif
