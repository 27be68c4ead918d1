/* What a researcher finds runs by (tables run_summaries, run_tags; schema/003): the metadata
 * of a run (name, tags, notes) set at submit or by a PATCH, the model its spec names, and its
 * headline numbers, written once when it succeeds. Reads: one page of run summaries under
 * combinable filters, a schedule's runs oldest first, and a run's metadata as JSON. Knows
 * nothing of HTTP; the metadata's validation is the caller's (kinds/spec_meta.h). */
#ifndef HS_RUN_SUMMARIES_H
#define HS_RUN_SUMMARIES_H
#include "store.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* What hs_run_summary_insert (and through it hs_job_insert) returns when the spec's run name
 * is already another run's: a submit that raced the API's check, answered 409. */
#define HS_RUN_NAME_TAKEN (-2)

/* In the caller's write transaction, right after the job row: the summary row of job id from
 * its (validated) spec — name, notes, tags, model. A scheduled job's name gets " #<id>" so
 * every tick's run keeps a unique one. 0, HS_RUN_NAME_TAKEN with err naming the owner, or -1
 * with err. */
int hs_run_summary_insert(hs_db *db, int64_t id, const char *spec_json, bool scheduled,
                          char *err, size_t errlen);
/* In the caller's write transaction, once job id has succeeded: its headline numbers from its
 * stored result (class counts, perplexity, surgery's baseline / best / woken). 0 or -1. */
int hs_run_summary_complete(hs_db *db, int64_t id, char *err, size_t errlen);

/* The run whose name is `name` (*owner 0 when none); with client_id, a run submitted with
 * that client_id does not count (a repeated submit gets its job back). 0 or -1 with err. */
int hs_run_name_owner(hs_db *db, const char *name, const char *client_id, int64_t *owner,
                      char *err, size_t errlen);

/* A partial change of a run's metadata; a set_* field with a NULL value (n_tags 0) clears. */
typedef struct hs_run_meta_patch {
    bool set_name, set_notes, set_tags;
    const char *name, *notes;
    const char *const *tags;
    int n_tags;
} hs_run_meta_patch;
typedef enum hs_run_patch_outcome {
    HS_RUN_PATCH_OK,
    HS_RUN_PATCH_NOT_FOUND,
    HS_RUN_PATCH_NAME_TAKEN /* *owner names the run that has it */
} hs_run_patch_outcome;
int hs_run_meta_update(hs_store *store, int64_t id, const hs_run_meta_patch *p,
                       hs_run_patch_outcome *outcome, int64_t *owner, char *err,
                       size_t errlen);

/* Adds "name", "tags" and "notes" of run id to o. 0 or -1 with err. */
int hs_run_meta_add_json(hs_db *db, int64_t id, cJSON *o, char *err, size_t errlen);

/* Adds "summary": run id's summary as GET /runs lists it (headline numbers included), or null
 * when there is no job id. 0 or -1 with err. */
int hs_run_summary_add_json(hs_db *db, int64_t id, cJSON *o, char *err, size_t errlen);

typedef enum hs_run_order {
    HS_RUN_ORDER_NEWEST, /* -created (default) */
    HS_RUN_ORDER_OLDEST, /* created */
    HS_RUN_ORDER_PPL     /* lowest perplexity first, runs without one last */
} hs_run_order;

/* The filters of GET /runs; NULL / negative / 0 members do not filter. */
typedef struct hs_run_find {
    const char *kind;
    const char *state;
    const char *model;       /* exact, or a prefix when model_prefix */
    bool model_prefix;
    const char *tags_json;   /* a JSON array of distinct tags, all of which must be set */
    const char *q;           /* substring (ASCII case-insensitive) of name, notes or model */
    int64_t since_ms, until_ms; /* created_at bounds (inclusive), when >= 0 */
    int64_t schedule_id;
    int64_t before;          /* the next_before of the previous page, in the same order */
    int limit;
    hs_run_order order;
} hs_run_find;
/* One page of run summaries (see docs/api.md "Run summaries"); *next_before = the last id when
 * the page is full, else 0. */
int hs_runs_find_json(hs_db *db, const hs_run_find *f, cJSON **out, int64_t *next_before,
                      char *err, size_t errlen);

/* The firings of schedule id, oldest first, at most limit: {scheduled_for, fired_at, skipped,
 * reason, run: summary or null}. */
int hs_schedule_runs_json(hs_db *db, int64_t schedule_id, int limit, cJSON **out, char *err,
                          size_t errlen);

#endif
