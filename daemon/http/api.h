/* The HTTP API's shared pieces: the application state handlers see, one request and its
 * response, the route table (api_routes.c), and the response helpers (api_respond.c).
 * Handlers read and write the store and return; they never compute or wait on a job. */
#ifndef HS_API_H
#define HS_API_H
#include "kinds/kinds.h"
#include "store/store.h"
#include "queue/worker.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;

#define HS_ROUTE_NAMES 2       /* named path segments a route may have */
#define HS_ROUTE_NAME_MAX 128  /* characters in one */
struct hs_job_filter;

typedef struct hs_app {
    hs_store *store;
    hs_worker_pool *workers;  /* NULL with the slurm executor */
    bool slurm_executor;      /* jobs go through Slurm (queue/executor_slurm.h) */
    hs_kind_env env;       /* absolute roots */
    char token[256];       /* bearer token; empty: no auth */
    size_t max_body;       /* bytes */
    int64_t started_ms;
    void (*schedules_changed)(void *arg); /* wakes the scheduler; may be NULL */
    void *schedules_changed_arg;
} hs_app;

typedef struct hs_req {
    hs_app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;      /* without the query string */
    const char *body;      /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    int64_t id;            /* the {id} of the route, when it has one */
    char names[HS_ROUTE_NAMES][HS_ROUTE_NAME_MAX + 1]; /* its {name}, {file}, ... in order */
    void *state;           /* the HTTP layer's own (for hs_req_defer) */
} hs_req;

typedef struct hs_resp {
    int status;
    char *body;            /* malloc'd, or static when body_static */
    size_t len;
    bool body_static;
    const char *content_type;
    char allow[64];        /* Allow header for 405 */
    /* A body produced while it is sent (downloads), instead of `body`: when stream_read is
     * set, stream_size bytes (HS_STREAM_SIZE_UNKNOWN: chunked) come from
     * stream_read(stream_arg, position, buf, max), which returns a count > 0,
     * HS_STREAM_END or HS_STREAM_ERROR; stream_free(stream_arg) runs once, when the
     * response is done or dropped. */
    ssize_t (*stream_read)(void *arg, uint64_t pos, char *buf, size_t max);
    void (*stream_free)(void *arg);
    void *stream_arg;
    uint64_t stream_size;
    char content_range[96];   /* Content-Range header when set */
    char disposition[200];    /* Content-Disposition header when set */
    bool accept_ranges;       /* Accept-Ranges: bytes */
} hs_resp;

#define HS_STREAM_SIZE_UNKNOWN UINT64_MAX
#define HS_STREAM_END ((ssize_t)-1)
#define HS_STREAM_ERROR ((ssize_t)-2)

typedef void (*hs_handler)(hs_req *req, hs_resp *resp);

typedef struct hs_route {
    const char *method;
    const char *pattern;   /* "/api/v1/jobs/{id}/log"; {id} is a positive integer */
    hs_handler handler;
    const char *summary;   /* for the OpenAPI document */
    const char *query;     /* comma-separated query parameters, for the OpenAPI document */
    const char *request_body; /* "json", "text" or NULL */
} hs_route;

extern const hs_route hs_routes[];
extern const size_t hs_route_count;

