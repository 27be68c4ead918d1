/* GET /api/v1/compare?a=SIDE&b=SIDE: two head tables side by side. A side is <run> (a
 * diagnose run, or an evaluate run that diagnosed) or <run>/<checkpoint> of a surgery
 * ("start" is its diagnosis before training). The answer: both identities, per head the
 * values of a and b with their difference, the class transition matrix, woken and newly sick
 * heads, drifters (healthy on both sides, |Δ bos_mass| > drift) in and out of the surgery's
 * target zone, per head index the layers whose class changed, and both perplexities.
 * format=csv gives the per-head table. README "Words" defines the terms. */
#include "api.h"
#include "common/errors.h"
#include "store/data_dir.h"
#include "store/run_sides.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const classes[] = {"healthy", "bos-sink", "dead", "low-entropy"};
#define N_CLASSES 4

static const char *const csv_columns[] = {
    "layer",        "head",       "bos_mass_a",       "bos_mass_b",   "bos_mass_delta",
    "entropy_a",    "entropy_b",  "entropy_delta",    "local_mass_a", "local_mass_b",
    "local_mass_delta", "class_a", "class_b"};
#define N_CSV_COLUMNS (int)(sizeof csv_columns / sizeof csv_columns[0])

static bool healthy(const hs_side_head *h) { return strcmp(h->cls, "healthy") == 0; }

/* Parses "<run>" or "<run>/<checkpoint>"; -1 after answering 400 naming the side. */
static int parse_side(hs_req *req, hs_resp *resp, const char *name, int64_t *run,
                      char *checkpoint, size_t cap)
{
    const char *text = hs_req_query(req, name);
    if (!text)
        return hs_resp_error(resp, 400, "invalid query parameter", name,
                             "%s is required: <run> or <run>/<checkpoint>", name), -1;
    char *end = NULL;
    long long id = strtoll(text, &end, 10);
    bool ok = end != text && id > 0 && (*end == '\0' || *end == '/');
    const char *cp = ok && *end == '/' ? end + 1 : "";
    if (ok && *end == '/' && (!*cp || strlen(cp) >= cap || strchr(cp, '/')))
        ok = false;
    if (!ok)
        return hs_resp_error(resp, 400, "invalid query parameter", name,
                             "%s must be <run> or <run>/<checkpoint> (got \"%.60s\")", name,
                             text), -1;
    *run = id;
    snprintf(checkpoint, cap, "%s", cp);
    return 0;
}

/* Loads a side; -1 after answering 404/400/500 naming it. */
static int load_side(hs_req *req, hs_resp *resp, hs_db *db, const char *name, hs_run_side *s)
{
    int64_t run;
    char cp[128];
    if (parse_side(req, resp, name, &run, cp, sizeof cp) != 0)
        return -1;
    hs_side_status status;
    char err[HS_ERR_LEN];
    if (hs_run_side_load(db, run, cp, s, &status, err, sizeof err) != 0)
        return hs_resp_internal(resp, err), -1;
    const char *label = hs_req_query(req, name);
    switch (status) {
    case HS_SIDE_OK:
        return 0;
    case HS_SIDE_NO_RUN:
        hs_resp_error(resp, 404, "not found", name, "side %s (%s): no run %lld", name, label,
                      (long long)run);
        break;
    case HS_SIDE_NO_CHECKPOINT:
        hs_resp_error(resp, 404, "not found", name, "side %s (%s): run %lld has no checkpoint "
                      "\"%s\"", name, label, (long long)run, cp);
        break;
    case HS_SIDE_NO_HEADS:
        hs_resp_error(resp, 400, "no head statistics", name,
                      "side %s (%s) has no head statistics%s", name, label,
                      cp[0] ? "" : " of its own (a surgery's are per checkpoint: "
                                   "<run>/start, <run>/<checkpoint>)");
        break;
    }
    return -1;
}

static cJSON *side_identity(const hs_run_side *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "run", (double)s->run_id);
    if (s->checkpoint[0])
        cJSON_AddStringToObject(o, "checkpoint", s->checkpoint);
    else
        cJSON_AddNullToObject(o, "checkpoint");
    cJSON_AddStringToObject(o, "kind", s->kind);
    cJSON_AddStringToObject(o, "model", s->model);
    cJSON_AddNumberToObject(o, "layers", s->n_layer);
    cJSON_AddNumberToObject(o, "heads", s->n_head);
    if (isfinite(s->ppl))
        cJSON_AddNumberToObject(o, "ppl", s->ppl);
    else
        cJSON_AddNullToObject(o, "ppl");
    return o;
}

