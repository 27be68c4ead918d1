/* GET /api/v1/openapi.json: an OpenAPI 3 document rendered from the route table (api_routes.c)
 * and the job kinds table, so it lists exactly the routes the daemon serves and says exactly
 * what validation enforces: one closed schema per job kind (types, ranges, enums, lengths,
 * required fields, additionalProperties false), the schedule body, and the query parameters
 * with the ranges and enums their handlers check. */
#include "api.h"
#include "common/version.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A run's tags and notes, in a spec and in PATCH /runs/{id}. */
#define RUN_TAGS_SCHEMA                                                                      \
    "{\"type\":\"array\",\"maxItems\":32,\"uniqueItems\":true,\"items\":{\"type\":\"string\","     \
    "\"pattern\":\"^[A-Za-z0-9._:-]{1,64}$\"}}"
#define RUN_NOTES_SCHEMA                                                                     \
    "{\"type\":\"string\",\"description\":\"at most 65536 bytes of UTF-8\"}"

/* A schema from JSON text (the document's constant parts). */
static cJSON *js(const char *text) { return cJSON_Parse(text); }

/* The query parameters of the research routes (/runs, /compare, /sick-bands, a schedule's
 * runs, format=csv); NULL for the others. */
static cJSON *research_query_schema(const hs_route *r, const char *name)
{
    if (!strcmp(name, "limit") && strstr(r->pattern, "/schedules/{id}/runs"))
        return js("{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000}");
    if (!strcmp(name, "until"))
        return js("{\"type\":\"string\",\"format\":\"date-time\",\"description\":"
                  "\"UTC, as in 2026-11-29T06:00:00.000Z\"}");
    if (!strcmp(name, "schedule"))
        return js("{\"type\":\"integer\",\"minimum\":1}");
    if (!strcmp(name, "order"))
        return js("{\"type\":\"string\",\"enum\":[\"created\",\"-created\",\"ppl\"]}");
    if (!strcmp(name, "format"))
        return js("{\"type\":\"string\",\"enum\":[\"json\",\"csv\"]}");
    if (!strcmp(name, "tag"))
        return js("{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9._:-]{1,64}$\","
                  "\"description\":\"repeatable: every tag given must be set\"}");
    if (!strcmp(name, "model"))
        return js("{\"type\":\"string\",\"minLength\":1,\"description\":\"exact, or a "
                  "prefix with a trailing *\"}");
    if (!strcmp(name, "q"))
        return js("{\"type\":\"string\",\"minLength\":1}");
    if (!strcmp(name, "a") || !strcmp(name, "b"))
        return js("{\"type\":\"string\",\"pattern\":\"^[1-9][0-9]*(/[^/]+)?$\","
                  "\"description\":\"<run> or <run>/<checkpoint>\"}");
    if (!strcmp(name, "drift"))
        return js("{\"type\":\"number\",\"minimum\":0,\"maximum\":1}");
    if (!strcmp(name, "runs"))
        return js("{\"type\":\"string\",\"pattern\":\"^[1-9][0-9]*(,[1-9][0-9]*){0,63}$\"}");
    return NULL;
}

/* The schema of one query parameter: what its handler accepts. */
static cJSON *query_schema(const hs_route *r, const char *name)
{
    cJSON *research = research_query_schema(r, name);
    if (research)
        return research;
    if (!strcmp(name, "limit"))
        return js("{\"type\":\"integer\",\"minimum\":1,\"maximum\":500}");
    if (!strcmp(name, "before"))
        return js("{\"type\":\"integer\",\"minimum\":1}");
    if (!strcmp(name, "layer") || !strcmp(name, "head"))
        return js("{\"type\":\"integer\",\"minimum\":0,\"maximum\":100000}");
    if (!strcmp(name, "offset"))
        return js("{\"type\":\"integer\",\"minimum\":0}");
    if (!strcmp(name, "state"))
        return js("{\"type\":\"string\",\"enum\":[\"queued\",\"running\",\"succeeded\","
                  "\"failed\",\"cancelled\"]}");
    if (!strcmp(name, "replace"))
        return js("{\"type\":\"string\",\"enum\":[\"true\",\"false\"]}");
    if (!strcmp(name, "since"))
        return js("{\"type\":\"string\",\"format\":\"date-time\",\"description\":"
                  "\"UTC, as in 2026-11-29T06:00:00.000Z\"}");
    if (!strcmp(name, "name") && !strcmp(r->pattern, "/api/v1/corpora"))
        return js("{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,"
                  "\"pattern\":\"^[A-Za-z0-9_-][A-Za-z0-9._-]*$\"}");
    return js("{\"type\":\"string\"}");
}

