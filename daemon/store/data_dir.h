/* The layout of the data directory, and the only code that knows it:
 *   <data-dir>/surgeon.db                 the SQLite store (store.c)
 *   <data-dir>/logs/<id>.log              a queued job's log (job_log.c)
 *   <data-dir>/runs/<id>/                 a queued job's run directory
 *   <data-dir>/runs/inline-<ms>-<pid>/    the run directory of one `surgeond run`
 *   <run-dir>/checkpoints/<name>/         a run's checkpoints ("run:<id>/<name>" in specs)
 *   <data-dir>/corpora/                   uploaded corpora ("upload:<name>", uploads.c), also
 *                                         the default corpus root
 *   <data-dir>/models/                    the default model root
 * plus hs_roots, the three roots every name in a spec resolves under, and the relative form
 * of a path under a root that answers show instead of absolute server paths.
 * Every builder writes into out (outlen bytes) and returns 0, or -1 with err when the path
 * does not fit or a directory cannot be created. */
#ifndef HS_DATA_DIR_H
#define HS_DATA_DIR_H
#include <cjson/cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Where names in a spec resolve: absolute, symlink-free directories. */
typedef struct hs_roots {
    const char *model_root, *corpus_root, *data_dir;
} hs_roots;

/* The roots as start-up settles them from the flags: each directory created when missing and
 * made absolute and symlink-free; the model root defaults to <data-dir>/models, the corpus
 * root to <data-dir>/corpora (NULL flag: the default). */
typedef struct hs_root_dirs {
    char data_dir[PATH_MAX], model_root[PATH_MAX], corpus_root[PATH_MAX];
} hs_root_dirs;
int hs_root_dirs_settle(const char *data_dir, const char *model_root, const char *corpus_root,
                        hs_root_dirs *out, char *err, size_t errlen);
/* The settled directories as hs_roots (pointing into dirs). */
hs_roots hs_root_dirs_view(const hs_root_dirs *dirs);

int hs_data_db_path(const char *data_dir, char *out, size_t outlen, char *err, size_t errlen);
int hs_data_default_model_root(const char *data_dir, char *out, size_t outlen, char *err,
                               size_t errlen);
int hs_data_default_corpus_root(const char *data_dir, char *out, size_t outlen, char *err,
                                size_t errlen);
/* The file the workers keep allocated so that a full disk still leaves room to record a
 * job's failure (queue/worker.c). */
int hs_data_space_reserve_path(const char *data_dir, char *out, size_t outlen, char *err,
                               size_t errlen);
int hs_data_uploads_dir(const char *data_dir, char *out, size_t outlen, char *err,
                        size_t errlen);
/* The log file of job id (the directory is created by hs_data_make_logs_dir). */
int hs_data_job_log_path(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                         char *err, size_t errlen);
int hs_data_make_logs_dir(const char *data_dir, char *err, size_t errlen);
/* runs/<id>/, created (with runs/) when missing. */
int hs_data_make_run_dir(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                         char *err, size_t errlen);
/* A fresh runs/inline-<ms>-<pid>/ for a job run outside the queue, created. */
int hs_data_make_inline_run_dir(const char *data_dir, char *out, size_t outlen, char *err,
                                size_t errlen);
/* Where the checkpoints of a run live: <run_dir>/checkpoints, and the same for a stored run
 * by id (runs/<id>/checkpoints). Neither is created here. */
int hs_run_checkpoints_dir(const char *run_dir, char *out, size_t outlen, char *err,
                           size_t errlen);
int hs_data_run_checkpoints_dir(const char *data_dir, int64_t job_id, char *out, size_t outlen,
                                char *err, size_t errlen);

/* The part of path below root ("" for root itself), or NULL when path is not under root
 * (compared component-wise; both as given, no symlinks followed). Points into path. */
const char *hs_path_below(const char *root, const char *path);

/* text with each absolute root of roots in it shown relative to that root, so answers never
 * carry server paths: "<root>/x" becomes "x" and a bare "<root>" becomes "."; a root counts
 * only as a whole path (not inside a longer one), the longest root first (so a model root
 * inside the data dir shows models relative to the model root). A new string, or NULL when out
 * of memory. */
char *hs_roots_relative_text(const hs_roots *roots, const char *text);
/* hs_roots_relative_text on every string value in item, in place. 0, or -1 when out of
 * memory. */
int hs_roots_relative_json(const hs_roots *roots, cJSON *item);

#endif
