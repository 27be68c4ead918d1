/* Job log files: append while running, read by offset (job_log.h). */
#include "job_log.h"
#include "common/clock.h"
#include "common/errors.h"
#include "data_dir.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hs_job_log {
    FILE *file;
};

hs_job_log *hs_job_log_open(const char *data_dir, int64_t job_id, char *err, size_t errlen)
{
    char path[4096];
    if (hs_data_make_logs_dir(data_dir, err, errlen) != 0 ||
        hs_data_job_log_path(data_dir, job_id, path, sizeof path, err, errlen) != 0)
        return NULL;
    hs_job_log *log = calloc(1, sizeof *log);
    if (!log) {
        hs_errf(err, errlen, "out of memory opening the log of job %lld", (long long)job_id);
        return NULL;
    }
    log->file = fopen(path, "a");
    if (!log->file) {
        hs_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        free(log);
        return NULL;
    }
    return log;
}

void hs_job_log_append(hs_job_log *log, const char *line)
{
    if (!log)
        return;
    char stamp[HS_TIME_LEN];
    hs_format_time(hs_now_ms(), stamp);
    /* one line per call: embedded newlines would break the log's line structure */
    fprintf(log->file, "%s ", stamp);
    for (const char *p = line; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, log->file);
    fputc('\n', log->file);
    fflush(log->file);
}

void hs_job_log_close(hs_job_log *log)
{
    if (!log)
        return;
    fclose(log->file);
    free(log);
}

int hs_job_log_read(const char *data_dir, int64_t job_id, int64_t offset, void *buf,
                    size_t max, size_t *n, int64_t *size, char *err, size_t errlen)
{
    *n = 0;
    *size = 0;
    char path[4096];
    if (hs_data_job_log_path(data_dir, job_id, path, sizeof path, err, errlen) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : hs_errf(err, errlen, "cannot read the job log");
    struct stat sb;
    if (fstat(fd, &sb) == 0)
        *size = sb.st_size;
    if (offset < *size) {
        ssize_t got = pread(fd, buf, max, (off_t)offset);
        if (got > 0)
            *n = (size_t)got;
    }
    close(fd);
    return 0;
}
