/* Handlers of /api/v1/sweeps: a job spec and a grid {"field": [values], ...} become one job
 * per combination (every combination validated like a submit before any is stored, then all
 * inserted in one transaction and tagged with the sweep), and a sweep reads back with its jobs'
 * states and values. Whichever executor runs jobs runs these. */
#include "api.h"
#include "common/errors.h"
#include "kinds/spec.h"
#include "store/sweep_store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRID_FIELDS 8
#define MAX_SWEEP_JOBS 1000

/* The grid's shape: its fields and how many values each has; total combinations in *total.
 * 0, or -1 after answering 400. */
static int read_grid(hs_resp *resp, const cJSON *grid, const cJSON *fields[MAX_GRID_FIELDS],
                     int *n_fields, int *total)
{
    *n_fields = 0;
    *total = 1;
    if (!cJSON_IsObject(grid) || !grid->child) {
        hs_resp_error(resp, 400, "invalid sweep", "grid",
                      "grid must be an object {\"field\": [values], ...} with at least one field");
        return -1;
    }
    for (const cJSON *f = grid->child; f; f = f->next) {
        const char *name = f->string ? f->string : "";
        if (*n_fields == MAX_GRID_FIELDS) {
            hs_resp_error(resp, 400, "invalid sweep", "grid", "at most %d grid fields",
                          MAX_GRID_FIELDS);
            return -1;
        }
        if (strcmp(name, "kind") == 0 || strcmp(name, "client_id") == 0 ||
            strcmp(name, "name") == 0) {
            hs_resp_error(resp, 400, "invalid sweep", "grid",
                          "grid field %s cannot vary within a sweep", name);
            return -1;
        }
        int n = cJSON_IsArray(f) ? cJSON_GetArraySize(f) : 0;
        if (n < 1 || *total * n > MAX_SWEEP_JOBS) {
            hs_resp_error(resp, 400, "invalid sweep", "grid",
                          n < 1 ? "grid field %.60s must be a non-empty array of values"
                                : "grid field %.60s: a sweep makes at most 1000 jobs",
                          name);
            return -1;
        }
        *total *= n;
        fields[(*n_fields)++] = f;
    }
    return 0;
}

/* Combination k of the grid applied to the base spec; params gets the values. NULL when out
 * of memory. */
static cJSON *combination(const cJSON *base, const cJSON *const *fields, int n_fields, int k,
                          cJSON **params)
{
    cJSON *spec = cJSON_Duplicate(base, 1);
    *params = cJSON_CreateObject();
    if (!spec || !*params) {
        cJSON_Delete(spec);
        cJSON_Delete(*params);
        return NULL;
    }
    int index[MAX_GRID_FIELDS]; /* the last field varies fastest */
    for (int i = n_fields - 1; i >= 0; i--) {
        int n = cJSON_GetArraySize(fields[i]);
        index[i] = k % n;
        k /= n;
    }
    for (int i = 0; i < n_fields; i++) {
        const cJSON *v = cJSON_GetArrayItem(fields[i], index[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, fields[i]->string);
        cJSON_AddItemToObject(spec, fields[i]->string, cJSON_Duplicate(v, 1));
        cJSON_AddItemToObject(*params, fields[i]->string, cJSON_Duplicate(v, 1));
    }
    return spec;
}

typedef struct sweep_plan {
    int n;
    hs_sweep_job *jobs;
    char **texts; /* 2 per job: spec, params */
    cJSON **specs;
} sweep_plan;

static void plan_free(sweep_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->texts[2 * i]);
        free(p->texts[2 * i + 1]);
        cJSON_Delete(p->specs[i]);
    }
    free(p->jobs);
    free(p->texts);
    free(p->specs);
}

