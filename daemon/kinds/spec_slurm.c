/* Validation of a spec's "slurm" object: the Slurm resources one job asks for, overriding the
 * daemon's --slurm-* defaults (spec.h). Values go to sbatch as single arguments, never through a
 * shell; they are still held to Slurm's own syntax so that a typo is a 400, not a job that fails
 * later. */
#include "spec.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A name of letters, digits and the extra characters (partition: _-., gres: also : and ,). */
static bool word_chars(const char *s, const char *extra)
{
    if (!*s || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

/* mem: digits with an optional K, M, G or T suffix. */
static bool valid_mem(const char *s)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 9)
        return false;
    return s[digits] == '\0' || (strchr("KMGTkmgt", s[digits]) && s[digits + 1] == '\0');
}

/* time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (digits, ':' and one '-'). */
static bool valid_time(const char *s)
{
    if (!*s || strlen(s) > 16 || !isdigit((unsigned char)s[0]))
        return false;
    int dashes = 0, colons = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            dashes++;
        else if (*p == ':')
            colons++;
        else if (!isdigit((unsigned char)*p))
            return false;
        if ((*p == '-' || *p == ':') && !isdigit((unsigned char)p[1]))
            return false;
    }
    return dashes <= 1 && colons <= 2;
}

int hs_spec_check_slurm(const cJSON *v, hs_spec_error *err)
{
    if (!cJSON_IsObject(v))
        return hs_spec_errorf(err, "slurm", "slurm must be an object {partition, gres, cpus, "
                              "mem, time}");
    const cJSON *item;
    cJSON_ArrayForEach(item, v)
    {
        const char *k = item->string ? item->string : "";
        char field[64];
        snprintf(field, sizeof field, "slurm.%.40s", k);
        if (strcmp(k, "cpus") == 0) {
            double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
            if (!(d >= 1 && d <= 4096 && d == floor(d)))
                return hs_spec_errorf(err, field, "slurm.cpus must be an integer in [1, 4096]");
            continue;
        }
        const char *s = cJSON_GetStringValue(item);
        bool known = strcmp(k, "partition") == 0 || strcmp(k, "gres") == 0 ||
                     strcmp(k, "mem") == 0 || strcmp(k, "time") == 0;
        if (!known)
            return hs_spec_errorf(err, field, "unknown field \"%.40s\" in slurm (partition, "
                                  "gres, cpus, mem, time)", k);
        if (!s)
            return hs_spec_errorf(err, field, "%s must be a string", field);
        bool ok = strcmp(k, "partition") == 0 ? word_chars(s, "_-.")
                  : strcmp(k, "gres") == 0    ? word_chars(s, "_-.:,")
                  : strcmp(k, "mem") == 0     ? valid_mem(s)
                                              : valid_time(s);
        if (!ok)
            return hs_spec_errorf(err, field, "%s \"%.60s\" is not valid (%s)", field, s,
                                  strcmp(k, "mem") == 0    ? "e.g. 16G"
                                  : strcmp(k, "time") == 0 ? "e.g. 90, 12:00:00 or 1-12:00:00"
                                                           : "letters, digits and _-.:,");
    }
    return 0;
}
