/* The daemon's own settings that outlive a restart (table daemon_state): for now whether the
 * queue is paused. */
#ifndef HS_DAEMON_STATE_H
#define HS_DAEMON_STATE_H
#include "store.h"
#include <stdbool.h>

/* *paused = the stored flag (false when never set). 0, or -1 with err. */
int hs_state_load_paused(hs_store *store, bool *paused, char *err, size_t errlen);
/* Stores the flag in its own transaction. 0, or -1 with err. */
int hs_state_save_paused(hs_store *store, bool paused, char *err, size_t errlen);

#endif
