/* Model aliases: names of a stored run's checkpoint that are resolved against the database
 * rather than the disk.
 *   run:<id>/best      the run's checkpoint marked best (lowest perplexity)
 *   run:<id>/final     the last checkpoint of a succeeded run
 *   run:<id>/latest    the newest checkpoint so far (also of a running surgery)
 *   run:latest/<ckpt>  <ckpt> (a name or one of the three above) of the newest succeeded
 *                      surgery run; run:latest:<tag>/<ckpt> of the newest one with that tag
 * A checkpoint really named best, final or latest is itself. A submit checks that the alias
 * resolves now; the job resolves it again when it starts and records the concrete
 * "run:<id>/<name>" as its model_resolved, which a resumed attempt reuses. */
#ifndef HS_MODEL_ALIAS_H
#define HS_MODEL_ALIAS_H
#include "store.h"
#include <stdbool.h>
#include <stdint.h>

/* Whether name has an alias form (whether or not it resolves). */
bool hs_model_is_alias(const char *name);
/* The concrete model for name: 1 with "run:<id>/<checkpoint>" in out, 0 when name is no alias
 * (out = name), -1 with err saying why it does not resolve. */
int hs_model_alias_resolve(hs_db *db, const char *name, char *out, size_t outlen, char *err,
                           size_t errlen);
/* At a job's start: the model it runs on. A model_resolved recorded by an earlier attempt
 * wins; otherwise model is resolved and recorded. 0 with out, or -1 with err. */
int hs_job_resolve_model(hs_store *store, int64_t job_id, const char *model, char *out,
                         size_t outlen, char *err, size_t errlen);

#endif
