/* Slurm's client commands through posix_spawnp, and their output parsed (slurm_cmd.h). */
#include "slurm_cmd.h"
#include "common/clock.h"
#include "common/errors.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_TIMEOUT_MS 30000

extern char **environ;

/* Reads both pipes until they close or the deadline passes; 0, or -1 on timeout. */
static int drain(int fds[2], char *bufs[2], size_t lens[2], int64_t deadline)
{
    size_t used[2] = {0, 0};
    bool open_fd[2] = {true, true};
    while (open_fd[0] || open_fd[1]) {
        int64_t left = deadline - hs_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p[2];
        int np = 0, map[2];
        for (int i = 0; i < 2; i++)
            if (open_fd[i]) {
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                map[np++] = i;
            }
        int r = poll(p, (nfds_t)np, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR)
            return -1;
        for (int k = 0; r > 0 && k < np; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int i = map[k];
            char scratch[4096];
            size_t room = lens[i] - 1 - used[i];
            char *dst = room > 0 ? bufs[i] + used[i] : scratch;
            ssize_t n = read(fds[i], dst, room > 0 ? room : sizeof scratch);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                open_fd[i] = false;
            } else if (room > 0) {
                used[i] += (size_t)n;
            }
        }
    }
    bufs[0][used[0]] = bufs[1][used[1]] = '\0';
    return 0;
}

int hs_slurm_run(const char *const *argv, int timeout_ms, char *out, size_t outlen, char *errout,
                 size_t errlen_out, int *exit_status, char *err, size_t errlen)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0)
        return hs_errf(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]), close(po[1]);
        return hs_errf(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
            (rc = posix_spawn_file_actions_adddup2(&fa, po[1], 1)) == 0 &&
            (rc = posix_spawn_file_actions_adddup2(&fa, pe[1], 2)) == 0)
            rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(po[1]), close(pe[1]);
    if (rc != 0) {
        close(po[0]), close(pe[0]);
        return hs_errf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
    }
    int fds[2] = {po[0], pe[0]};
    char *bufs[2] = {out, errout};
    size_t lens[2] = {outlen, errlen_out};
    bool timed_out = drain(fds, bufs, lens, hs_now_ms() + timeout_ms) != 0;
    close(po[0]), close(pe[0]);
    if (timed_out && kill(pid, SIGKILL) != 0 && errno != ESRCH)
        fprintf(stderr, "surgeond: killing a stuck %s: %s\n", argv[0], strerror(errno));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return hs_errf(err, errlen, "%s: waitpid: %s", argv[0], strerror(errno));
    if (timed_out)
        return hs_errf(err, errlen, "%s did not answer within %d s", argv[0], timeout_ms / 1000);
    *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

int hs_slurm_sbatch(const hs_slurm_resources *r, const char *name, const char *log_path,
                    const char *dir, const char *array, const char *script, char *job_id,
                    size_t idlen, bool *transient, char *err, size_t errlen)
{
    char opt[7][160], *array_opt = NULL;
    const char *argv[32] = {"sbatch", "--parsable", "--no-requeue", "--job-name", name,
                            "--output", log_path, "--chdir", dir};
    int n = 9, k = 0;
    if (array && asprintf(&array_opt, "--array=%s", array) < 0)
        return hs_errf(err, errlen, "out of memory building an sbatch command");
    if (array_opt)
        argv[n++] = array_opt;
    const char *flags[] = {"--partition=", "--account=", "--gres=", "--mem=", "--time="};
    const char *vals[] = {r->partition, r->account, r->gres, r->mem, r->time};
    for (int i = 0; i < 5; i++)
        if (vals[i] && *vals[i]) {
            snprintf(opt[k], sizeof opt[k], "%s%s", flags[i], vals[i]);
            argv[n++] = opt[k++];
        }
    if (r->cpus > 0) {
        snprintf(opt[k], sizeof opt[k], "--cpus-per-task=%d", r->cpus);
        argv[n++] = opt[k++];
    }
    argv[n++] = script;
    argv[n] = NULL;
    char out[256], eout[1024];
    int status;
    *transient = true;
    int ran = hs_slurm_run(argv, CMD_TIMEOUT_MS, out, sizeof out, eout, sizeof eout, &status,
                           err, errlen);
    free(array_opt);
    if (ran != 0)
        return -1;
    chomp(out);
    chomp(eout);
    if (status != 0) {
        /* The controller not answering is worth another try; anything else is a refusal
         * (invalid partition, account, gres, time limit, ...). */
        *transient = strstr(eout, "contact") || strstr(eout, "timed out") ||
                     strstr(eout, "Connection refused") || strstr(eout, "try again");
        return hs_errf(err, errlen, "sbatch: %s", eout[0] ? eout : "failed without a message");
    }
    char *semi = strchr(out, ';'); /* "id;cluster" on multi-cluster sites */
    if (semi)
        *semi = '\0';
    if (!out[0] || strspn(out, "0123456789") != strlen(out) || strlen(out) >= idlen)
        return hs_errf(err, errlen, "sbatch answered '%s', not a job id", out);
    snprintf(job_id, idlen, "%s", out);
    return 0;
}

