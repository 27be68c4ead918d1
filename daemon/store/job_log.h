/* Job logs, one file per queued job (<data-dir>/logs/<id>.log, data_dir.h): appended a line
 * at a time while the job runs ("<time> <text>\n", the text on one line), read back by byte
 * offset for the API. A log is never rewritten, so an offset stays valid. */
#ifndef HS_JOB_LOG_H
#define HS_JOB_LOG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hs_job_log hs_job_log;

/* Opens the log of job_id for appending (creating logs/ and the file). NULL with err. */
hs_job_log *hs_job_log_open(const char *data_dir, int64_t job_id, char *err, size_t errlen);
/* Appends "<time> <line>\n" (newlines inside line become spaces) and flushes it. */
void hs_job_log_append(hs_job_log *log, const char *line);
void hs_job_log_close(hs_job_log *log);

/* Reads up to max bytes of job_id's log from offset into buf: *n bytes read, *size the log's
 * length (0 and *n 0 when the job has no log yet). 0, or -1 with err when the log exists
 * but cannot be read. */
int hs_job_log_read(const char *data_dir, int64_t job_id, int64_t offset, void *buf,
                    size_t max, size_t *n, int64_t *size, char *err, size_t errlen);

#endif
