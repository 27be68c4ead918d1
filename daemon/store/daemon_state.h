/* The daemon's own settings that outlive a restart (table daemon_state): whether the queue is
 * paused, the database's instance id (it names run directories, data_dir.h) and the one-time
 * request to adopt run directories from before instance ids. */
#ifndef HS_DAEMON_STATE_H
#define HS_DAEMON_STATE_H
#include "store.h"
#include <stdbool.h>

/* *paused = the stored flag (false when never set). 0, or -1 with err. */
int hs_state_load_paused(hs_store *store, bool *paused, char *err, size_t errlen);
/* Stores the flag in its own transaction. 0, or -1 with err. */
int hs_state_save_paused(hs_store *store, bool paused, char *err, size_t errlen);

/* The instance id (hex, made by migration 4) into out. 0, or -1 with err. */
int hs_state_load_instance(hs_store *store, char *out, size_t outlen, char *err, size_t errlen);
/* *pending = whether legacy run directories still wait to be adopted. 0, or -1 with err. */
int hs_state_legacy_runs_pending(hs_store *store, bool *pending, char *err, size_t errlen);
/* Clears that request. 0, or -1 with err. */
int hs_state_legacy_runs_done(hs_store *store, char *err, size_t errlen);

#endif
