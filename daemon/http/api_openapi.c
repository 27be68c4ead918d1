/* GET /api/v1/openapi.json: an OpenAPI 3 document rendered from the route table (api_routes.c)
 * and the job kinds table, so it lists exactly the routes the daemon serves. */
#include "api.h"
#include "common/version.h"
#include <stdio.h>
#include <string.h>

static cJSON *error_schema_ref(void)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *m = c ? cJSON_AddObjectToObject(c, "application/json") : NULL;
    cJSON *s = m ? cJSON_AddObjectToObject(m, "schema") : NULL;
    if (s)
        cJSON_AddStringToObject(s, "$ref", "#/components/schemas/Error");
    return c;
}

static void add_response(cJSON *responses, const char *code, const char *description,
                         bool error)
{
    cJSON *r = cJSON_AddObjectToObject(responses, code);
    if (!r)
        return;
    cJSON_AddStringToObject(r, "description", description);
    if (error)
        cJSON_AddItemToObject(r, "content", error_schema_ref());
}

static cJSON *operation(const hs_route *r)
{
    cJSON *op = cJSON_CreateObject();
    if (!op)
        return NULL;
    cJSON_AddStringToObject(op, "summary", r->summary);
    char opid[128];
    size_t n = 0;
    for (const char *p = r->method; *p && n < 10; p++)
        opid[n++] = (char)(*p | 0x20);
    for (const char *p = r->pattern; *p && n + 1 < sizeof opid; p++)
        opid[n++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
    opid[n] = '\0';
    cJSON_AddStringToObject(op, "operationId", opid);
    cJSON *params = cJSON_CreateArray();
    if (strstr(r->pattern, "{id}")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", "id");
        cJSON_AddStringToObject(p, "in", "path");
        cJSON_AddBoolToObject(p, "required", 1);
        cJSON *s = cJSON_AddObjectToObject(p, "schema");
        cJSON_AddStringToObject(s, "type", "integer");
        cJSON_AddNumberToObject(s, "minimum", 1);
        cJSON_AddItemToArray(params, p);
    }
    if (r->query) {
        char q[512];
        snprintf(q, sizeof q, "%s", r->query);
        char *save = NULL;
        for (char *name = strtok_r(q, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "name", name);
            cJSON_AddStringToObject(p, "in", "query");
            cJSON_AddBoolToObject(p, "required", strcmp(name, "name") == 0 &&
                                                     strcmp(r->method, "POST") == 0);
            cJSON *s = cJSON_AddObjectToObject(p, "schema");
            bool integer = !strcmp(name, "limit") || !strcmp(name, "before") ||
                           !strcmp(name, "offset") || !strcmp(name, "schedule");
            if (!strcmp(name, "tag"))
                cJSON_AddBoolToObject(p, "explode", 1);
            cJSON_AddStringToObject(s, "type", integer ? "integer" : "string");
            cJSON_AddItemToArray(params, p);
        }
    }
    cJSON_AddItemToObject(op, "parameters", params);
    if (r->request_body) {
        cJSON *rb = cJSON_AddObjectToObject(op, "requestBody");
        cJSON_AddBoolToObject(rb, "required", 1);
        cJSON *c = cJSON_AddObjectToObject(rb, "content");
        bool json = strcmp(r->request_body, "json") == 0;
        cJSON *m = cJSON_AddObjectToObject(c, json ? "application/json" : "text/plain");
        cJSON *s = cJSON_AddObjectToObject(m, "schema");
        if (json && strcmp(r->pattern, "/api/v1/jobs") == 0)
            cJSON_AddStringToObject(s, "$ref", "#/components/schemas/JobSpec");
        else
            cJSON_AddStringToObject(s, "type", json ? "object" : "string");
    }
    cJSON *responses = cJSON_AddObjectToObject(op, "responses");
    bool post = strcmp(r->method, "POST") == 0;
    if (post && r->request_body && strcmp(r->pattern, "/api/v1/jobs/{id}/cancel") != 0)
        add_response(responses, "201", "created", false);
    add_response(responses, "200", "ok", false);
    if (r->request_body || r->query)
        add_response(responses, "400", "invalid request", true);
    if (strcmp(r->method, "GET") != 0) {
        add_response(responses, "401", "missing or wrong bearer token (with --token-file)", true);
        add_response(responses, "413", "request body larger than --max-body", true);
    }
    if (strstr(r->pattern, "/cancel")) {
        add_response(responses, "202", "running: cancel requested, it stops at its next step", false);
        add_response(responses, "409", "the job has already finished", true);
    }
    if (strstr(r->pattern, "/schedules") && r->request_body)
        add_response(responses, "409", "another schedule has this name", true);
    if (strstr(r->pattern, "/runs/") && r->request_body)
        add_response(responses, "409", "another run has this name", true);
    if (!strcmp(r->pattern, "/api/v1/compare") || !strcmp(r->pattern, "/api/v1/sick-bands"))
        add_response(responses, "404", "a named run or checkpoint does not exist", true);
    if (strstr(r->pattern, "{id}"))
        add_response(responses, "404", "no such object", true);
    add_response(responses, "405", "method not allowed on this path", true);
    return op;
}

static cJSON *components(void)
{
    cJSON *comp = cJSON_CreateObject();
    cJSON *schemas = cJSON_AddObjectToObject(comp, "schemas");
    cJSON *e = cJSON_AddObjectToObject(schemas, "Error");
    cJSON_AddStringToObject(e, "type", "object");
    cJSON *ep = cJSON_AddObjectToObject(e, "properties");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ep, "error"), "type", "string");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ep, "detail"), "type", "string");
    cJSON_AddItemToObject(ep, "field", cJSON_Parse("{\"type\":\"string\",\"nullable\":true}"));

    cJSON *spec = cJSON_AddObjectToObject(schemas, "JobSpec");
    cJSON_AddStringToObject(spec, "type", "object");
    cJSON_AddStringToObject(spec, "description",
                            "A flat object: kind, the kind's fields (GET /api/v1/kinds), and the "
                            "optional common fields priority, client_id, max_attempts and the run's "
                            "metadata name, tags, notes.");
    cJSON *req = cJSON_AddArrayToObject(spec, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("kind"));
    cJSON *props = cJSON_AddObjectToObject(spec, "properties");
    cJSON *kind = cJSON_AddObjectToObject(props, "kind");
    cJSON_AddStringToObject(kind, "type", "string");
    cJSON *en = cJSON_AddArrayToObject(kind, "enum");
    for (size_t i = 0; i < hs_job_kind_count; i++)
        cJSON_AddItemToArray(en, cJSON_CreateString(hs_job_kinds[i]->name));
    cJSON_AddItemToObject(props, "priority", cJSON_Parse("{\"type\":\"integer\"}"));
    cJSON_AddItemToObject(props, "client_id", cJSON_Parse("{\"type\":\"string\"}"));
    cJSON_AddItemToObject(props, "name",
                          cJSON_Parse("{\"type\":\"string\",\"minLength\":1,\"maxLength\":128}"));
    cJSON_AddItemToObject(props, "tags",
                          cJSON_Parse("{\"type\":\"array\",\"maxItems\":32,\"items\":"
                                      "{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9._:-]{1,64}$\"}}"));
    cJSON_AddItemToObject(props, "notes",
                          cJSON_Parse("{\"type\":\"string\",\"maxLength\":65536}"));
    cJSON_AddItemToObject(props, "max_attempts",
                          cJSON_Parse("{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}"));
    cJSON *bearer = cJSON_AddObjectToObject(cJSON_AddObjectToObject(comp, "securitySchemes"),
                                            "bearer");
    cJSON_AddStringToObject(bearer, "type", "http");
    cJSON_AddStringToObject(bearer, "scheme", "bearer");
    return comp;
}

void hs_api_openapi(hs_req *req, hs_resp *resp)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return hs_resp_internal(resp, "out of memory");
    cJSON_AddStringToObject(doc, "openapi", "3.0.3");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "Head Surgeon (surgeond)");
    cJSON_AddStringToObject(info, "version", HS_VERSION);
    cJSON_AddStringToObject(info, "description",
                            "Job daemon that diagnoses and repairs collapsed attention heads of "
                            "BLOOM models. Mutating requests need Authorization: Bearer <token> "
                            "when the daemon runs with --token-file.");
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    for (size_t i = 0; i < hs_route_count; i++) {
        const hs_route *r = &hs_routes[i];
        cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, r->pattern);
        if (!item)
            item = cJSON_AddObjectToObject(paths, r->pattern);
        char method[16];
        size_t n = 0;
        for (const char *p = r->method; *p && n + 1 < sizeof method; p++)
            method[n++] = (char)(*p | 0x20);
        method[n] = '\0';
        cJSON *op = operation(r);
        if (item && op)
            cJSON_AddItemToObject(item, method, op);
        else
            cJSON_Delete(op);
    }
    cJSON_AddItemToObject(doc, "components", components());
    hs_resp_json(resp, 200, doc);
}
