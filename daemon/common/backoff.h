/* A streak of failures of something retried in the background (a database write, a
 * checkpoint, a schedule check): the pause before the next try doubles from first_ms up to
 * max_ms, and the caller logs only the failures that start a streak or reach a power-of-two
 * count, then once when it works again, instead of one line per try forever. Not
 * thread-safe: each user keeps its own or locks around it. */
#ifndef HS_BACKOFF_H
#define HS_BACKOFF_H
#include <stdbool.h>
#include <stdint.h>

typedef struct hs_backoff {
    int64_t first_ms, max_ms; /* set by the user */
    int64_t delay_ms;         /* the current pause; 0 while not failing */
    int64_t retry_at_ms;      /* no try before this */
    int64_t since_ms;         /* when the streak began */
    uint64_t failures;        /* in this streak */
} hs_backoff;

/* Records a failure at now_ms: the next try waits the current pause, which then doubles (up
 * to max_ms). True when this failure should be logged (the 1st, 2nd, 4th, 8th, ... of a
 * streak). */
bool hs_backoff_fail(hs_backoff *b, int64_t now_ms);
/* Records a success: true when it ends a streak (log the recovery once). */
bool hs_backoff_ok(hs_backoff *b);
/* True while a streak is on and now_ms is before its next try. */
bool hs_backoff_waiting(const hs_backoff *b, int64_t now_ms);

#endif
