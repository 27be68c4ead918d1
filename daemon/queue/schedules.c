/* Schedule bodies validated, firings timed, jobs of a firing prepared (schedules.h). */
#include "schedules.h"
#include "cron.h"
#include "kinds/spec.h"
#include "timezone.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t hs_schedule_next_fire(const char *cron, const char *timezone, int64_t after_ms)
{
    hs_cron c;
    hs_tz tz;
    char err[256];
    if (hs_cron_parse(cron, &c, err, sizeof err) != 0 ||
        hs_tz_parse(timezone, &tz, err, sizeof err) != 0)
        return -1;
    return hs_cron_next_in(&c, after_ms, &tz);
}

static int job_of_firing(const char *job_json, void *env, hs_job_submit_req *req, char *why,
                         size_t whylen)
{
    cJSON *spec = cJSON_Parse(job_json);
    hs_job_spec parsed;
    hs_spec_error serr = {{0}, {0}};
    int rc = 0;
    if (!spec || hs_job_spec_parse(spec, env, &parsed, &serr) != 0) {
        snprintf(why, whylen, "invalid job spec: %s: %s", serr.field, serr.detail);
        rc = -1;
    } else {
        req->kind = parsed.kind->name;
        req->priority = parsed.priority;
        req->max_attempts = parsed.max_attempts;
    }
    cJSON_Delete(spec);
    return rc;
}

hs_schedule_rules hs_schedule_rules_for(const hs_kind_env *env)
{
    return (hs_schedule_rules){.next_fire = hs_schedule_next_fire, .job_of = job_of_firing,
                               .arg = (void *)env};
}

/* The job member of a body: a valid spec without client_id, kept as compact JSON. */
static int parse_job_field(const cJSON *item, const hs_kind_env *env, char **job_json,
                           hs_spec_error *e)
{
    if (!cJSON_IsObject(item))
        return hs_spec_errorf(e, "job", "job must be a job spec object");
    hs_job_spec spec;
    hs_spec_error inner = {{0}, {0}};
    if (hs_job_spec_parse(item, env, &spec, &inner) != 0) {
        char field[sizeof e->field];
        snprintf(field, sizeof field, "job.%.100s", inner.field);
        return hs_spec_errorf(e, field, "%s", inner.detail);
    }
    if (spec.client_id)
        return hs_spec_errorf(e, "job.client_id",
                              "a scheduled job cannot carry a client_id (each firing is a new job)");
    free(*job_json);
    *job_json = cJSON_PrintUnformatted(item);
    return *job_json ? 0 : hs_spec_errorf(e, "job", "out of memory");
}

/* Validates the given fields of a schedule body; all required when `create`. *job_json is
 * malloc'd (also on failure: the caller frees it). */
static int parse_body(const cJSON *body, const hs_kind_env *env, bool create,
                      hs_schedule_fields *f, char **job_json, hs_spec_error *e)
{
    *f = (hs_schedule_fields){.enabled = -1};
    *job_json = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, body)
    {
        const char *k = item->string ? item->string : "";
        char why[256];
        if (strcmp(k, "name") == 0) {
            if (!cJSON_IsString(item) || !item->valuestring[0] || strlen(item->valuestring) > 100)
                return hs_spec_errorf(e, "name", "name must be a string of 1-100 characters");
            f->name = item->valuestring;
        } else if (strcmp(k, "cron") == 0) {
            hs_cron cron;
            if (!cJSON_IsString(item))
                return hs_spec_errorf(e, "cron", "cron must be a string");
            if (hs_cron_parse(item->valuestring, &cron, why, sizeof why) != 0)
                return hs_spec_errorf(e, "cron", "%s", why);
            f->cron = item->valuestring;
        } else if (strcmp(k, "timezone") == 0) {
            hs_tz tz;
            if (!cJSON_IsString(item))
                return hs_spec_errorf(e, "timezone", "timezone must be a string");
            if (hs_tz_parse(item->valuestring, &tz, why, sizeof why) != 0)
                return hs_spec_errorf(e, "timezone", "%s", why);
            f->timezone = item->valuestring;
        } else if (strcmp(k, "enabled") == 0) {
            if (!cJSON_IsBool(item))
                return hs_spec_errorf(e, "enabled", "enabled must be a boolean");
            f->enabled = cJSON_IsTrue(item);
        } else if (strcmp(k, "job") == 0) {
            if (parse_job_field(item, env, job_json, e) != 0)
                return -1;
            f->job_json = *job_json;
        } else {
            return hs_spec_errorf(e, k, "unknown field \"%.100s\" of a schedule", k);
        }
    }
    if (create) {
        const char *missing = !f->name ? "name" : !f->cron ? "cron" : !f->job_json ? "job" : NULL;
        if (missing)
            return hs_spec_errorf(e, missing, "missing required field %s", missing);
    }
    return 0;
}

int hs_schedule_write(hs_store *store, const hs_kind_env *env, const cJSON *body, bool create,
                      int64_t id, cJSON **out, hs_schedule_status *status, hs_spec_error *serr,
                      char *err, size_t errlen)
{
    *out = NULL;
    hs_schedule_fields f;
    char *job_json = NULL;
    if (parse_body(body, env, create, &f, &job_json, serr) != 0) {
        free(job_json);
        *status = HS_SCHEDULE_INVALID;
        return 0;
    }
    hs_schedule_rules rules = hs_schedule_rules_for(env);
    int rc = create ? hs_schedule_create(store, &f, &rules, out, status, err, errlen)
                    : hs_schedule_patch(store, id, &f, &rules, out, status, err, errlen);
    free(job_json);
    return rc;
}
