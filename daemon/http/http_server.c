/* libmicrohttpd glue: the request guard (http_guard.h) on the request line and headers,
 * body collection, auth, JSON body limits, routing, responses (always valid UTF-8), and
 * deferred answers (suspend/resume) for handlers that answer from another thread
 * (http_server.h, api.h). */
#include "http_server.h"
#include "common/errors.h"
#include "common/json_limits.h"
#include "common/utf8.h"
#include "http_guard.h"
#include "http_metrics.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_THREADS 4
/* How long hs_http_stop waits for deferred answers still owed (a commit takes milliseconds). */
#define DEFERRED_DRAIN_MS 10000

struct hs_http {
    struct MHD_Daemon *mhd;
    hs_app *app;
    atomic_int deferred_open; /* deferred requests not yet completed (suspended or sending) */
    atomic_bool stopping;     /* hs_http_stop began: no request may be deferred any more */
    hs_guard_config guard;
};

typedef struct request_state {
    hs_http *http;
    bool started;             /* on_request has seen the headers */
    hs_guard_verdict uri;     /* the request target's check (made when it arrived) */
    char *body;
    size_t len, cap;
    bool too_large;
    /* A deferred request (hs_req_defer): its connection is suspended until hs_deferred_answer
     * stores the answer and resumes it; MHD then calls on_request again, which sends it. */
    struct MHD_Connection *conn;
    bool deferred;
    _Atomic bool answered;
    int route_index;
    hs_resp answer;
} request_state;

/* The hs_deferred of api.h is the request's state. */
struct hs_deferred {
    request_state rs;
};