/* Whether (l, h) is among a surgery side's targets. */
static bool targeted(const hs_run_side *s, int l, int h)
{
    char key[16];
    snprintf(key, sizeof key, "%d", l);
    const cJSON *heads = s->targets ? cJSON_GetObjectItemCaseSensitive(s->targets, key) : NULL;
    const cJSON *x;
    cJSON_ArrayForEach(x, heads)
    {
        if (cJSON_IsNumber(x) && (int)x->valuedouble == h)
            return true;
    }
    return false;
}

/* The flat per-head row (the CSV's columns). */
static cJSON *head_row(const hs_side_head *a, const hs_side_head *b, int l, int h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "layer", l);
    cJSON_AddNumberToObject(o, "head", h);
    const double va[3] = {a->bos_mass, a->entropy, a->local_mass};
    const double vb[3] = {b->bos_mass, b->entropy, b->local_mass};
    static const char *const names[3][3] = {{"bos_mass_a", "bos_mass_b", "bos_mass_delta"},
                                            {"entropy_a", "entropy_b", "entropy_delta"},
                                            {"local_mass_a", "local_mass_b", "local_mass_delta"}};
    for (int m = 0; m < 3; m++) {
        cJSON_AddNumberToObject(o, names[m][0], va[m]);
        cJSON_AddNumberToObject(o, names[m][1], vb[m]);
        cJSON_AddNumberToObject(o, names[m][2], vb[m] - va[m]);
    }
    cJSON_AddStringToObject(o, "class_a", a->cls);
    cJSON_AddStringToObject(o, "class_b", b->cls);
    return o;
}

/* The per-head rows as an array; NULL when out of memory. */
static cJSON *head_rows(const hs_run_side *a, const hs_run_side *b)
{
    cJSON *rows = cJSON_CreateArray();
    for (int l = 0; rows && l < a->n_layer; l++)
        for (int h = 0; h < a->n_head; h++) {
            size_t i = (size_t)l * (size_t)a->n_head + (size_t)h;
            cJSON *r = head_row(&a->heads[i], &b->heads[i], l, h);
            if (!r || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                cJSON_Delete(rows);
                return NULL;
            }
        }
    return rows;
}

static cJSON *head_ref(int l, int h)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "layer", l);
        cJSON_AddNumberToObject(o, "head", h);
    }
    return o;
}

/* transitions[a-class][b-class] counts, every class present (unknown classes are skipped). */
static cJSON *transition_matrix(const hs_run_side *a, const hs_run_side *b)
{
    int n[N_CLASSES][N_CLASSES] = {{0}};
    size_t total = (size_t)a->n_layer * (size_t)a->n_head;
    for (size_t i = 0; i < total; i++) {
        int ca = -1, cb = -1;
        for (int c = 0; c < N_CLASSES; c++) {
            if (strcmp(a->heads[i].cls, classes[c]) == 0)
                ca = c;
            if (strcmp(b->heads[i].cls, classes[c]) == 0)
                cb = c;
        }
        if (ca >= 0 && cb >= 0)
            n[ca][cb]++;
    }
    cJSON *m = cJSON_CreateObject();
    for (int x = 0; m && x < N_CLASSES; x++) {
        cJSON *row = cJSON_AddObjectToObject(m, classes[x]);
        for (int y = 0; row && y < N_CLASSES; y++)
            cJSON_AddNumberToObject(row, classes[y], n[x][y]);
    }
    return m;
}

/* woken, newly_sick, drifters {threshold, in_zone, out_of_zone}, class_changes_per_head. */
static int add_movements(cJSON *o, const hs_run_side *a, const hs_run_side *b, double drift)
{
    cJSON *woken = cJSON_AddArrayToObject(o, "woken");
    cJSON *sick = cJSON_AddArrayToObject(o, "newly_sick");
    cJSON *drifters = cJSON_AddObjectToObject(o, "drifters");
    cJSON *in_zone = drifters ? cJSON_AddArrayToObject(drifters, "in_zone") : NULL;
    cJSON *out_zone = drifters ? cJSON_AddArrayToObject(drifters, "out_of_zone") : NULL;
    int *changed = calloc((size_t)a->n_head, sizeof *changed);
    if (!woken || !sick || !in_zone || !out_zone || !changed) {
        free(changed);
        return -1;
    }
    cJSON_AddNumberToObject(drifters, "threshold", drift);
    for (int l = 0; l < a->n_layer; l++)
        for (int h = 0; h < a->n_head; h++) {
            size_t i = (size_t)l * (size_t)a->n_head + (size_t)h;
            const hs_side_head *x = &a->heads[i], *y = &b->heads[i];
            if (strcmp(x->cls, y->cls) != 0)
                changed[h]++;
            if (!healthy(x) && healthy(y))
                cJSON_AddItemToArray(woken, head_ref(l, h));
            else if (healthy(x) && !healthy(y))
                cJSON_AddItemToArray(sick, head_ref(l, h));
            double d = y->bos_mass - x->bos_mass;
            if (healthy(x) && healthy(y) && fabs(d) > drift) {
                cJSON *r = head_ref(l, h);
                if (r)
                    cJSON_AddNumberToObject(r, "bos_mass_delta", d);
                bool zone = targeted(a, l, h) || targeted(b, l, h);
                cJSON_AddItemToArray(zone ? in_zone : out_zone, r);
            }
        }
    cJSON *per_head = cJSON_CreateIntArray(changed, a->n_head);
    free(changed);
    return per_head && cJSON_AddItemToObject(o, "class_changes_per_head", per_head) ? 0 : -1;
}

