/* Running Slurm's client commands (sbatch, squeue, sacct, scancel) with posix_spawnp and
 * waitpid: output captured, a deadline per command, never a shell. Parses what the slurm
 * executor needs from their output. Called only from the executor's thread. */
#ifndef HS_SLURM_CMD_H
#define HS_SLURM_CMD_H
#include <stdbool.h>
#include <stddef.h>

/* Resources of one submission; NULL or "" (0 for cpus) leaves the flag off. */
typedef struct hs_slurm_resources {
    const char *partition, *account, *gres, *mem, *time;
    int cpus;
} hs_slurm_resources;

/* Runs argv[0] from PATH with argv; stdout and stderr (each truncated to its buffer) captured.
 * 0 with *exit_status set (the command's exit code, or 128+signal), -1 with err when it could
 * not run or passed timeout_ms (then it is killed). */
int hs_slurm_run(const char *const *argv, int timeout_ms, char *out, size_t outlen, char *errout,
                 size_t errlen_out, int *exit_status, char *err, size_t errlen);

/* sbatch --parsable --no-requeue --job-name name --output log --chdir dir [--array=array]
 * [resources] script; array NULL submits an ordinary job, else e.g. "0-3" (each task then
 * shows as "<id>_<task>"). 0 with the Slurm job id (of the array for an array); -1 with err
 * (Slurm's message). *transient tells whether it is worth trying again (the controller did not
 * answer) or the submission was refused. */
int hs_slurm_sbatch(const hs_slurm_resources *r, const char *name, const char *log_path,
                    const char *dir, const char *array, const char *script, char *job_id,
                    size_t idlen, bool *transient, char *err, size_t errlen);
int hs_slurm_scancel(const char *job_id, char *err, size_t errlen);

/* One job as squeue or sacct shows it: id is "<array id>_<task>" for an array task (one line
 * per task), raw_id the numeric id Slurm gave it (for a task: its own once it started, the
 * array's while it waits). */
typedef struct hs_slurm_job {
    char id[32], raw_id[32], name[64], state[32], reason[128], node[128];
} hs_slurm_job;
/* Parses "a|b|c" lines, one job each, fields in the order of cols (i id, A raw id, n name,
 * s state, r reason, N node): steps (123.batch) skipped, the state's first word kept
 * ("CANCELLED by 0"), "None" and "(null)" read as empty, and of several lines with one id
 * (sacct lists a requeued job once per end) the last kept. text is modified. */
void hs_slurm_parse_jobs(char *text, const char *cols, hs_slurm_job *jobs, int max, int *n);
/* The task index of an array task's id ("7_2" → 2), or -1 for an ordinary job id. */
int hs_slurm_array_task(const char *id);
/* squeue -h -r --states=all for the jobs named in names (comma-separated): up to max jobs into
 * jobs, *n set. 0 or -1 with err. */
int hs_slurm_squeue(const char *names, hs_slurm_job *jobs, int max, int *n, char *err,
                    size_t errlen);
/* sacct for the job ids (comma-separated), falling back to `sacct -c` (the jobcomp file) where
 * accounting storage is disabled: the last record of each. `sacct -c` shows an array task only
 * under its raw id; ask for that where it is known. 0 or -1 with err. */
int hs_slurm_sacct(const char *ids, hs_slurm_job *jobs, int max, int *n, char *err,
                   size_t errlen);

/* Whether a Slurm state name ends a job (COMPLETED, FAILED, CANCELLED, TIMEOUT, ...). */
bool hs_slurm_state_final(const char *state);

#endif
