/* Run directories at start-up, before any worker runs: run directories from before instance
 * ids (runs/<id>/) adopted once into this database's names (runs/<id>-<instance>/, their
 * checkpoint rows' paths updated), then the sweep of files no row points at: the directory of
 * a run that is deleted or whose job does not exist, and, for a finished run, each checkpoint
 * directory without a checkpoint row (what a crash between a deletion's commit and its file
 * removal leaves). Directories of other instances are left alone and never used. */
#ifndef HS_RUN_FILES_H
#define HS_RUN_FILES_H
#include "data_dir.h"
#include "store.h"

/* Adoption (when the database asks for it) and the sweep; *swept counts removed directories
 * (optional). 0, or -1 with err. */
int hs_run_files_startup(hs_store *store, const hs_roots *roots, int *swept, char *err,
                         size_t errlen);

#endif
