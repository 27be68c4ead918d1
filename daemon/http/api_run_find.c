/* Finding runs: GET /runs (summaries under combinable filters, JSON or CSV), PATCH
 * /runs/{id} (name, tags, notes) and GET /schedules/{id}/runs (what a schedule produced). */
#include "api.h"
#include "common/clock.h"
#include "common/errors.h"
#include "kinds/spec.h"
#include "kinds/spec_meta.h"
#include "store/job_states.h"
#include "store/run_summaries.h"
#include "store/schedule_store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const summary_columns[] = {
    "id", "job_id", "kind", "state", "model", "name", "tags", "created_at", "started_at",
    "finished_at", "duration_s", "schedule_id", "healthy", "bos_sink", "dead", "low_entropy",
    "ppl", "baseline_ppl", "best_ppl", "best_checkpoint", "heads_woken", "improves_baseline"};
#define N_SUMMARY_COLUMNS (int)(sizeof summary_columns / sizeof summary_columns[0])

/* The repeated tag= values as a JSON array of distinct tags. */
typedef struct tag_list {
    cJSON *arr;
    const char *bad;
} tag_list;

static int add_tag(void *arg, const char *value)
{
    tag_list *t = arg;
    if (!hs_run_tag_valid(value)) {
        t->bad = value;
        return -1;
    }
    const cJSON *have;
    cJSON_ArrayForEach(have, t->arr)
    {
        if (strcmp(have->valuestring, value) == 0)
            return 0;
    }
    return cJSON_AddItemToArray(t->arr, cJSON_CreateString(value)) ? 0 : -1;
}

static int parse_time_param(hs_req *req, hs_resp *resp, const char *name, int64_t *ms)
{
    const char *text = hs_req_query(req, name);
    *ms = -1;
    if (text && hs_parse_time(text, ms) != 0) {
        hs_resp_error(resp, 400, "invalid query parameter", name,
                      "%s must be an ISO-8601 UTC time such as 2026-11-29T06:00:00.000Z", name);
        return -1;
    }
    return 0;
}

/* kind, state, model, since, until, schedule, limit, before, order into f. */
static int parse_scalars(hs_req *req, hs_resp *resp, hs_run_find *f)
{
    f->kind = hs_req_query(req, "kind");
    if (f->kind && !hs_job_kind_find(f->kind))
        return hs_resp_error(resp, 400, "invalid query parameter", "kind",
                             "unknown job kind \"%.80s\"", f->kind), -1;
    f->state = hs_req_query(req, "state");
    if (f->state && hs_job_state_parse(f->state) < 0)
        return hs_resp_error(resp, 400, "invalid query parameter", "state",
                             "state must be queued, running, succeeded, failed or cancelled"), -1;
    f->model = hs_req_query(req, "model");
    if (f->model && !*f->model)
        return hs_resp_error(resp, 400, "invalid query parameter", "model",
                             "model must not be empty"), -1;
    f->q = hs_req_query(req, "q");
    if (f->q && !*f->q)
        return hs_resp_error(resp, 400, "invalid query parameter", "q", "q must not be empty"),
               -1;
    int64_t limit, before, schedule;
    if (parse_time_param(req, resp, "since", &f->since_ms) != 0 ||
        parse_time_param(req, resp, "until", &f->until_ms) != 0 ||
        hs_req_query_int(req, resp, "schedule", 1, INT64_MAX, 0, &schedule) != 0 ||
        hs_req_query_int(req, resp, "limit", 1, 500, 50, &limit) != 0 ||
        hs_req_query_int(req, resp, "before", 1, INT64_MAX, 0, &before) != 0)
        return -1;
    f->schedule_id = schedule;
    f->limit = (int)limit;
    f->before = before;
    const char *order = hs_req_query(req, "order");
    if (!order || strcmp(order, "-created") == 0)
        f->order = HS_RUN_ORDER_NEWEST;
    else if (strcmp(order, "created") == 0)
        f->order = HS_RUN_ORDER_OLDEST;
    else if (strcmp(order, "ppl") == 0)
        f->order = HS_RUN_ORDER_PPL;
    else
        return hs_resp_error(resp, 400, "invalid query parameter", "order",
                             "order must be created, -created or ppl"), -1;
    return 0;
}

