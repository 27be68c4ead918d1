/* Query-string checks shared by the research routes (/runs, /compare, /sick-bands,
 * /schedules/{id}/runs): unknown parameters refused by name, repeated parameters collected,
 * and the answer's format (json or csv). */
#include "api.h"
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

typedef struct query_scan {
    const char *allowed;   /* comma-separated */
    char unknown[72];
    const char *name;      /* hs_req_query_each: the parameter collected */
    int (*each)(void *arg, const char *value);
    void *arg;
    int rc;
} query_scan;

static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static enum MHD_Result find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    query_scan *s = cls;
    if (key && !listed(s->allowed, key)) {
        snprintf(s->unknown, sizeof s->unknown, "%s", key);
        return MHD_NO;
    }
    return MHD_YES;
}

int hs_req_query_allowed(hs_req *req, hs_resp *resp, const char *allowed)
{
    query_scan s = {.allowed = allowed};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, find_unknown, &s);
    if (!s.unknown[0])
        return 0;
    hs_resp_error(resp, 400, "invalid query parameter", s.unknown,
                  "unknown query parameter \"%s\" (this route takes %s)", s.unknown, allowed);
    return -1;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    query_scan *s = cls;
    if (key && strcmp(key, s->name) == 0 && s->rc == 0)
        s->rc = s->each(s->arg, value ? value : "");
    return s->rc == 0 ? MHD_YES : MHD_NO;
}

int hs_req_query_each(hs_req *req, const char *name, int (*each)(void *arg, const char *value),
                      void *arg)
{
    query_scan s = {.name = name, .each = each, .arg = arg};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect, &s);
    return s.rc;
}

int hs_req_format_csv(hs_req *req, hs_resp *resp, bool *csv)
{
    const char *f = hs_req_query(req, "format");
    *csv = f && strcmp(f, "csv") == 0;
    if (f && !*csv && strcmp(f, "json") != 0) {
        hs_resp_error(resp, 400, "invalid query parameter", "format",
                      "format must be json or csv (got \"%.40s\")", f);
        return -1;
    }
    return 0;
}