bool hs_http_token_matches(const char *header, const char *token)
{
    if (!header || strncmp(header, "Bearer ", 7) != 0)
        return false;
    const char *given = header + 7;
    size_t gl = strlen(given), tl = strlen(token);
    unsigned char diff = (unsigned char)(gl != tl);
    /* Always walk the whole token so the time does not depend on where they differ. */
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned char)(token[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

/* A named segment ("{name}", "{file}": anything but "{id}") at s: 1-128 characters of
 * A-Z a-z 0-9 . _ -, not "." or "..", copied into out (may be NULL); the length, or 0. */
static size_t name_segment(const char *s, char *out)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    if (n == 0 || n > HS_ROUTE_NAME_MAX || (s[n] && s[n] != '/') || !strncmp(s, ".", n) ||
        !strncmp(s, "..", n))
        return 0;
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return n;
}

bool hs_http_route_matches(const char *pattern, const char *path, int64_t *id)
{
    return hs_http_route_match(pattern, path, id, NULL);
}

bool hs_http_route_match(const char *pattern, const char *path, int64_t *id,
                         char names[HS_ROUTE_NAMES][HS_ROUTE_NAME_MAX + 1])
{
    const char *p = pattern, *s = path;
    int n_names = 0;
    while (*p && *s) {
        if (p[0] == '{' && strncmp(p, "{id}", 4) != 0) {
            const char *close = strchr(p, '}');
            size_t n = close && n_names < HS_ROUTE_NAMES
                           ? name_segment(s, names ? names[n_names] : NULL) : 0;
            if (!n)
                return false;
            n_names++;
            s += n;
            p = close + 1;
            continue;
        }
        if (strncmp(p, "{id}", 4) == 0) {
            if (*s < '1' || *s > '9')
                return false;
            int64_t v = 0;
            while (*s >= '0' && *s <= '9') {
                if (v > (INT64_MAX - 9) / 10)
                    return false;
                v = v * 10 + (*s++ - '0');
            }
            *id = v;
            p += 4;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

/* The route for method and path, or NULL. */
static const hs_route *find_route(const char *method, const char *path)
{
    for (size_t i = 0; i < hs_route_count; i++) {
        int64_t id = 0;
        if (strcmp(hs_routes[i].method, method) == 0 &&
            hs_http_route_matches(hs_routes[i].pattern, path, &id))
            return &hs_routes[i];
    }
    return NULL;
}

/* A JSON body must keep the limits of json_limits.h before it is parsed. */
static bool json_body_refused(const hs_route *r, hs_req *req, hs_resp *resp)
{
    if (!r->request_body || strcmp(r->request_body, "json") != 0)
        return false;
    hs_json_issue issue;
    if (hs_json_check(req->body, req->body_len, &issue) == 0)
        return false;
    hs_resp_error(resp, 400, issue.error, issue.field, "%s", issue.detail);
    return true;
}

static void dispatch(hs_req *req, hs_resp *resp, int *route_index)
{
    *route_index = -1;
    bool path_known = false;
    char allow[64] = "";
    for (size_t i = 0; i < hs_route_count; i++) {
        int64_t id = 0;
        char names[HS_ROUTE_NAMES][HS_ROUTE_NAME_MAX + 1];
        if (!hs_http_route_match(hs_routes[i].pattern, req->path, &id, names))
            continue;
        path_known = true;
        if (strcmp(hs_routes[i].method, req->method) == 0) {
            *route_index = (int)i;
            req->id = id;
            memcpy(req->names, names, sizeof names);
            if (!json_body_refused(&hs_routes[i], req, resp))
                hs_routes[i].handler(req, resp);
            return;
        }
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "", hs_routes[i].method);
    }
    bool api = strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0 ||
               strcmp(req->path, "/metrics") == 0;
    if (path_known) {
        hs_resp_error(resp, 405, "method not allowed", NULL, "%s %s is not allowed (allowed: %s)",
                      req->method, req->path, allow);
        snprintf(resp->allow, sizeof resp->allow, "%s", allow);
    } else if (api) {
        hs_resp_error(resp, 404, "not found", NULL, "no route %s %s", req->method, req->path);
    } else if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        hs_api_static(req, resp);
    } else {
        hs_resp_error(resp, 405, "method not allowed", NULL, "%s %s is not allowed (allowed: GET)",
                      req->method, req->path);
        snprintf(resp->allow, sizeof resp->allow, "GET");
    }
}

/* The headers every answer may carry beyond its body. */
static void add_headers(struct MHD_Response *mr, const hs_resp *r)
{
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    if (r->content_type == NULL || strcmp(r->content_type, "application/json") == 0)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->content_range[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_RANGE, r->content_range);
    if (r->disposition[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
    if (r->accept_ranges)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

/* A streamed answer (hs_resp.stream_read): libmicrohttpd pulls the body as it sends it. */
static enum MHD_Result send_stream(struct MHD_Connection *conn, hs_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_callback(
        r->stream_size == HS_STREAM_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : r->stream_size, 64 * 1024,
        r->stream_read, r->stream_arg, r->stream_free);
    if (!mr) {
        if (r->stream_free)
            r->stream_free(r->stream_arg);
        return MHD_NO;
    }
    add_headers(mr, r);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, hs_resp *r)
{
    if (r->stream_read)
        return send_stream(conn, r);
    /* JSON goes out as valid UTF-8 whatever a handler quoted (a cut message, a log chunk). */
    bool json = !r->content_type || strncmp(r->content_type, "application/json", 16) == 0;
    if (json && r->body && !hs_utf8_valid(r->body, r->len)) {
        size_t n;
        char *fixed = hs_utf8_repair(r->body, r->len, &n);
        if (!r->body_static)
            free(r->body);
        if (!fixed)
            return MHD_NO;
        r->body = fixed;
        r->len = n;
        r->body_static = false;
    }
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->len, r->body, r->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        if (!r->body_static)
            free(r->body);
        return MHD_NO;
    }
    add_headers(mr, r);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind,
                                           const char *key, const char *value)
{
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/* Runs the header checks of http_guard.h; a refusal goes into resp. */
static void guard_headers(hs_http *http, struct MHD_Connection *conn, const char *url,
                          const char *method, hs_resp *resp)
{
    int n_cl = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_content_length, &n_cl);
    const hs_route *route = find_route(method, url);
    hs_guard_request gr = {
        .method = method,
        .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .transfer_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_TRANSFER_ENCODING),
        .content_length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
        .content_length_count = n_cl,
        .route_known = route != NULL,
        .body_kind = route ? route->request_body : NULL,
    };
    hs_guard_verdict v;
    if (hs_guard_headers(&http->guard, &gr, &v) != 0)
        hs_resp_error(resp, v.status, v.error, v.field, "%s", v.detail);
}

/* MHD's URI log callback: the raw request target, before MHD decodes it; its return value
 * becomes the request's state. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    request_state *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->http = cls;
    rs->conn = conn;
    if (uri)
        hs_guard_uri(uri, strlen(uri), &rs->uri);
    return rs;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    hs_http *http = cls;
    hs_app *app = http->app;
    request_state *rs = *con_cls;
    if (rs && rs->deferred) {
        /* Resumed: the deferred answer is in (MHD resumes only after hs_deferred_answer). */
        if (!atomic_load(&rs->answered))
            return MHD_YES;
        hs_http_metrics_count(rs->route_index, rs->answer.status);
        hs_resp answer = rs->answer;
        rs->answer.body = NULL;
        return send_response(conn, &answer);
    }
    if (!rs || !rs->started) {
        if (!rs) /* the URI callback could not allocate it */
            return MHD_NO;
        rs->started = true;
        rs->conn = conn;
        /* Refusals from the request line and headers are answered now, before any body is
         * read (MHD then closes the connection rather than read a body nobody wants). */
        hs_resp early = {.status = 0};
        if (rs->uri.status)
            hs_resp_error(&early, rs->uri.status, rs->uri.error, rs->uri.field, "%s",
                          rs->uri.detail);
        else
            guard_headers(http, conn, url, method, &early);
        if (!early.status && app->token[0] && hs_guard_is_mutating(method) &&
            !hs_api_is_report_path(url) &&
            !hs_http_token_matches(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                app->token))
            hs_resp_error(&early, 401, "unauthorized", NULL,
                          "%s requests need the header Authorization: Bearer <token>", method);
        if (early.status) {
            if (!early.body)
                hs_resp_internal(&early, "guard produced no response");
            hs_http_metrics_count(-1, early.status);
            return send_response(conn, &early);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rs->too_large)
            return MHD_YES; /* drain and drop */
        if (rs->len + n > app->max_body) {
            rs->too_large = true;
            free(rs->body);
            rs->body = NULL;
            rs->len = rs->cap = 0;
            return MHD_YES;
        }
        if (rs->len + n + 1 > rs->cap) {
            size_t cap = rs->cap ? rs->cap : 4096;
            while (cap < rs->len + n + 1)
                cap *= 2;
            char *b = realloc(rs->body, cap);
            if (!b)
                return MHD_NO;
            rs->body = b;
            rs->cap = cap;
        }
        memcpy(rs->body + rs->len, upload_data, n);
        rs->len += n;
        rs->body[rs->len] = '\0';
        return MHD_YES;
    }

    hs_req req = {.app = app, .conn = conn, .method = method, .path = url,
                  .body = rs->body ? rs->body : "", .body_len = rs->len, .state = rs};
    hs_resp resp = {.status = 500};
    int route_index = -1;
    if (rs->too_large)
        hs_resp_error(&resp, 413, "request body too large", NULL,
                      "the body exceeds the limit of %zu bytes (--max-body)", app->max_body);
    else
        dispatch(&req, &resp, &route_index);
    if (rs->deferred) {
        rs->route_index = route_index;
        return MHD_YES; /* answered later, through hs_deferred_answer */
    }
    if (!resp.body && !resp.stream_read)
        hs_resp_internal(&resp, "handler produced no response");
    hs_http_metrics_count(route_index, resp.status);
    return send_response(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_state *rs = *con_cls;
    if (rs) {
        if (rs->deferred)
            atomic_fetch_sub(&rs->http->deferred_open, 1);
        if (!rs->answer.body_static)
            free(rs->answer.body);
        free(rs->body);
        free(rs);
        *con_cls = NULL;
    }
}

hs_deferred *hs_req_defer(hs_req *req)
{
    request_state *rs = req->state;
    if (!rs || rs->deferred)
        return NULL;
    /* Count first, then check: hs_http_stop sets stopping, then waits for the count, so either
     * it sees this request or this request sees it stopping (and is answered at once). */
    atomic_fetch_add(&rs->http->deferred_open, 1);
    if (atomic_load(&rs->http->stopping)) {
        atomic_fetch_sub(&rs->http->deferred_open, 1);
        return NULL;
    }
    rs->deferred = true;
    MHD_suspend_connection(rs->conn);
    return (hs_deferred *)rs;
}

void hs_deferred_answer(hs_deferred *d, hs_resp *resp)
{
    request_state *rs = &d->rs;
    if (!resp->body)
        hs_resp_internal(resp, "handler produced no response");
    rs->answer = *resp;
    resp->body = NULL;
    atomic_store(&rs->answered, true);
    MHD_resume_connection(rs->conn);
}

static int parse_listen(const char *listen, struct sockaddr_in *addr, char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return hs_errf(err, errlen, "--listen %s: expected HOST:PORT", listen);
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return hs_errf(err, errlen, "--listen %s: host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return hs_errf(err, errlen, "--listen %s: bad port", listen);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return hs_errf(err, errlen, "--listen %s: host must be an IPv4 address", listen);
    return 0;
}

int hs_http_check_exposure(const char *listen, bool has_token, bool insecure_no_auth, char *err,
                           size_t errlen)
{
    struct sockaddr_in addr;
    if (parse_listen(listen, &addr, err, errlen) != 0)
        return -1;
    if ((ntohl(addr.sin_addr.s_addr) >> 24) == 127 || has_token || insecure_no_auth)
        return 0;
    return hs_errf(err, errlen,
                   "refusing to listen on %s, which is not a loopback address, without "
                   "--token-file: anyone who reaches it could submit jobs (give "
                   "--insecure-no-auth to do so anyway)",
                   listen);
}

int hs_http_start(hs_app *app, const char *listen, hs_http **out, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    if (parse_listen(listen, &addr, err, errlen) != 0)
        return -1;
    hs_http *http = calloc(1, sizeof *http);
    if (!http)
        return hs_errf(err, errlen, "out of memory");
    http->app = app;
    http->guard = (hs_guard_config){.loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127,
                                    .port = ntohs(addr.sin_port),
                                    .max_body = app->max_body};
    http->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
        ntohs(addr.sin_port), NULL, NULL, on_request, http,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, http,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_END);
    if (!http->mhd) {
        free(http);
        return hs_errf(err, errlen, "cannot listen on %s (in use, or not a local address?)",
                       listen);
    }
    *out = http;
    return 0;
}

void hs_http_stop(hs_http *http)
{
    if (!http)
        return;
    /* MHD must not stop with a suspended connection: defer nothing more (requests still
     * arriving on open connections are answered synchronously), and let every deferred answer
     * go out first (each comes within a commit). */
    atomic_store(&http->stopping, true);
    MHD_socket listen_fd = MHD_quiesce_daemon(http->mhd);
    for (int waited = 0; atomic_load(&http->deferred_open) > 0 && waited < DEFERRED_DRAIN_MS;
         waited++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    MHD_stop_daemon(http->mhd);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd); /* quiescing handed it to us */
    free(http);
}
