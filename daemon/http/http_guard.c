/* The request guard (http_guard.h): URI, framing, Host, Origin and Content-Type checks made
 * from the request line and headers before anything else runs. */
#include "http_guard.h"
#include "common/utf8.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_QUERY_PARAMS 32
#define MAX_PARAM_NAME 64

static int refuse(hs_guard_verdict *v, int status, const char *error, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(hs_guard_verdict *v, int status, const char *error, const char *field,
                  const char *fmt, ...)
{
    v->status = status;
    v->error = error;
    snprintf(v->field, sizeof v->field, "%.*s", hs_utf8_prefix(field ? field : "", 63),
             field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
    return status;
}

bool hs_guard_is_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (cap >= n + 1 bytes; '+' is a space when plus): the
 * decoded length, or -1 for a malformed escape. */
static long decode(const char *s, size_t n, bool plus, char *out, size_t cap)
{
    if (cap < n + 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}

#define PIECE_MAX 16384

/* Decodes one path or query piece and checks it: 0, or the status with v filled. */
static int check_piece(const char *s, size_t n, bool plus, const char *what, const char *field,
                       char *out, hs_guard_verdict *v)
{
    if (n >= PIECE_MAX)
        return refuse(v, 400, "invalid request target", field, "the %s is longer than %d bytes",
                      what, PIECE_MAX - 1);
    long dn = decode(s, n, plus, out, PIECE_MAX);
    if (dn < 0)
        return refuse(v, 400, "invalid request target", field,
                      "the %s has a malformed %%XX escape", what);
    if (memchr(out, '\0', (size_t)dn))
        return refuse(v, 400, "invalid request target", field,
                      "the %s contains a NUL byte (%%00), which is not allowed", what);
    if (!hs_utf8_valid(out, (size_t)dn))
        return refuse(v, 400, "invalid request target", field, "the %s is not valid UTF-8",
                      what);
    return 0;
}

/* The query parameters a route takes several times: GET /runs' tag filter (every tag given
 * must match). Any other parameter given twice is refused. */
static bool repeatable_param(const char *name) { return strcmp(name, "tag") == 0; }

int hs_guard_uri(const char *uri, size_t len, hs_guard_verdict *v)
{
    static _Thread_local char buf[PIECE_MAX];
    static _Thread_local char names[MAX_QUERY_PARAMS][MAX_PARAM_NAME + 1];
    v->status = 0;
    const char *q = memchr(uri, '?', len);
    size_t plen = q ? (size_t)(q - uri) : len;
    if (check_piece(uri, plen, false, "path", NULL, buf, v) != 0)
        return v->status;
    if (!q)
        return 0;
    const char *p = q + 1, *end = uri + len;
    int count = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nend = eq ? eq : stop;
            if (check_piece(p, (size_t)(nend - p), true, "name of a query parameter", NULL, buf,
                            v) != 0)
                return v->status;
            size_t nl = strlen(buf);
            if (nl > MAX_PARAM_NAME)
                return refuse(v, 400, "invalid query parameter", NULL,
                              "a query parameter name is longer than %d bytes", MAX_PARAM_NAME);
            if (count == MAX_QUERY_PARAMS)
                return refuse(v, 400, "invalid query parameter", NULL,
                              "more than %d query parameters", MAX_QUERY_PARAMS);
            for (int k = 0; k < count && !repeatable_param(buf); k++)
                if (strcmp(names[k], buf) == 0)
                    return refuse(v, 400, "invalid query parameter", buf,
                                  "query parameter %s is given more than once", buf);
            memcpy(names[count++], buf, nl + 1);
            if (eq && check_piece(eq + 1, (size_t)(stop - eq - 1), true, "query parameter value",
                                  names[count - 1], buf, v) != 0)
                return v->status;
        }
        p = stop + 1;
    }
    return 0;
}

int hs_guard_split_host(const char *hostport, char *host, size_t cap, uint16_t default_port,
                        uint16_t *port)
{
    const char *s = hostport, *hend, *rest;
    if (*s == '[') {
        hend = strchr(s, ']');
        if (!hend)
            return -1;
        s++;
        rest = hend + 1;
        for (const char *c = s; c < hend; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return -1;
    } else {
        hend = strchr(s, ':');
        if (!hend)
            hend = s + strlen(s);
        rest = hend;
        for (const char *c = s; c < hend; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
                return -1;
    }
    size_t hl = (size_t)(hend - s);
    if (hl == 0 || hl >= cap)
        return -1;
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)tolower((unsigned char)s[i]);
    host[hl] = '\0';
    if (*rest == '\0') {
        *port = default_port;
        return 0;
    }
    if (*rest != ':' || !rest[1])
        return -1;
    unsigned long p = 0;
    for (const char *c = rest + 1; *c; c++) {
        if (*c < '0' || *c > '9' || p > 65535)
            return -1;
        p = p * 10 + (unsigned long)(*c - '0');
    }
    if (p == 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static bool loopback_host(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* The media type of a Content-Type value (before any ';'), trimmed, compared without case. */
static bool media_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static int check_length(const hs_guard_request *r, unsigned long long *len,
                        hs_guard_verdict *v)
{
    *len = 0;
    if (r->content_length_count > 1)
        return refuse(v, 400, "invalid request", NULL,
                      "the request has %d Content-Length headers; exactly one is allowed",
                      r->content_length_count);
    if (!r->content_length)
        return 0;
    if (r->transfer_encoding)
        return refuse(v, 400, "invalid request", NULL,
                      "Content-Length and Transfer-Encoding must not both be given");
    const char *c = r->content_length;
    while (*c == ' ' || *c == '\t')
        c++;
    if (!*c)
        return refuse(v, 400, "invalid request", NULL, "Content-Length is empty");
    unsigned long long n = 0;
    for (; *c && *c != ' ' && *c != '\t'; c++) {
        if (*c < '0' || *c > '9' || n > (~0ULL - 9) / 10)
            return refuse(v, 400, "invalid request", NULL,
                          "Content-Length must be a decimal byte count");
        n = n * 10 + (unsigned long long)(*c - '0');
    }
    while (*c == ' ' || *c == '\t')
        c++;
    if (*c)
        return refuse(v, 400, "invalid request", NULL,
                      "Content-Length must be a decimal byte count");
    *len = n;
    return 0;
}

int hs_guard_headers(const hs_guard_config *cfg, const hs_guard_request *r, hs_guard_verdict *v)
{
    v->status = 0;
    unsigned long long len;
    if (check_length(r, &len, v) != 0)
        return v->status;
    char host[256] = "";
    uint16_t port = 0;
    bool host_ok = r->host && hs_guard_split_host(r->host, host, sizeof host, 80, &port) == 0;
    if (cfg->loopback && r->host &&
        (!host_ok || !loopback_host(host) || port != cfg->port))
        return refuse(v, 421, "misdirected request", NULL,
                      "this daemon listens on a loopback address and answers only requests "
                      "for localhost or a loopback address with port %u",
                      (unsigned)cfg->port);
    if (hs_guard_is_mutating(r->method) && r->origin) {
        char ohost[256];
        uint16_t oport;
        const char *o = r->origin;
        bool same = host_ok && strncasecmp(o, "http://", 7) == 0 && !strchr(o + 7, '/') &&
                    hs_guard_split_host(o + 7, ohost, sizeof ohost, 80, &oport) == 0 &&
                    strcmp(ohost, host) == 0 && oport == port;
        if (!same)
            return refuse(v, 403, "cross-origin request refused", NULL,
                          "%s requests from another origin are refused (Origin must be "
                          "http://<Host> of this request)",
                          r->method);
    }
    if (len > cfg->max_body)
        return refuse(v, 413, "request body too large", NULL,
                      "the body exceeds the limit of %zu bytes (--max-body)", cfg->max_body);
    if (r->route_known && hs_guard_is_mutating(r->method)) {
        const char *ct = r->content_type;
        const char *kind = r->body_kind;
        if (kind && strcmp(kind, "json") == 0) {
            if (!ct || !media_is(ct, "application/json"))
                return refuse(v, 415, "unsupported media type", NULL,
                              "the body must be sent with Content-Type: application/json");
        } else if (kind && strcmp(kind, "text") == 0) {
            if (ct && !media_is(ct, "text/plain") && !media_is(ct, "application/octet-stream"))
                return refuse(v, 415, "unsupported media type", NULL,
                              "a corpus is sent as Content-Type: text/plain (or "
                              "application/octet-stream, or without Content-Type)");
        } else if (ct && !media_is(ct, "application/json")) {
            return refuse(v, 415, "unsupported media type", NULL,
                          "this request takes no body; send no Content-Type or "
                          "application/json");
        }
    }
    return 0;
}
