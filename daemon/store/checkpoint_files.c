/* The directory of a stored checkpoint (checkpoint_files.h). */
#include "checkpoint_files.h"
#include "common/errors.h"
#include <stdio.h>
#include <sys/stat.h>

int hs_checkpoint_files_dir(hs_db *db, const hs_roots *roots, int64_t run_id, const char *name,
                            char *out, size_t outlen, char *why, size_t whylen, char *err,
                            size_t errlen)
{
    static const char sql[] =
        "SELECT 1 FROM checkpoints c JOIN jobs j ON j.id = c.run_id"
        " WHERE c.run_id=?1 AND c.name=?2 AND j.run_deleted_at IS NULL";
    if (!hs_checkpoint_name_valid(name) || !roots->instance) {
        snprintf(why, whylen, "no checkpoint \"%.140s\" of run %lld", name, (long long)run_id);
        return 0;
    }
    sqlite3_stmt *st = hs_db_stmt(db, sql, err, errlen);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int found = hs_db_step_int64(db, st, NULL, "reading the checkpoint", err, errlen);
    if (found <= 0) {
        snprintf(why, whylen, "no checkpoint \"%s\" of run %lld", name, (long long)run_id);
        return found;
    }
    char dir[PATH_MAX];
    if (hs_data_run_checkpoints_dir(roots->data_dir, roots->instance, run_id, dir, sizeof dir,
                                    err, errlen) != 0)
        return -1;
    if (snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen)
        return hs_errf(err, errlen, "checkpoint path too long");
    struct stat sb;
    if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(why, whylen, "the files of checkpoint \"%s\" of run %lld are missing", name,
                 (long long)run_id);
        return 0;
    }
    return 1;
}
