/* The schedule timer on the libuv loop (scheduler.h). */
#include "scheduler.h"
#include "common/clock.h"
#include "common/errors.h"
#include "schedules.h"
#include <stdio.h>
#include <stdlib.h>

#define TICK_MS 250

struct hs_scheduler {
    uv_timer_t timer;
    uv_async_t poke;
    hs_store *store;
    hs_kind_env env;
    hs_worker_pool *workers;
    int open_handles;
};

static void check_schedules(hs_scheduler *s)
{
    int created = 0;
    char err[HS_ERR_LEN];
    hs_schedule_rules rules = hs_schedule_rules_for(&s->env);
    /* While the database cannot be written the store has logged why (once per milestone):
     * no line per tick here. */
    if (hs_schedules_fire_due(s->store, &rules, hs_now_ms(), &created, err, sizeof err) != 0 &&
        !hs_store_degraded(s->store)) {
        char stamp[HS_TIME_LEN];
        fprintf(stderr, "%s surgeond: firing schedules: %s\n", hs_format_time(hs_now_ms(), stamp),
                err);
    }
    if (created > 0 && s->workers)
        hs_workers_notify(s->workers);
}

static void on_timer(uv_timer_t *t)
{
    check_schedules(t->data);
}
static void on_poke(uv_async_t *a) { check_schedules(a->data); }

int hs_scheduler_start(uv_loop_t *loop, hs_store *store, const hs_kind_env *env,
                       hs_worker_pool *workers, hs_scheduler **out, char *err, size_t errlen)
{
    hs_scheduler *s = calloc(1, sizeof *s);
    if (!s)
        return hs_errf(err, errlen, "out of memory");
    s->store = store;
    s->env = *env;
    s->workers = workers;
    int rc = uv_timer_init(loop, &s->timer);
    if (rc == 0) {
        s->timer.data = s;
        s->open_handles++;
        rc = uv_async_init(loop, &s->poke, on_poke);
        if (rc == 0) {
            s->poke.data = s;
            s->open_handles++;
            rc = uv_timer_start(&s->timer, on_timer, 0, TICK_MS);
        }
    }
    if (rc != 0) {
        hs_errf(err, errlen, "scheduler timer: %s", uv_strerror(rc));
        hs_scheduler_stop(s);
        return -1;
    }
    *out = s;
    return 0;
}

void hs_scheduler_poke(void *scheduler)
{
    hs_scheduler *s = scheduler;
    if (s)
        uv_async_send(&s->poke);
}

static void on_closed(uv_handle_t *h)
{
    hs_scheduler *s = h->data;
    if (--s->open_handles == 0)
        free(s);
}

void hs_scheduler_stop(hs_scheduler *s)
{
    if (!s)
        return;
    if (s->open_handles == 0) {
        free(s);
        return;
    }
    int handles = s->open_handles;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
    if (handles == 2)
        uv_close((uv_handle_t *)&s->poke, on_closed);
}
