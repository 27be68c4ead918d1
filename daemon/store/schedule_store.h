/* Schedules and their firings (tables schedules, schedule_firings): CRUD as API JSON and
 * firing the due ones. A firing inserts one job keyed by (schedule_id, scheduled_for), so a
 * restart never fires a tick twice; a tick whose schedule still has a queued or running job is
 * recorded as skipped; a tick missed while the daemon was down fires once (the next one is
 * computed from now). The store validates no body and computes no time: what a cron text and
 * a time zone mean, and which job a stored spec submits, come from the caller's
 * hs_schedule_rules (queue/schedules.c). No timers here (queue/scheduler.c). */
#ifndef HS_SCHEDULE_STORE_H
#define HS_SCHEDULE_STORE_H
#include "job_store.h"
#include "store.h"
#include <cjson/cJSON.h>

typedef enum hs_schedule_status {
    HS_SCHEDULE_OK,
    HS_SCHEDULE_INVALID,   /* 400: the body did not validate (never set by the store) */
    HS_SCHEDULE_NOT_FOUND, /* 404 */
    HS_SCHEDULE_CONFLICT   /* 409: the name is taken */
} hs_schedule_status;

/* A validated schedule body; NULL (enabled -1) for a field not given. */
typedef struct hs_schedule_fields {
    const char *name, *cron, *timezone, *job_json;
    int enabled;
} hs_schedule_fields;

/* What the store asks of the layer above while it writes or fires schedules. */
typedef struct hs_schedule_rules {
    /* The first firing strictly after after_ms of a validated cron text in a time zone; -1
     * when there is none (the schedule then never fires). */
    int64_t (*next_fire)(const char *cron, const char *timezone, int64_t after_ms);
    /* The kind, priority and max_attempts of the job a firing of job_json submits: 0, or -1
     * with why (the tick is then recorded as skipped with that reason). */
    int (*job_of)(const char *job_json, void *arg, hs_job_submit_req *req, char *why,
                  size_t whylen);
    void *arg;
} hs_schedule_rules;

/* Inserts a schedule (name, cron and job required; timezone defaults to UTC). On OK *out is
 * the new schedule's JSON; CONFLICT when the name is taken. */
int hs_schedule_create(hs_store *store, const hs_schedule_fields *f,
                       const hs_schedule_rules *rules, cJSON **out, hs_schedule_status *status,
                       char *err, size_t errlen);
/* Changes the given fields and recomputes the next firing. NOT_FOUND, CONFLICT or OK. */
int hs_schedule_patch(hs_store *store, int64_t id, const hs_schedule_fields *f,
                      const hs_schedule_rules *rules, cJSON **out, hs_schedule_status *status,
                      char *err, size_t errlen);
int hs_schedule_delete(hs_store *store, int64_t id, hs_schedule_status *status, char *err,
                       size_t errlen);
/* with_firings adds "firings": the most recent 100, newest first. *out NULL: not found. */
int hs_schedule_get_json(hs_db *db, int64_t id, bool with_firings, cJSON **out, char *err,
                         size_t errlen);
int hs_schedule_list_json(hs_db *db, cJSON **out, char *err, size_t errlen);

/* Fires every enabled schedule due at now_ms. *jobs_created counts inserted jobs. */
int hs_schedules_fire_due(hs_store *store, const hs_schedule_rules *rules, int64_t now_ms,
                          int *jobs_created, char *err, size_t errlen);

#endif