static void add_perplexity(cJSON *o, const hs_run_side *a, const hs_run_side *b)
{
    cJSON *p = cJSON_AddObjectToObject(o, "perplexity");
    if (!p)
        return;
    const double v[2] = {a->ppl, b->ppl};
    const char *const k[2] = {"a", "b"};
    for (int i = 0; i < 2; i++)
        if (isfinite(v[i]))
            cJSON_AddNumberToObject(p, k[i], v[i]);
        else
            cJSON_AddNullToObject(p, k[i]);
    if (isfinite(a->ppl) && isfinite(b->ppl))
        cJSON_AddNumberToObject(p, "delta", b->ppl - a->ppl);
    else
        cJSON_AddNullToObject(p, "delta");
}

static void respond_comparison(hs_req *req, hs_resp *resp, const hs_run_side *a,
                               const hs_run_side *b, double drift, bool csv)
{
    cJSON *rows = head_rows(a, b);
    if (rows && csv) {
        hs_resp_csv(resp, rows, csv_columns, N_CSV_COLUMNS);
        cJSON_Delete(rows);
        return;
    }
    cJSON *o = rows ? cJSON_CreateObject() : NULL;
    cJSON *ia = side_identity(a), *ib = side_identity(b), *m = transition_matrix(a, b);
    /* Only the identities carry stored text (the model names); the rest is numbers and
     * class names, so the answer is not walked as a whole for root paths. */
    bool ok = o && ia && ib && m && hs_roots_relative_json(&req->app->env, ia) == 0 &&
              hs_roots_relative_json(&req->app->env, ib) == 0 &&
              cJSON_AddItemToObject(o, "a", ia) && cJSON_AddItemToObject(o, "b", ib);
    if (!ok) {
        cJSON_Delete(ia);
        cJSON_Delete(ib);
    }
    if (!ok || !cJSON_AddItemToObject(o, "heads", rows)) {
        cJSON_Delete(m);
        cJSON_Delete(rows);
        cJSON_Delete(o);
        return hs_resp_internal(resp, "out of memory");
    }
    if (!cJSON_AddItemToObject(o, "transitions", m) || add_movements(o, a, b, drift) != 0) {
        cJSON_Delete(o);
        return hs_resp_internal(resp, "out of memory");
    }
    add_perplexity(o, a, b);
    hs_resp_json(resp, 200, o);
}

/* drift: a number in [0, 1], default 0.05; -1 after answering 400. */
static int parse_drift(hs_req *req, hs_resp *resp, double *drift)
{
    const char *text = hs_req_query(req, "drift");
    *drift = 0.05;
    if (!text)
        return 0;
    char *end = NULL;
    *drift = strtod(text, &end);
    if (!*text || *end || !(*drift >= 0 && *drift <= 1))
        return hs_resp_error(resp, 400, "invalid query parameter", "drift",
                             "drift must be a number in [0, 1] (got \"%.40s\")", text), -1;
    return 0;
}

void hs_api_compare(hs_req *req, hs_resp *resp)
{
    double drift;
    bool csv;
    if (hs_req_query_allowed(req, resp, "a,b,drift,format") != 0 ||
        hs_req_format_csv(req, resp, &csv) != 0 || parse_drift(req, resp, &drift) != 0)
        return;
    hs_db *db = hs_req_db(req, resp);
    if (!db)
        return;
    hs_run_side a, b;
    if (load_side(req, resp, db, "a", &a) != 0)
        return;
    if (load_side(req, resp, db, "b", &b) != 0) {
        hs_run_side_free(&a);
        return;
    }
    if (a.n_layer != b.n_layer || a.n_head != b.n_head)
        hs_resp_error(resp, 400, "different shapes", "b",
                      "side a (%s) is %d layers x %d heads, side b (%s) is %d layers x %d "
                      "heads", hs_req_query(req, "a"), a.n_layer, a.n_head,
                      hs_req_query(req, "b"), b.n_layer, b.n_head);
    else
        respond_comparison(req, resp, &a, &b, drift, csv);
    hs_run_side_free(&a);
    hs_run_side_free(&b);
}
