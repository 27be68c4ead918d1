/* The scheduler on the daemon's libuv loop: a timer fires due schedules
 * (schedule_store.c) and rings the workers when jobs were queued; an async handle lets HTTP
 * threads ask for an immediate check after a schedule changed. The same timer does the store's
 * housekeeping (WAL checkpoints off the request path). */
#ifndef HS_SCHEDULER_H
#define HS_SCHEDULER_H
#include "kinds/kinds.h"
#include "store/store.h"
#include "worker.h"
#include <uv.h>

typedef struct hs_scheduler hs_scheduler;

int hs_scheduler_start(uv_loop_t *loop, hs_store *store, const hs_kind_env *env,
                       hs_worker_pool *workers, hs_scheduler **out, char *err, size_t errlen);
/* Thread-safe: check the schedules now (uv_async_send). */
void hs_scheduler_poke(void *scheduler);
/* Closes the handles (run the loop afterwards so the close callbacks run); frees itself. */
void hs_scheduler_stop(hs_scheduler *s);

#endif
