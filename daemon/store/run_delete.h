/* Deleting stored outcomes: a finished run (its result, head statistics, curves, checkpoint
 * rows and its run directory), one checkpoint of a run, and an uploaded corpus. Each is
 * refused while something holds it: the run's own job queued or running, a queued or running
 * job whose spec names it (model "run:<id>/...", targets.from_run, corpus/text_file/eval_file
 * "upload:<name>"), or an enabled schedule whose job does. The check and the row changes are
 * one write transaction; files are removed only after it committed, so a crash in between
 * leaves files without rows (the start-up sweep, run_files.h, removes them), never a row
 * pointing at missing files. The job row and its history stay: run_deleted_at and an event
 * say the run was deleted. */
#ifndef HS_RUN_DELETE_H
#define HS_RUN_DELETE_H
#include "data_dir.h"
#include "store.h"
#include <stdint.h>

typedef enum hs_delete_outcome {
    HS_DELETE_DONE,
    HS_DELETE_NOT_FOUND, /* why: what does not exist */
    HS_DELETE_HELD,      /* why: what holds it */
} hs_delete_outcome;

/* Each returns 0 with *outcome (and a sentence in why, whylen bytes, unless done), or -1 with
 * err on a database error. */
int hs_run_delete(hs_store *store, const hs_roots *roots, int64_t run_id,
                  hs_delete_outcome *outcome, char *why, size_t whylen, char *err,
                  size_t errlen);
int hs_checkpoint_delete(hs_store *store, const hs_roots *roots, int64_t run_id,
                         const char *name, hs_delete_outcome *outcome, char *why, size_t whylen,
                         char *err, size_t errlen);
int hs_corpus_delete(hs_store *store, const hs_roots *roots, const char *name,
                     hs_delete_outcome *outcome, char *why, size_t whylen, char *err,
                     size_t errlen);

/* Retention inside a running surgery: removes checkpoint `name` of run_id (row, its head
 * statistics, then its directory) without the holder checks. 0, or -1 with err. */
int hs_checkpoint_drop(hs_store *store, const hs_roots *roots, int64_t run_id, const char *name,
                       char *err, size_t errlen);

#endif
