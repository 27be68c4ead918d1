/* Schedules and their firings (tables schedules, schedule_firings): validation of a schedule
 * body, CRUD as API JSON, and firing the due ones. A firing inserts one job keyed by
 * (schedule_id, scheduled_for), so a restart never fires a tick twice; a tick whose schedule
 * still has a queued or running job is recorded as skipped; a tick missed while the daemon was
 * down fires once (the next one is computed from now). No timers here (scheduler.c). */
#ifndef HS_SCHEDULE_STORE_H
#define HS_SCHEDULE_STORE_H
#include "kinds/kinds.h"
#include "store.h"
#include <cjson/cJSON.h>

typedef enum hs_schedule_status {
    HS_SCHEDULE_OK,
    HS_SCHEDULE_INVALID,   /* 400, serr filled */
    HS_SCHEDULE_NOT_FOUND, /* 404 */
    HS_SCHEDULE_CONFLICT   /* 409: the name is taken */
} hs_schedule_status;

/* body: {name, cron, job, enabled?, timezone?}. On OK *out is the new schedule's JSON. */
int hs_schedule_create(hs_store *store, const cJSON *body, const hs_kind_env *env,
                       cJSON **out, hs_schedule_status *status, hs_spec_error *serr, char *err,
                       size_t errlen);
/* body: any of {name, cron, job, enabled, timezone}. */
int hs_schedule_patch(hs_store *store, int64_t id, const cJSON *body, const hs_kind_env *env,
                      cJSON **out, hs_schedule_status *status, hs_spec_error *serr, char *err,
                      size_t errlen);
int hs_schedule_delete(hs_store *store, int64_t id, hs_schedule_status *status, char *err,
                       size_t errlen);
/* with_firings adds "firings": the most recent 100, newest first. *out NULL: not found. */
int hs_schedule_get_json(hs_db *db, int64_t id, bool with_firings, cJSON **out, char *err,
                         size_t errlen);
int hs_schedule_list_json(hs_db *db, cJSON **out, char *err, size_t errlen);

/* Fires every enabled schedule due at now_ms. *jobs_created counts inserted jobs. */
int hs_schedules_fire_due(hs_store *store, const hs_kind_env *env, int64_t now_ms,
                          int *jobs_created, char *err, size_t errlen);

#endif
