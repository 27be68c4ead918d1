/* The workers: one thread per --device, each owning its device. A worker claims the next
 * queued job (job_store.c's atomic claim), runs the kind's runner with the SQLite-backed
 * runner API, and commits the outcome: succeeded, failed with the reason, cancelled (a cancel
 * was requested), or requeued when the daemon is shutting down. Pause stops new claims only.
 * A worker never touches HTTP. */
#ifndef HS_WORKER_H
#define HS_WORKER_H
#include "kinds/kinds.h"
#include "store/store.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct hs_worker_pool hs_worker_pool;

/* Opens each device and starts its thread. data_dir etc. in env are absolute. The pause flag
 * is restored from the store. model_cache_bytes: each device's model cache limit, or −1 for
 * the device's default (device.h). */
int hs_workers_start(hs_store *store, const hs_kind_env *env, const char *const *devices,
                     int n_devices, long long model_cache_bytes, hs_worker_pool **out,
                     char *err, size_t errlen);
/* Asks the running jobs to stop (they are requeued), joins the threads, closes devices. */
void hs_workers_stop(hs_worker_pool *pool);

/* A job was queued: wake an idle worker. */
void hs_workers_notify(hs_worker_pool *pool);
/* Pause or resume claiming; persisted in the store. */
int hs_workers_set_paused(hs_worker_pool *pool, bool paused, char *err, size_t errlen);
bool hs_workers_paused(hs_worker_pool *pool);
/* A cancel was requested for job_id: the worker running it sees should_stop() at once. */
void hs_workers_cancel_running(hs_worker_pool *pool, int64_t job_id);
/* [{"device", "description", "available", "job_id", "model_cache": {"limit_bytes",
 * "used_bytes", "models": [{"name", "path", "resident_bytes", "last_used"}]}}] */
cJSON *hs_workers_json(hs_worker_pool *pool);

#endif