/* Numeric bounds of a field as the validator applies them (spec_validate.c). */
static void add_range(cJSON *s, const hs_spec_field *f, bool integer)
{
    if (!(f->min < f->max))
        return;
    cJSON_AddNumberToObject(s, "minimum", integer ? ceil(f->min) : f->min);
    cJSON_AddNumberToObject(s, "maximum", integer ? floor(f->max) : f->max);
    if (f->exclusive_min)
        cJSON_AddBoolToObject(s, "exclusiveMinimum", 1);
}

static cJSON *field_schema(const hs_spec_field *f)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    if (f->help)
        cJSON_AddStringToObject(s, "description", f->help);
    if (f->nullable)
        cJSON_AddBoolToObject(s, "nullable", 1);
    bool ranged = f->min < f->max;
    switch (f->type) {
    case HS_FIELD_STRING:
        cJSON_AddStringToObject(s, "type", "string");
        if (ranged) {
            cJSON_AddNumberToObject(s, "minLength", ceil(f->min));
            cJSON_AddNumberToObject(s, "maxLength", floor(f->max));
        }
        if (f->enum_values) {
            cJSON *en = cJSON_AddArrayToObject(s, "enum");
            for (const char *const *ev = f->enum_values; *ev; ev++)
                cJSON_AddItemToArray(en, cJSON_CreateString(*ev));
        }
        break;
    case HS_FIELD_INT:
        cJSON_AddStringToObject(s, "type", "integer");
        add_range(s, f, true);
        break;
    case HS_FIELD_NUMBER:
        cJSON_AddStringToObject(s, "type", "number");
        add_range(s, f, false);
        break;
    case HS_FIELD_BOOL:
        cJSON_AddStringToObject(s, "type", "boolean");
        break;
    case HS_FIELD_STRING_ARRAY:
    case HS_FIELD_NUMBER_ARRAY:
        cJSON_AddStringToObject(s, "type", "array");
        cJSON_AddItemToObject(s, "items",
                              js(f->type == HS_FIELD_STRING_ARRAY ? "{\"type\":\"string\"}"
                                                                  : "{\"type\":\"number\"}"));
        if (ranged) {
            cJSON_AddNumberToObject(s, "minItems", ceil(f->min));
            cJSON_AddNumberToObject(s, "maxItems", floor(f->max));
        }
        break;
    case HS_FIELD_OBJECT:
        cJSON_AddStringToObject(s, "type", "object");
        break;
    case HS_FIELD_ANY:
        break;
    }
    return s;
}

/* One kind's spec: kind, the common fields and the kind's fields; nothing else. */
static cJSON *kind_schema(const hs_job_kind *k)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    cJSON_AddStringToObject(s, "type", "object");
    cJSON_AddStringToObject(s, "description", k->description);
    cJSON_AddBoolToObject(s, "additionalProperties", 0);
    cJSON *req = cJSON_AddArrayToObject(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("kind"));
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *kind = cJSON_AddObjectToObject(props, "kind");
    cJSON_AddStringToObject(kind, "type", "string");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(kind, "enum"), cJSON_CreateString(k->name));
    cJSON_AddItemToObject(props, "priority",
                          js("{\"type\":\"integer\",\"minimum\":-1000000,\"maximum\":1000000,"
                             "\"description\":\"higher runs first (default 0)\"}"));
    cJSON_AddItemToObject(props, "client_id",
                          js("{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,"
                             "\"description\":\"idempotency key: a second submit returns the "
                             "existing job\"}"));
    cJSON_AddItemToObject(props, "max_attempts",
                          js("{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,"
                             "\"description\":\"runs a crash may interrupt (default 3)\"}"));
    cJSON_AddItemToObject(props, "name", js("{\"type\":\"string\",\"minLength\":1,"
                                            "\"maxLength\":128,\"description\":\"the run's "
                                            "name, unique among runs\"}"));
    cJSON_AddItemToObject(props, "tags", js(RUN_TAGS_SCHEMA));
    cJSON_AddItemToObject(props, "notes", js(RUN_NOTES_SCHEMA));
    for (const hs_spec_field *f = k->fields; f && f->name; f++) {
        cJSON_AddItemToObject(props, f->name, field_schema(f));
        if (f->required)
            cJSON_AddItemToArray(req, cJSON_CreateString(f->name));
    }
    return s;
}

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

