/* Exponential, capped retry pauses with logging of a streak's milestones only (backoff.h). */
#include "backoff.h"

bool hs_backoff_fail(hs_backoff *b, int64_t now_ms)
{
    if (b->failures == 0) {
        b->since_ms = now_ms;
        b->delay_ms = b->first_ms > 0 ? b->first_ms : 1;
    }
    b->failures++;
    b->retry_at_ms = now_ms + b->delay_ms;
    b->delay_ms = b->delay_ms > b->max_ms / 2 ? b->max_ms : b->delay_ms * 2;
    return (b->failures & (b->failures - 1)) == 0;
}

bool hs_backoff_ok(hs_backoff *b)
{
    bool was_failing = b->failures > 0;
    b->failures = 0;
    b->delay_ms = 0;
    b->retry_at_ms = 0;
    b->since_ms = 0;
    return was_failing;
}

bool hs_backoff_waiting(const hs_backoff *b, int64_t now_ms)
{
    return b->failures > 0 && now_ms < b->retry_at_ms;
}
