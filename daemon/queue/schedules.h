/* Schedules as the queue understands them: a schedule body validated (name, cron expression,
 * time zone, enabled, and the job spec exactly as a submit would validate it), the next firing
 * of a cron text in a zone, and the hs_schedule_rules that let the store write and fire
 * schedules without knowing cron, zones or job kinds. */
#ifndef HS_SCHEDULES_H
#define HS_SCHEDULES_H
#include "kinds/kinds.h"
#include "store/schedule_store.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

/* Rules for the store; env must outlive them (job specs resolve their names under it). */
hs_schedule_rules hs_schedule_rules_for(const hs_kind_env *env);

/* The first firing of cron in timezone strictly after after_ms; -1 when none or when either
 * text does not parse. */
int64_t hs_schedule_next_fire(const char *cron, const char *timezone, int64_t after_ms);

/* Validates body ({name, cron, job, enabled?, timezone?}; all but enabled and timezone
 * required when create) and writes it: a new schedule (create) or a change of schedule id.
 * status INVALID with serr when the body does not validate; otherwise as the store's
 * hs_schedule_create / hs_schedule_patch. */
int hs_schedule_write(hs_store *store, const hs_kind_env *env, const cJSON *body, bool create,
                      int64_t id, cJSON **out, hs_schedule_status *status, hs_spec_error *serr,
                      char *err, size_t errlen);

#endif
