/* Parsing of cron expressions and computation of their next firing time (cron.h). */
#include "cron.h"
#include "common/errors.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How far ahead hs_cron_next looks: a whole cycle of weekday/leap-year calendars. */
#define HORIZON_YEARS 28
/* 2024-01-01T00:00:00Z: the start of the window parse checks for "never matches". */
#define NEVER_CHECK_FROM_MS INT64_C(1704067200000)

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is value names_base + i */
    int n_names, names_base;
} field_def;

static const field_def fields[5] = {
    {"minute", 0, 59, NULL, 0, 0},
    {"hour", 0, 23, NULL, 0, 0},
    {"day-of-month", 1, 31, NULL, 0, 0},
    {"month", 1, 12, month_names, 12, 1},
    {"day-of-week", 0, 7, weekday_names, 7, 0},
};

static int parse_value(const field_def *f, const char **p, int *out, char *err, size_t errlen)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        char *end;
        long v = strtol(s, &end, 10);
        if (v < f->lo || v > f->hi)
            return hs_errf(err, errlen, "cron %s: %ld is outside %d-%d", f->name, v, f->lo,
                           f->hi);
        *out = (int)v;
        *p = end;
        return 0;
    }
    for (int i = 0; i < f->n_names; i++)
        if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *out = f->names_base + i;
            *p = s + 3;
            return 0;
        }
    return hs_errf(err, errlen, "cron %s: unexpected \"%.20s\"", f->name, s);
}

/* One field ("*", "1,5-10/2", "*\/15", "mon-fri") into a bit set. */
static int parse_field(const field_def *f, const char *text, uint64_t *bits, bool *star,
                       char *err, size_t errlen)
{
    *bits = 0;
    *star = text[0] == '*';
    const char *p = text;
    for (;;) {
        int lo, hi, step = 1;
        if (*p == '*') {
            lo = f->lo;
            hi = f->hi;
            p++;
        } else {
            if (parse_value(f, &p, &lo, err, errlen) != 0)
                return -1;
            hi = lo;
            if (*p == '-') {
                p++;
                if (parse_value(f, &p, &hi, err, errlen) != 0)
                    return -1;
                if (hi < lo)
                    return hs_errf(err, errlen, "cron %s: range %d-%d is reversed", f->name, lo,
                                   hi);
            }
        }
        if (*p == '/') {
            p++;
            char *end;
            long s = strtol(p, &end, 10);
            if (end == p || s < 1 || s > f->hi)
                return hs_errf(err, errlen, "cron %s: bad step \"%.10s\"", f->name, p);
            step = (int)s;
            p = end;
            if (hi == lo && text[0] != '*')
                hi = f->hi; /* "5/15" means 5-max/15 */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << v;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != '\0')
            return hs_errf(err, errlen, "cron %s: unexpected \"%.20s\"", f->name, p);
        return 0;
    }
}

#if defined(HS_TEST_BUILD) || defined(HS_FUZZ_BUILD)
static int parse_every(const char *arg, hs_cron *out, char *err, size_t errlen)
{
    char *end;
    long n = strtol(arg, &end, 10);
    int64_t unit = 0;
    if (end != arg && n > 0) {
        if (strcmp(end, "s") == 0)
            unit = 1000;
        else if (strcmp(end, "m") == 0)
            unit = 60000;
        else if (strcmp(end, "h") == 0)
            unit = 3600000;
    }
    if (!unit || n > 24L * 3600)
        return hs_errf(err, errlen, "cron \"@every %s\": expected <n>s, <n>m or <n>h", arg);
    out->every_ms = n * unit;
    return 0;
}
#endif

int hs_cron_parse(const char *expr, hs_cron *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        return hs_errf(err, errlen, "cron: empty expression");
    while (isspace((unsigned char)*expr))
        expr++;
    static const struct {
        const char *name, *expansion;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    if (expr[0] == '@') {
        if (strncmp(expr, "@every", 6) == 0 && (expr[6] == ' ' || expr[6] == '\0')) {
#if defined(HS_TEST_BUILD) || defined(HS_FUZZ_BUILD)
            return parse_every(expr[6] ? expr + 7 : expr + 6, out, err, errlen);
#else
            return hs_errf(err, errlen, "cron: \"@every\" is only available in test builds");
#endif
        }
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strcmp(expr, macros[i].name) == 0)
                return hs_cron_parse(macros[i].expansion, out, err, errlen);
        return hs_errf(err, errlen, "cron: unknown macro \"%.20s\"", expr);
    }
    char copy[256];
    if (strlen(expr) >= sizeof copy)
        return hs_errf(err, errlen, "cron: expression too long");
    strcpy(copy, expr);
    char *save = NULL, *tok[6];
    int n = 0;
    for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 5)
            return hs_errf(err, errlen, "cron: expected 5 fields, got more");
        tok[n++] = t;
    }
    if (n != 5)
        return hs_errf(err, errlen, "cron: expected 5 fields (minute hour day month weekday), got %d",
                       n);
    uint64_t bits[5];
    bool star[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], tok[i], &bits[i], &star[i], err, errlen) != 0)
            return -1;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->days_star = star[2];
    out->weekdays_star = star[4];
    /* Every pattern that can match repeats within 8 years (a leap day; 2100 is no leap year),
     * so 28 years of calendars from a fixed start decide "never" (e.g. "0 0 30 2 *"). */
    if (hs_cron_next(out, NEVER_CHECK_FROM_MS, 0) < 0)
        return hs_errf(err, errlen, "cron: \"%.60s\" never matches (no such date in %d years of "
                       "calendars, leap years included)", expr, HORIZON_YEARS);
    return 0;
}

static bool day_matches(const hs_cron *c, const struct tm *tm)
{
    bool dom = (c->days >> tm->tm_mday) & 1;
    bool dow = (c->weekdays >> tm->tm_wday) & 1;
    if (!c->days_star && !c->weekdays_star)
        return dom || dow;
    return dom && dow;
}

int64_t hs_cron_next(const hs_cron *c, int64_t after_ms, int offset_minutes)
{
    if (c->every_ms > 0) {
        int64_t k = after_ms >= 0 ? after_ms / c->every_ms : -((-after_ms + c->every_ms - 1) / c->every_ms);
        return (k + 1) * c->every_ms;
    }
    int64_t offset_s = (int64_t)offset_minutes * 60;
    int64_t after_s = (after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000) + offset_s;
    /* the next whole minute strictly after `after` */
    int64_t t = (after_s >= 0 ? after_s / 60 : (after_s - 59) / 60) * 60 + 60;
    int64_t limit = t + (int64_t)HORIZON_YEARS * 366 * 86400;
    while (t <= limit) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon += 1;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            t = (int64_t)timegm(&tm);
            continue;
        }
        if (!day_matches(c, &tm)) {
            tm.tm_mday += 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            t = (int64_t)timegm(&tm);
            continue;
        }
        if (!((c->hours >> tm.tm_hour) & 1)) {
            tm.tm_hour += 1;
            tm.tm_min = tm.tm_sec = 0;
            t = (int64_t)timegm(&tm);
            continue;
        }
        if (!((c->minutes >> tm.tm_min) & 1)) {
            t += 60;
            continue;
        }
        return (t - offset_s) * 1000;
    }
    return -1;
}