/* A string path parameter for each named segment of the pattern ("{name}", "{file}"). */
static void add_name_params(cJSON *params, const char *pattern)
{
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        if (!close || strncmp(p, "{id}", 4) == 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "in", "path");
        cJSON_AddBoolToObject(o, "required", 1);
        cJSON *s = cJSON_AddObjectToObject(o, "schema");
        cJSON_AddStringToObject(s, "type", "string");
        cJSON_AddStringToObject(s, "pattern", "^[A-Za-z0-9._-]{1,128}$");
        cJSON_AddItemToArray(params, o);
    }
}

/* The answers particular to some routes: cancel, schedules, objects by id or name, deletes,
 * downloads. */
static void add_route_responses(cJSON *responses, const hs_route *r)
{
    if (strstr(r->pattern, "/report/")) { /* a Slurm attempt's own token (api_report.c) */
        if (strcmp(r->method, "GET") == 0) {
            add_response(responses, "401", "no token, or not that of an active attempt of the job",
                         true);
            add_response(responses, "403", "the token is another job's attempt's", true);
        }
        add_response(responses, "409",
                     "a batch out of order, or the run is not a finished diagnosis", true);
    }
    if (strstr(r->pattern, "/cancel")) {
        add_response(responses, "202", "running: cancel requested, it stops at its next step", false);
        add_response(responses, "409", "the job has already finished", true);
    }
    if (!strcmp(r->pattern, "/api/v1/corpora") && r->request_body)
        add_response(responses, "409", "the name has other content (replace=true replaces it)",
                     true);
    if (strstr(r->pattern, "/schedules") && r->request_body)
        add_response(responses, "409", "another schedule has this name", true);
    if (!strcmp(r->pattern, "/api/v1/jobs") || (strstr(r->pattern, "/runs/") && r->request_body))
        add_response(responses, "409", "another run has this name", true);
    if (!strcmp(r->pattern, "/api/v1/compare") || !strcmp(r->pattern, "/api/v1/sick-bands"))
        add_response(responses, "404", "a named run or checkpoint does not exist", true);
    if (strchr(r->pattern, '{'))
        add_response(responses, "404", "no such object", true);
    if (strcmp(r->method, "DELETE") == 0 && strstr(r->pattern, "/schedules") == NULL)
        add_response(responses, "409", "in use: a queued or running job or an enabled schedule "
                                       "refers to it, or its job is still queued or running",
                     true);
    if (strstr(r->pattern, "/files/")) {
        add_response(responses, "206", "the part of the file that the Range header asked for",
                     false);
        add_response(responses, "416", "the Range header lies beyond the end of the file", true);
    }
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
    add_name_params(params, r->pattern);
    if (r->query) {
        char q[256];
        snprintf(q, sizeof q, "%s", r->query);
        char *save = NULL;
        for (char *name = strtok_r(q, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "name", name);
            cJSON_AddStringToObject(p, "in", "query");
            bool compare_side = !strcmp(r->pattern, "/api/v1/compare") &&
                                (!strcmp(name, "a") || !strcmp(name, "b"));
            bool bands = !strcmp(r->pattern, "/api/v1/sick-bands") && !strcmp(name, "runs");
            cJSON_AddBoolToObject(p, "required",
                                  (strcmp(name, "name") == 0 && strcmp(r->method, "POST") == 0) ||
                                      compare_side || bands);
            cJSON_AddItemToObject(p, "schema", query_schema(r, name));
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
        else if (json && strcmp(r->method, "POST") == 0 && strstr(r->pattern, "/schedules"))
            cJSON_AddStringToObject(s, "$ref", "#/components/schemas/ScheduleCreate");
        else if (json && strstr(r->pattern, "/schedules"))
            cJSON_AddStringToObject(s, "$ref", "#/components/schemas/SchedulePatch");
        else if (json && strstr(r->pattern, "/runs/{id}"))
            cJSON_AddStringToObject(s, "$ref", "#/components/schemas/RunPatch");
        else if (json)
            cJSON_AddStringToObject(s, "type", "object");
        else {
            cJSON_AddStringToObject(s, "type", "string");
            cJSON_AddNumberToObject(s, "minLength", 1);
        }
        if (!json) /* the corpus upload also takes application/octet-stream */
            cJSON_AddItemToObject(c, "application/octet-stream",
                                  js("{\"schema\":{\"type\":\"string\",\"format\":\"binary\"}}"));
    }
    cJSON *responses = cJSON_AddObjectToObject(op, "responses");
    bool post = strcmp(r->method, "POST") == 0;
    if (post && r->request_body && strcmp(r->pattern, "/api/v1/jobs/{id}/cancel") != 0)
        add_response(responses, "201", "created", false);
    add_response(responses, "200", "ok", false);
    add_response(responses, "400",
                 "invalid request: body, query parameter (each at most once, UTF-8, no NUL), "
                 "or framing (one Content-Length)",
                 true);
    add_response(responses, "421",
                 "the daemon listens on a loopback address and the Host header is not a "
                 "loopback name or address with its port",
                 true);
    if (strcmp(r->method, "GET") != 0) {
        add_response(responses, "401", "missing or wrong bearer token (with --token-file)", true);
        add_response(responses, "403", "the Origin header is not the daemon's own origin", true);
        add_response(responses, "413", "request body larger than --max-body", true);
        add_response(responses, "415",
                     r->request_body && strcmp(r->request_body, "json") == 0
                         ? "Content-Type is not application/json"
                     : r->request_body ? "Content-Type is not text/plain or application/octet-stream"
                                       : "a Content-Type other than application/json",
                     true);
    }
    add_route_responses(responses, r);
    add_response(responses, "405", "method not allowed on this path", true);
    return op;
}

/* The schedule body: create needs name, cron and job; a patch may change any of them. */
static cJSON *schedule_schema(bool create)
{
    cJSON *s = js("{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
                  "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100},"
                  "\"cron\":{\"type\":\"string\",\"description\":\"5 fields, or @hourly, "
                  "@daily, @weekly, @monthly, @yearly, @every Ns\"},"
                  "\"timezone\":{\"type\":\"string\",\"description\":\"UTC (default), "
                  "+02:00, or a zone name such as Europe/Berlin\"},"
                  "\"enabled\":{\"type\":\"boolean\"},"
                  "\"job\":{\"allOf\":[{\"$ref\":\"#/components/schemas/JobSpec\"}],"
                  "\"not\":{\"required\":[\"client_id\"]},\"description\":\"a job spec "
                  "without client_id (each firing is a new job)\"}}}");
    if (s && create)
        cJSON_AddItemToObject(s, "required", js("[\"name\",\"cron\",\"job\"]"));
    return s;
}

static cJSON *components(void)
{
    cJSON *comp = cJSON_CreateObject();
    cJSON *schemas = cJSON_AddObjectToObject(comp, "schemas");
    cJSON_AddItemToObject(
        schemas, "Error",
        js("{\"type\":\"object\",\"required\":[\"error\",\"detail\",\"field\"],"
           "\"additionalProperties\":false,\"properties\":{\"error\":{\"type\":\"string\"},"
           "\"detail\":{\"type\":\"string\"},\"field\":{\"type\":\"string\","
           "\"nullable\":true}}}"));
    cJSON *spec = cJSON_AddObjectToObject(schemas, "JobSpec");
    cJSON_AddStringToObject(spec, "description",
                            "A flat object: kind, the kind's fields (GET /api/v1/kinds), and the "
                            "optional common fields priority, client_id, max_attempts and the run's "
                            "metadata name, tags, notes.");
    cJSON *one = cJSON_AddArrayToObject(spec, "oneOf");
    cJSON *disc = cJSON_AddObjectToObject(spec, "discriminator");
    cJSON_AddStringToObject(disc, "propertyName", "kind");
    cJSON *mapping = cJSON_AddObjectToObject(disc, "mapping");
    for (size_t i = 0; i < hs_job_kind_count; i++) {
        const hs_job_kind *k = hs_job_kinds[i];
        char name[96], ref[128];
        snprintf(name, sizeof name, "JobSpec_%s", k->name);
        snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
        cJSON_AddItemToObject(schemas, name, kind_schema(k));
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "$ref", ref);
        cJSON_AddItemToArray(one, r);
        cJSON_AddStringToObject(mapping, k->name, ref);
    }
    cJSON_AddItemToObject(schemas, "ScheduleCreate", schedule_schema(true));
    cJSON_AddItemToObject(schemas, "SchedulePatch", schedule_schema(false));
    cJSON_AddItemToObject(
        schemas, "RunPatch",
        js("{\"type\":\"object\",\"additionalProperties\":false,\"minProperties\":1,"
           "\"description\":\"a partial change; null clears\",\"properties\":{"
           "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,\"nullable\":true},"
           "\"tags\":{\"allOf\":[" RUN_TAGS_SCHEMA "],\"nullable\":true},"
           "\"notes\":{\"allOf\":[" RUN_NOTES_SCHEMA "],\"nullable\":true}}}"));
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
