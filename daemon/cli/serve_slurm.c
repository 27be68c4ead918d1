/* The executor flags of `surgeond serve` (serve_slurm.h). */
#include "serve_slurm.h"
#include "common/errors.h"
#include "kinds/spec.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hs_serve_executor_init(hs_serve_executor *x)
{
    memset(x, 0, sizeof *x);
    x->cfg.max_jobs = 16;
    x->cfg.device = "auto";
    x->cfg.poll_ms = 1000;
}

void hs_serve_executor_usage(FILE *out)
{
    fprintf(out,
            "  --executor local|slurm  run jobs on this machine's workers (default) or submit each\n"
            "                       as a Slurm job that reports back over HTTP\n"
            "  --max-cluster-jobs N Slurm jobs submitted at once (default 16; a sweep's ready\n"
            "                       jobs go as one job array, each task counting one)\n"
            "  --slurm-partition P, --slurm-account A, --slurm-gres G, --slurm-cpus N,\n"
            "  --slurm-mem M, --slurm-time T   sbatch defaults (a spec's \"slurm\" overrides\n"
            "                       partition, gres, cpus, mem, time); none by default\n"
            "  --slurm-device DEV   the runner's --device on the node (default auto: cuda:0 when\n"
            "                       the gres names a gpu, else cpu)\n"
            "  --report-url URL     how nodes reach this daemon (default http://LISTEN)\n"
            "  --slurm-surgeond PATH  the binary nodes run (default this binary's path)\n");
}

/* The spec validator's rules apply to the daemon-wide defaults too. */
static int check_resource(const char *key, const char *value, hs_slurm_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    if (strcmp(key, "cpus") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        cJSON_AddNumberToObject(o, key, *end || end == value ? -1 : (double)v);
        cfg->defaults.cpus = (int)v;
    } else {
        cJSON_AddStringToObject(o, key, value);
    }
    hs_spec_error e = {{0}, {0}};
    int rc = hs_spec_check_slurm(o, &e);
    cJSON_Delete(o);
    if (rc != 0)
        fprintf(stderr, "surgeond serve: --slurm-%s: %s\n", key, e.detail);
    return rc;
}

int hs_serve_executor_flag(hs_serve_executor *x, const char *flag, const char *value)
{
    hs_slurm_resources *r = &x->cfg.defaults;
    if (strcmp(flag, "--executor") == 0) {
        if (strcmp(value, "local") != 0 && strcmp(value, "slurm") != 0) {
            fprintf(stderr, "surgeond serve: --executor must be local or slurm\n");
            return -1;
        }
        x->slurm = strcmp(value, "slurm") == 0;
        return 1;
    }
    if (strcmp(flag, "--max-cluster-jobs") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (*end || end == value || v < 1 || v > 1000) {
            fprintf(stderr, "surgeond serve: --max-cluster-jobs must be in [1, 1000]\n");
            return -1;
        }
        x->cfg.max_jobs = (int)v;
        return 1;
    }
    const char *const keys[] = {"partition", "gres", "mem", "time", "cpus"};
    const char **slots[] = {&r->partition, &r->gres, &r->mem, &r->time, NULL};
    for (int i = 0; i < 5; i++)
        if (strncmp(flag, "--slurm-", 8) == 0 && strcmp(flag + 8, keys[i]) == 0) {
            if (check_resource(keys[i], value, &x->cfg) != 0)
                return -1;
            if (slots[i])
                *slots[i] = value;
            return 1;
        }
    if (strcmp(flag, "--slurm-account") == 0)
        r->account = value;
    else if (strcmp(flag, "--slurm-device") == 0)
        x->cfg.device = value;
    else if (strcmp(flag, "--report-url") == 0)
        x->report_url = value;
    else if (strcmp(flag, "--slurm-surgeond") == 0)
        snprintf(x->cfg.surgeond, sizeof x->cfg.surgeond, "%s", value);
    else
        return 0;
    return 1;
}

/* Whether s can be put between single quotes in the batch script as it is. */
static bool quotable(const char *s) { return !strchr(s, '\'') && !strchr(s, '\n'); }

int hs_serve_executor_finish(hs_serve_executor *x, const char *listen)
{
    if (x->report_url)
        snprintf(x->cfg.report_url, sizeof x->cfg.report_url, "%s", x->report_url);
    else
        snprintf(x->cfg.report_url, sizeof x->cfg.report_url, "http://%s", listen);
    size_t n = strlen(x->cfg.report_url);
    while (n > 0 && x->cfg.report_url[n - 1] == '/')
        x->cfg.report_url[--n] = '\0';
    if (strncmp(x->cfg.report_url, "http://", 7) != 0 || !quotable(x->cfg.report_url)) {
        fprintf(stderr, "surgeond serve: --report-url must be http://HOST:PORT\n");
        return -1;
    }
    if (!x->cfg.surgeond[0]) {
        ssize_t len = readlink("/proc/self/exe", x->cfg.surgeond, sizeof x->cfg.surgeond - 1);
        if (len <= 0) {
            fprintf(stderr, "surgeond serve: cannot find this binary's path (%s); pass "
                    "--slurm-surgeond\n", strerror(errno));
            return -1;
        }
        x->cfg.surgeond[len] = '\0';
    }
    if (!quotable(x->cfg.surgeond) || !quotable(x->cfg.device)) {
        fprintf(stderr, "surgeond serve: --slurm-surgeond and --slurm-device must not contain "
                "quotes\n");
        return -1;
    }
    return 0;
}