/* ---- responses (api_respond.c) ---------------------------------------------------------- */
/* Serialises obj (consumed) as the response. */
void hs_resp_json(hs_resp *resp, int status, cJSON *obj);
/* {"error", "detail", "field"} with the status; field may be NULL. */
void hs_resp_error(hs_resp *resp, int status, const char *error, const char *field,
                   const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
void hs_resp_text(hs_resp *resp, int status, const char *content_type, char *body, size_t len,
                  bool body_static);
/* 500 with the internal error. */
void hs_resp_internal(hs_resp *resp, const char *err);
/* {key: value} (value consumed) with the status; 500 when out of memory. */
void hs_resp_json_member(hs_resp *resp, int status, const char *key, cJSON *value);
/* hs_resp_json / hs_resp_json_member for an answer made of stored data (jobs, runs, logs,
 * schedules): every absolute root path in its strings (data dir, model root, corpus root) is
 * shown relative to its root first, so no answer carries a server path. */
void hs_resp_stored_json(hs_req *req, hs_resp *resp, int status, cJSON *obj);
void hs_resp_stored_member(hs_req *req, hs_resp *resp, int status, const char *key,
                           cJSON *value);

/* Answering later: a handler that gets a non-NULL hs_deferred from hs_req_defer returns
 * with resp untouched, and the request's connection waits (suspended, no thread held) until
 * hs_deferred_answer(d, resp) is called, exactly once, from any thread; it takes resp's
 * body. NULL (the server is stopping): answer in resp as usual. Used by submits, which are
 * answered once their group commit is done. */
typedef struct hs_deferred hs_deferred;
hs_deferred *hs_req_defer(hs_req *req);
void hs_deferred_answer(hs_deferred *d, hs_resp *resp);

/* ---- requests --------------------------------------------------------------------------- */
const char *hs_req_query(hs_req *req, const char *name);
/* Parses an optional integer query parameter in [lo, hi]; 0 ok (value or fallback), -1 after
 * answering 400. */
int hs_req_query_int(hs_req *req, hs_resp *resp, const char *name, int64_t lo, int64_t hi,
                     int64_t fallback, int64_t *out);
/* The body as a JSON object; NULL after answering 400. */
cJSON *hs_req_json_object(hs_req *req, hs_resp *resp);
/* This thread's read connection; NULL after answering 500. */
hs_db *hs_req_db(hs_req *req, hs_resp *resp);
/* The job-list query parameters of /jobs and /runs: state, kind, limit (1-500, default 50)
 * and before, into f (its other fields untouched). 0, or -1 after answering 400. */
int hs_req_job_filter(hs_req *req, hs_resp *resp, struct hs_job_filter *f);
/* One page of the jobs matching f as {key: [...], "next_before": id or null}; NULL after
 * answering 500. */
cJSON *hs_job_page_json(hs_req *req, hs_resp *resp, const struct hs_job_filter *f,
                        const char *key);

/* ---- the research routes' query strings (api_query.c) and CSV answers (api_csv.c) ------ */
/* 0 when every query parameter is in `allowed` (comma-separated), else -1 after answering 400
 * naming the first unknown one. */
int hs_req_query_allowed(hs_req *req, hs_resp *resp, const char *allowed);
/* Calls each(arg, value) for every occurrence of parameter name, in order, until one returns
 * non-zero; returns that value or 0. */
int hs_req_query_each(hs_req *req, const char *name, int (*each)(void *arg, const char *value),
                      void *arg);
/* format=json (default) or csv into *csv; -1 after answering 400. */
int hs_req_format_csv(hs_req *req, hs_resp *resp, bool *csv);
/* 200 text/csv of rows (an array of flat objects): a header of columns, one line per row. */
void hs_resp_csv(hs_resp *resp, const cJSON *rows, const char *const *columns, int n_columns);

/* ---- handlers (api_*.c) ----------------------------------------------------------------- */
void hs_api_healthz(hs_req *, hs_resp *);
void hs_api_version(hs_req *, hs_resp *);
void hs_api_openapi(hs_req *, hs_resp *);
void hs_api_kinds(hs_req *, hs_resp *);
void hs_api_metrics(hs_req *, hs_resp *);
void hs_api_queue(hs_req *, hs_resp *);
void hs_api_queue_pause(hs_req *, hs_resp *);
void hs_api_queue_resume(hs_req *, hs_resp *);
void hs_api_jobs_submit(hs_req *, hs_resp *);
void hs_api_jobs_list(hs_req *, hs_resp *);
void hs_api_job_get(hs_req *, hs_resp *);
void hs_api_job_cancel(hs_req *, hs_resp *);
void hs_api_job_log(hs_req *, hs_resp *);
void hs_api_job_events(hs_req *, hs_resp *);
void hs_api_job_report_batch(hs_req *, hs_resp *);
void hs_api_sweeps_create(hs_req *, hs_resp *);
void hs_api_sweeps_list(hs_req *, hs_resp *);
void hs_api_sweep_get(hs_req *, hs_resp *);
void hs_api_job_report_diagnosis(hs_req *, hs_resp *);
/* Whether path is a job's report route (api_report.c): those authenticate with the job
 * attempt's own token, not the daemon's --token-file. */
bool hs_api_is_report_path(const char *path);
/* Adds "slurm": {job_id, state, reason, node, attempt, active} to a job's JSON when the job
 * went through Slurm (its newest attempt), and "sweep": {id, params} when a sweep made it. */
void hs_api_add_slurm(hs_db *db, cJSON *job);
void hs_api_runs_list(hs_req *, hs_resp *);
void hs_api_run_get(hs_req *, hs_resp *);
void hs_api_run_heads(hs_req *, hs_resp *);
void hs_api_run_curves(hs_req *, hs_resp *);
void hs_api_run_checkpoints(hs_req *, hs_resp *);
void hs_api_run_delete(hs_req *, hs_resp *);
void hs_api_checkpoint_delete(hs_req *, hs_resp *);
void hs_api_corpus_delete(hs_req *, hs_resp *);
void hs_api_storage(hs_req *, hs_resp *);
void hs_api_checkpoint_archive(hs_req *, hs_resp *);
void hs_api_checkpoint_file(hs_req *, hs_resp *);
void hs_api_run_patch(hs_req *, hs_resp *);
void hs_api_compare(hs_req *, hs_resp *);
void hs_api_sick_bands(hs_req *, hs_resp *);
void hs_api_schedule_runs(hs_req *, hs_resp *);
void hs_api_run_attention(hs_req *, hs_resp *);
void hs_api_corpora_upload(hs_req *, hs_resp *);
void hs_api_corpora_list(hs_req *, hs_resp *);
void hs_api_schedules_create(hs_req *, hs_resp *);
void hs_api_schedules_list(hs_req *, hs_resp *);
void hs_api_schedule_get(hs_req *, hs_resp *);
void hs_api_schedule_patch(hs_req *, hs_resp *);
void hs_api_schedule_delete(hs_req *, hs_resp *);
/* api_storage.c: the storage gauges of /metrics, and a run answer's bytes_on_disk. */
struct hs_strbuf;
void hs_storage_metrics_render(hs_req *req, struct hs_strbuf *b);
void hs_run_add_bytes_on_disk(hs_req *req, cJSON *job);
/* api_download.c, exposed for tests: the Range header h against a file of size bytes: 1 with
 * [*first, *last] (first <= last < size), 0 to send the whole file (no, several or malformed
 * ranges), -1 when unsatisfiable. */
int hs_http_parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last);
/* GET of anything outside /api and /metrics: the embedded web/ files, /vendor/chart.js. */
void hs_api_static(hs_req *, hs_resp *);

#endif
