/* Blocking HTTP/1.1 requests over a TCP socket (http_client.h). */
#include "http_client.h"
#include "errors.h"
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "http://host[:port]/path" into its parts. */
static int split_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                     const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    const char *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    const char *hend = colon ? colon : end;
    if (hend == h || (size_t)(hend - h) >= hostlen)
        return -1;
    snprintf(host, hostlen, "%.*s", (int)(hend - h), h);
    if (colon)
        snprintf(port, portlen, "%.*s", (int)(end - colon - 1), colon + 1);
    else
        snprintf(port, portlen, "80");
    *path = slash ? slash : "/";
    return 0;
}

static int connect_to(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return hs_errf(err, errlen, "%s:%s: %s", host, port, gai_strerror(g));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return hs_errf(err, errlen, "connecting to %s:%s: %s", host, port, strerror(saved));
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, int timeout_ms)
{
    while (len > 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until the peer closes; a malloc'd buffer or NULL. */
static char *recv_all(int fd, int timeout_ms, size_t *len)
{
    size_t cap = 8192, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        if (used + 4096 + 1 > cap) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            buf[used] = '\0';
            *len = used;
            return buf;
        }
        used += (size_t)n;
    }
    free(buf);
    return NULL;
}

int hs_http_request(const char *method, const char *url, const char *bearer, const char *body,
                    int timeout_ms, int *status, char **reply, char *err, size_t errlen)
{
    char host[256], port[16];
    const char *path;
    *reply = NULL;
    if (split_url(url, host, sizeof host, port, sizeof port, &path) != 0)
        return hs_errf(err, errlen, "%s: not an http://HOST[:PORT]/PATH URL", url);
    int fd = connect_to(host, port, err, errlen);
    if (fd < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    char *head = NULL;
    int hl = asprintf(&head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                      method, path, host, port, blen, bearer ? "Authorization: Bearer " : "",
                      bearer ? bearer : "", bearer ? "\r\n" : "");
    size_t got = 0;
    char *text = NULL;
    if (hl > 0 && send_all(fd, head, (size_t)hl, timeout_ms) == 0 &&
        (blen == 0 || send_all(fd, body, blen, timeout_ms) == 0))
        text = recv_all(fd, timeout_ms, &got);
    free(head);
    close(fd);
    int code = 0;
    char *sep = text ? strstr(text, "\r\n\r\n") : NULL;
    if (!sep || sscanf(text, "HTTP/1.%*d %d", &code) != 1 || code < 100) {
        free(text);
        return hs_errf(err, errlen, "%s %s: no valid HTTP answer", method, url);
    }
    memmove(text, sep + 4, got - (size_t)(sep + 4 - text) + 1);
    *status = code;
    *reply = text;
    return 0;
}
