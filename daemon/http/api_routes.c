/* The route table of the HTTP API: method, path pattern, handler, and what the OpenAPI
 * document says about it (api_openapi.c renders this table, so the document and the routes
 * cannot drift apart). */
#include "api.h"

const hs_route hs_routes[] = {
    {"GET", "/api/v1/healthz", hs_api_healthz, "Liveness: 200 when the daemon and its database answer", NULL, NULL},
    {"GET", "/api/v1/version", hs_api_version, "Daemon version and compiled backends", NULL, NULL},
    {"GET", "/api/v1/openapi.json", hs_api_openapi, "This OpenAPI 3 document", NULL, NULL},
    {"GET", "/api/v1/kinds", hs_api_kinds, "Job kinds with their spec fields", NULL, NULL},
    {"GET", "/api/v1/queue", hs_api_queue, "Queue state: paused, depth by state, workers", NULL, NULL},
    {"POST", "/api/v1/queue/pause", hs_api_queue_pause, "Pause: running jobs finish, nothing new starts", NULL, NULL},
    {"POST", "/api/v1/queue/resume", hs_api_queue_resume, "Resume claiming queued jobs", NULL, NULL},
    {"POST", "/api/v1/jobs", hs_api_jobs_submit, "Submit a job spec (201 new; 200 when client_id already exists)", NULL, "json"},
    {"GET", "/api/v1/jobs", hs_api_jobs_list, "List jobs, newest first", "state,kind,limit,before,since", NULL},
    {"GET", "/api/v1/jobs/{id}", hs_api_job_get, "One job", NULL, NULL},
    {"POST", "/api/v1/jobs/{id}/cancel", hs_api_job_cancel, "Cancel: a queued job at once, a running one at its next step", NULL, NULL},
    {"GET", "/api/v1/jobs/{id}/log", hs_api_job_log, "The job's log from a byte offset", "offset", NULL},
    {"GET", "/api/v1/jobs/{id}/events", hs_api_job_events, "The job's state transitions with reasons", NULL, NULL},
    {"POST", "/api/v1/jobs/{id}/report/batch", hs_api_job_report_batch, "Internal: a numbered batch of reports from the job's Slurm attempt (its token as Bearer)", NULL, "json"},
    {"GET", "/api/v1/jobs/{id}/report/diagnosis", hs_api_job_report_diagnosis, "Internal: a finished diagnosis's head rows for the job's Slurm attempt (surgery from_run)", "run", NULL},
    {"POST", "/api/v1/sweeps", hs_api_sweeps_create, "Submit a sweep {job, grid, name}: one job per combination of the grid's values", NULL, "json"},
    {"GET", "/api/v1/sweeps", hs_api_sweeps_list, "List sweeps, newest first", "limit", NULL},
    {"GET", "/api/v1/sweeps/{id}", hs_api_sweep_get, "One sweep with its jobs' states and values", NULL, NULL},
    {"GET", "/api/v1/runs", hs_api_runs_list, "Run summaries (headline numbers, metadata) under combinable filters; format=csv", "kind,state,model,tag,q,since,until,schedule,limit,before,order,format", NULL},
    {"GET", "/api/v1/runs/{id}", hs_api_run_get, "One run with its result, name, tags and notes", NULL, NULL},
    {"PATCH", "/api/v1/runs/{id}", hs_api_run_patch, "Change a run's name, tags or notes (partial; null clears)", NULL, "json"},
    {"GET", "/api/v1/runs/{id}/heads", hs_api_run_heads, "Per-head statistics of a run; format=csv", "checkpoint,format", NULL},
    {"GET", "/api/v1/runs/{id}/curves", hs_api_run_curves, "Curve points (loss, ppl, ...) of a run; format=csv", "name,format", NULL},
    {"GET", "/api/v1/runs/{id}/checkpoints", hs_api_run_checkpoints, "Checkpoints of a run", NULL, NULL},
    {"GET", "/api/v1/compare", hs_api_compare, "Two head tables side by side: a=<run>[/<checkpoint>], b=...; format=csv", "a,b,drift,format", NULL},
    {"GET", "/api/v1/sick-bands", hs_api_sick_bands, "Diagnoses side by side: per head index its ALiBi slope and sick layers", "runs", NULL},
    {"GET", "/api/v1/runs/{id}/attention", hs_api_run_attention, "An inspect run's attention: one head's matrix (layer and head), else the inspected heads", "layer,head", NULL},
    {"POST", "/api/v1/corpora", hs_api_corpora_upload, "Upload a text corpus (raw body) as upload:NAME", "name", "text"},
    {"GET", "/api/v1/corpora", hs_api_corpora_list, "Uploaded corpora", NULL, NULL},
    {"POST", "/api/v1/schedules", hs_api_schedules_create, "Create a schedule {name, cron, job, enabled, timezone}", NULL, "json"},
    {"GET", "/api/v1/schedules", hs_api_schedules_list, "List schedules", NULL, NULL},
    {"GET", "/api/v1/schedules/{id}", hs_api_schedule_get, "One schedule with its recent firings", NULL, NULL},
    {"PATCH", "/api/v1/schedules/{id}", hs_api_schedule_patch, "Change a schedule (enabled, cron, job, name, timezone)", NULL, "json"},
    {"DELETE", "/api/v1/schedules/{id}", hs_api_schedule_delete, "Delete a schedule", NULL, NULL},
    {"GET", "/api/v1/schedules/{id}/runs", hs_api_schedule_runs, "What a schedule produced, oldest first, skipped ticks with their reason", "limit", NULL},
    {"GET", "/metrics", hs_api_metrics, "Prometheus metrics", NULL, NULL},
};

const size_t hs_route_count = sizeof hs_routes / sizeof hs_routes[0];