static void respond_page(hs_req *req, hs_resp *resp, const hs_run_find *f, bool csv)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *runs;
    int64_t next_before;
    char err[HS_ERR_LEN];
    if (hs_runs_find_json(db, f, &runs, &next_before, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (csv) {
        hs_resp_csv(resp, runs, summary_columns, N_SUMMARY_COLUMNS);
        cJSON_Delete(runs);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToObject(o, "runs", runs)) {
        cJSON_Delete(o);
        cJSON_Delete(runs);
        return hs_resp_internal(resp, "out of memory");
    }
    if (next_before)
        cJSON_AddNumberToObject(o, "next_before", (double)next_before);
    else
        cJSON_AddNullToObject(o, "next_before");
    hs_resp_stored_json(req, resp, 200, o);
}

void hs_api_runs_list(hs_req *req, hs_resp *resp)
{
    hs_run_find f = {.since_ms = -1, .until_ms = -1};
    bool csv;
    if (hs_req_query_allowed(req, resp, "kind,state,model,tag,q,since,until,schedule,limit,"
                                        "before,order,format") != 0 ||
        hs_req_format_csv(req, resp, &csv) != 0 || parse_scalars(req, resp, &f) != 0)
        return;
    char model[4097];
    if (f.model) { /* a trailing '*' asks for a prefix */
        size_t n = strlen(f.model);
        snprintf(model, sizeof model, "%s", f.model);
        if (n > 0 && n < sizeof model && model[n - 1] == '*') {
            model[n - 1] = '\0';
            f.model_prefix = true;
        }
        f.model = model;
    }
    tag_list tags = {.arr = cJSON_CreateArray()};
    if (!tags.arr)
        return hs_resp_internal(resp, "out of memory");
    if (hs_req_query_each(req, "tag", add_tag, &tags) != 0) {
        cJSON_Delete(tags.arr);
        if (!tags.bad)
            return hs_resp_internal(resp, "out of memory");
        return hs_resp_error(resp, 400, "invalid query parameter", "tag",
                             "each tag must be 1..%d characters of A-Z a-z 0-9 . _ : -",
                             HS_RUN_TAG_MAX);
    }
    char *tags_json = cJSON_GetArraySize(tags.arr) ? cJSON_PrintUnformatted(tags.arr) : NULL;
    cJSON_Delete(tags.arr);
    f.tags_json = tags_json;
    respond_page(req, resp, &f, csv);
    free(tags_json);
}

/* The PATCH body as a change; the tag pointers point into body. -1 after answering 400. */
static int parse_patch(hs_resp *resp, const cJSON *body, hs_run_meta_patch *p,
                       const char **tags)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, body)
    {
        if (!hs_spec_is_meta_field(item->string))
            return hs_resp_error(resp, 400, "invalid body", item->string,
                                 "unknown field \"%.100s\" (name, tags and notes can change)",
                                 item->string), -1;
    }
    hs_spec_error e = {{0}, {0}};
    if (hs_spec_meta_check(body, true, &e) != 0)
        return hs_resp_error(resp, 400, "invalid body", e.field, "%s", e.detail), -1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(body, "notes");
    const cJSON *tag_arr = cJSON_GetObjectItemCaseSensitive(body, "tags");
    p->set_name = name != NULL;
    p->name = cJSON_IsString(name) ? name->valuestring : NULL;
    p->set_notes = notes != NULL;
    p->notes = cJSON_IsString(notes) ? notes->valuestring : NULL;
    p->set_tags = tag_arr != NULL;
    for (const cJSON *t = cJSON_IsArray(tag_arr) ? tag_arr->child : NULL; t; t = t->next)
        tags[p->n_tags++] = t->valuestring;
    p->tags = tags;
    if (!p->set_name && !p->set_notes && !p->set_tags)
        return hs_resp_error(resp, 400, "invalid body", NULL,
                             "nothing to change: give name, tags or notes"), -1;
    return 0;
}

void hs_api_run_patch(hs_req *req, hs_resp *resp)
{
    cJSON *body = hs_req_json_object(req, resp);
    if (!body)
        return;
    const char *tags[HS_RUN_TAGS_MAX];
    hs_run_meta_patch p = {0};
    hs_run_patch_outcome outcome;
    int64_t owner = 0;
    char err[HS_ERR_LEN];
    if (parse_patch(resp, body, &p, tags) != 0) {
        cJSON_Delete(body);
        return;
    }
    int rc = hs_run_meta_update(req->app->store, req->id, &p, &outcome, &owner, err,
                                sizeof err);
    if (rc != 0)
        hs_resp_internal(resp, err);
    else if (outcome == HS_RUN_PATCH_NOT_FOUND)
        hs_resp_error(resp, 404, "not found", NULL, "no run %lld", (long long)req->id);
    else if (outcome == HS_RUN_PATCH_NAME_TAKEN)
        hs_resp_error(resp, 409, "conflict", "name", "name \"%.128s\" is already used by run %lld",
                      p.name, (long long)owner);
    cJSON_Delete(body);
    if (rc != 0 || outcome != HS_RUN_PATCH_OK)
        return;
    hs_api_run_get(req, resp);
}

void hs_api_schedule_runs(hs_req *req, hs_resp *resp)
{
    int64_t limit;
    if (hs_req_query_allowed(req, resp, "limit") != 0 ||
        hs_req_query_int(req, resp, "limit", 1, 10000, 1000, &limit) != 0)
        return;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *schedule, *runs;
    char err[HS_ERR_LEN];
    if (hs_schedule_get_json(db, req->id, false, &schedule, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!schedule)
        return hs_resp_error(resp, 404, "not found", NULL, "no schedule %lld",
                             (long long)req->id);
    cJSON_Delete(schedule);
    if (hs_schedule_runs_json(db, req->id, (int)limit, &runs, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "schedule_id", (double)req->id) ||
        !cJSON_AddItemToObject(o, "firings", runs)) {
        cJSON_Delete(o);
        return hs_resp_internal(resp, "out of memory");
    }
    hs_resp_stored_json(req, resp, 200, o);
}
