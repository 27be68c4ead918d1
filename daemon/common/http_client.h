/* A small blocking HTTP/1.1 client for plain http:// URLs (one request per connection,
 * Connection: close): what `surgeond run --report-to` needs to talk to the daemon. No TLS. */
#ifndef HS_HTTP_CLIENT_H
#define HS_HTTP_CLIENT_H
#include <stddef.h>

/* Sends method url with body (may be NULL) as application/json, with "Authorization: Bearer
 * bearer" when bearer is not NULL. 0 with *status and *reply (malloc'd, NUL-terminated body)
 * set; -1 with err when no HTTP answer came (cannot connect, timeout, malformed answer). */
int hs_http_request(const char *method, const char *url, const char *bearer, const char *body,
                    int timeout_ms, int *status, char **reply, char *err, size_t errlen);

#endif