int hs_slurm_scancel(const char *job_id, char *err, size_t errlen)
{
    const char *argv[] = {"scancel", job_id, NULL};
    char out[256], eout[512];
    int status;
    if (hs_slurm_run(argv, CMD_TIMEOUT_MS, out, sizeof out, eout, sizeof eout, &status, err,
                     errlen) != 0)
        return -1;
    chomp(eout);
    return status == 0 ? 0 : hs_errf(err, errlen, "scancel %s: %s", job_id, eout);
}

void hs_slurm_parse_jobs(char *text, const char *cols, hs_slurm_job *jobs, int max, int *n)
{
    *n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        hs_slurm_job j;
        memset(&j, 0, sizeof j);
        char *p = line;
        for (const char *c = cols; *c; c++) {
            char *bar = strchr(p, '|');
            if (bar)
                *bar = '\0';
            char *dst = *c == 'i' ? j.id : *c == 'A' ? j.raw_id : *c == 'n' ? j.name
                      : *c == 's' ? j.state : *c == 'r' ? j.reason : j.node;
            size_t cap = *c == 'i' ? sizeof j.id : *c == 'A' ? sizeof j.raw_id
                       : *c == 'n' ? sizeof j.name : *c == 's' ? sizeof j.state
                       : *c == 'r' ? sizeof j.reason : sizeof j.node;
            snprintf(dst, cap, "%s", p);
            if (!bar)
                break;
            p = bar + 1;
        }
        j.state[strcspn(j.state, " +")] = '\0';
        if (!j.id[0] || strchr(j.id, '.'))
            continue; /* steps (123.batch) are not jobs */
        if (strcmp(j.node, "(null)") == 0 || strcmp(j.node, "None assigned") == 0)
            j.node[0] = '\0';
        if (strcmp(j.reason, "None") == 0)
            j.reason[0] = '\0';
        int at = *n;
        for (int k = 0; k < *n; k++)
            if (strcmp(jobs[k].id, j.id) == 0)
                at = k;
        if (at == *n && *n == max)
            break;
        jobs[at] = j;
        if (at == *n)
            (*n)++;
    }
}

int hs_slurm_array_task(const char *id)
{
    const char *us = strchr(id, '_');
    if (!us || !us[1] || strspn(us + 1, "0123456789") != strlen(us + 1) || strlen(us + 1) > 9)
        return -1;
    return atoi(us + 1);
}

int hs_slurm_squeue(const char *names, hs_slurm_job *jobs, int max, int *n, char *err,
                    size_t errlen)
{
    char name_opt[8192];
    snprintf(name_opt, sizeof name_opt, "--name=%s", names);
    const char *argv[] = {"squeue", "-h", "-r", "--states=all", "-o", "%i|%A|%j|%T|%r|%N",
                          name_opt, NULL};
    static char out[1 << 16];
    char eout[1024];
    int status;
    if (hs_slurm_run(argv, CMD_TIMEOUT_MS, out, sizeof out, eout, sizeof eout, &status, err,
                     errlen) != 0)
        return -1;
    chomp(eout);
    if (status != 0)
        return hs_errf(err, errlen, "squeue: %s", eout[0] ? eout : "failed");
    hs_slurm_parse_jobs(out, "iAnsrN", jobs, max, n);
    return 0;
}

int hs_slurm_sacct(const char *ids, hs_slurm_job *jobs, int max, int *n, char *err,
                   size_t errlen)
{
    char id_opt[8192];
    snprintf(id_opt, sizeof id_opt, "--jobs=%s", ids);
    const char *full[] = {"sacct", "-n", "-P", "-X", id_opt, "-o",
                          "jobid,jobidraw,jobname,state,nodelist", NULL};
    const char *comp[] = {"sacct", "-c", "-n", "-P", id_opt, "-o",
                          "jobid,jobidraw,jobname,state,nodelist", NULL};
    static char out[1 << 16];
    char eout[1024];
    int status;
    if (hs_slurm_run(full, CMD_TIMEOUT_MS, out, sizeof out, eout, sizeof eout, &status, err,
                     errlen) != 0)
        return -1;
    if (status != 0 && hs_slurm_run(comp, CMD_TIMEOUT_MS, out, sizeof out, eout, sizeof eout,
                                    &status, err, errlen) != 0)
        return -1;
    chomp(eout);
    if (status != 0)
        return hs_errf(err, errlen, "sacct: %s", eout[0] ? eout : "failed");
    hs_slurm_parse_jobs(out, "iAnsN", jobs, max, n);
    return 0;
}

bool hs_slurm_state_final(const char *s)
{
    static const char *const live[] = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                                       "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                                       "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                                       "RESV_DEL_HOLD", "SPECIAL_EXIT", NULL};
    for (int i = 0; live[i]; i++)
        if (strcmp(s, live[i]) == 0)
            return false;
    return s[0] != '\0';
}