/* Expands and validates every combination; 0, or -1 after answering. */
static int plan_sweep(hs_req *req, hs_resp *resp, const cJSON *base, const cJSON *grid,
                      sweep_plan *p)
{
    const cJSON *fields[MAX_GRID_FIELDS];
    int n_fields, total;
    memset(p, 0, sizeof *p);
    if (read_grid(resp, grid, fields, &n_fields, &total) != 0)
        return -1;
    p->jobs = calloc((size_t)total, sizeof *p->jobs);
    p->texts = calloc((size_t)total * 2, sizeof *p->texts);
    p->specs = calloc((size_t)total, sizeof *p->specs);
    if (!p->jobs || !p->texts || !p->specs) {
        hs_resp_internal(resp, "out of memory");
        return -1;
    }
    for (int k = 0; k < total; k++) {
        cJSON *params = NULL, *spec = combination(base, fields, n_fields, k, &params);
        p->specs[p->n] = spec;
        p->texts[2 * p->n] = spec ? cJSON_PrintUnformatted(spec) : NULL;
        p->texts[2 * p->n + 1] = params ? cJSON_PrintUnformatted(params) : NULL;
        cJSON_Delete(params);
        p->n++;
        if (!p->texts[2 * k] || !p->texts[2 * k + 1]) {
            hs_resp_internal(resp, "out of memory");
            return -1;
        }
        hs_job_spec parsed;
        hs_spec_error serr = {{0}, {0}};
        if (hs_job_spec_parse(spec, &req->app->env, &parsed, &serr) != 0) {
            hs_resp_error(resp, 400, "invalid spec", serr.field, "combination %s: %s",
                          p->texts[2 * k + 1], serr.detail);
            return -1;
        }
        p->jobs[k] = (hs_sweep_job){
            .req = {.kind = parsed.kind->name, .spec_json = p->texts[2 * k],
                    .priority = parsed.priority, .max_attempts = parsed.max_attempts},
            .params_json = p->texts[2 * k + 1]};
    }
    return 0;
}

void hs_api_sweeps_create(hs_req *req, hs_resp *resp)
{
    cJSON *body = hs_req_json_object(req, resp);
    if (!body)
        return;
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(body, "job");
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(body, "grid");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    sweep_plan plan = {0};
    char err[HS_ERR_LEN];
    int64_t id = 0;
    for (const cJSON *f = body->child; f; f = f->next)
        if (!f->string || (strcmp(f->string, "job") && strcmp(f->string, "grid") &&
                           strcmp(f->string, "name"))) {
            hs_resp_error(resp, 400, "invalid sweep", f->string ? f->string : "",
                          "unknown field (a sweep has job, grid and name)");
            goto done;
        }
    if (name && (!cJSON_IsString(name) || strlen(name->valuestring) > 100)) {
        hs_resp_error(resp, 400, "invalid sweep", "name", "name must be a string of at most 100 "
                      "characters");
        goto done;
    }
    /* client_id and a run name are unique per job: one spec cannot give them to many. */
    if (!cJSON_IsObject(base) || cJSON_GetObjectItemCaseSensitive(base, "client_id") ||
        cJSON_GetObjectItemCaseSensitive(base, "name")) {
        hs_resp_error(resp, 400, "invalid sweep", "job",
                      "job must be a job spec object without client_id or name (name the sweep; "
                      "tags are shared by its jobs)");
        goto done;
    }
    if (plan_sweep(req, resp, base, grid, &plan) != 0)
        goto done;
    char *base_text = cJSON_PrintUnformatted(base), *grid_text = cJSON_PrintUnformatted(grid);
    int rc = base_text && grid_text
                 ? hs_sweep_create(req->app->store, name ? name->valuestring : "", base_text,
                                   grid_text, plan.jobs, plan.n, &id, err, sizeof err)
                 : hs_errf(err, sizeof err, "out of memory");
    free(base_text);
    free(grid_text);
    if (rc != 0) {
        hs_resp_internal(resp, err);
        goto done;
    }
    if (req->app->workers)
        hs_workers_notify(req->app->workers);
    hs_db *db = hs_req_db(req, resp);
    cJSON *o = NULL;
    if (db && hs_sweep_get_json(db, id, &o, err, sizeof err) != 0)
        hs_resp_internal(resp, err);
    else if (db)
        hs_resp_stored_json(req, resp, 201, o);
done:
    plan_free(&plan);
    cJSON_Delete(body);
}

void hs_api_sweep_get(hs_req *req, hs_resp *resp)
{
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *o;
    char err[HS_ERR_LEN];
    if (hs_sweep_get_json(db, req->id, &o, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (!o)
        return hs_resp_error(resp, 404, "not found", NULL, "no sweep %lld", (long long)req->id);
    hs_resp_stored_json(req, resp, 200, o);
}

void hs_api_sweeps_list(hs_req *req, hs_resp *resp)
{
    int64_t limit;
    if (hs_req_query_int(req, resp, "limit", 1, 500, 50, &limit) != 0)
        return;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    cJSON *arr;
    char err[HS_ERR_LEN];
    if (hs_sweep_list_json(db, (int)limit, &arr, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    hs_resp_stored_member(req, resp, 200, "sweeps", arr);
}
