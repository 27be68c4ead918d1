/* The HTTP front: libmicrohttpd with a small thread pool, the request guard of http_guard.h
 * (URI, Content-Length, Host, Origin, Content-Type: refused before any body is read),
 * bearer-token auth of mutating requests (401, constant-time compare), request bodies
 * collected up to --max-body (413 beyond), JSON bodies held to json_limits.h, dispatch through
 * the route table (404 unknown route, 405 wrong method), JSON answers made valid UTF-8,
 * request counting for /metrics, and deferred answers (hs_req_defer of api.h: the connection
 * is suspended until another thread answers; stopping waits for every answer owed). A
 * non-loopback listen address needs a token or --insecure-no-auth (hs_http_check_exposure). */
#ifndef HS_HTTP_SERVER_H
#define HS_HTTP_SERVER_H
#include "api.h"

typedef struct hs_http hs_http;

/* listen is "HOST:PORT" (IPv4 address or "localhost"). */
int hs_http_start(hs_app *app, const char *listen, hs_http **out, char *err, size_t errlen);
void hs_http_stop(hs_http *http);
/* Whether listening on `listen` is allowed: a non-loopback address needs a token, or
 * insecure_no_auth (--insecure-no-auth). 0, or -1 with the reason. */
int hs_http_check_exposure(const char *listen, bool has_token, bool insecure_no_auth, char *err,
                           size_t errlen);

/* Exposed for tests: whether `header` is "Bearer <token>" (constant time in the token). */
bool hs_http_token_matches(const char *header, const char *token);
/* Matches path against a route pattern; *id receives {id}. */
bool hs_http_route_matches(const char *pattern, const char *path, int64_t *id);

#endif
