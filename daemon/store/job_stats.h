/* Monitoring reads of the jobs table (its history in job_events included): a job's
 * transitions, finished jobs counted by kind and final state, and the run time of every
 * finished job that ran, grouped by kind. The /metrics text and the events answer are made
 * from these by the HTTP layer. */
#ifndef HS_JOB_STATS_H
#define HS_JOB_STATS_H
#include "store.h"
#include <cjson/cJSON.h>
#include <stdint.h>

/* The transitions of job id, oldest first, as an array of {at, from, to, reason}; *out NULL
 * (and 0 returned) when there is no such job. */
int hs_job_events_json(hs_db *db, int64_t id, cJSON **out, char *err, size_t errlen);

/* fn once per (kind, final state) with finished jobs, ordered by kind then state. */
typedef void (*hs_finished_count_fn)(const char *kind, const char *state, int64_t count,
                                     void *arg);
int hs_job_finished_counts(hs_db *db, hs_finished_count_fn fn, void *arg, char *err,
                           size_t errlen);

/* fn once per finished job that ran (finished_at - started_at in seconds), ordered by kind,
 * so that all of one kind's durations come together. */
typedef void (*hs_job_duration_fn)(const char *kind, double seconds, void *arg);
int hs_job_durations(hs_db *db, hs_job_duration_fn fn, void *arg, char *err, size_t errlen);

#endif
