-- Migration 1: the job queue, its event history, schedules and the stored outcomes of runs.
-- Times are integer milliseconds since the Unix epoch (UTC); the API formats them as ISO-8601.
-- Jobs are never deleted, so INTEGER PRIMARY KEY ids are never reused; indexes are partial where
-- most rows would not need them (every index is another page written per submit).

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL,
    spec             TEXT    NOT NULL,              -- the submitted spec, JSON
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,    -- higher first
    client_id        TEXT,                          -- idempotent submit key (unique)
    attempt          INTEGER NOT NULL DEFAULT 0,    -- times claimed by a worker
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL,
    progress_step    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    progress_message TEXT    NOT NULL DEFAULT '',
    result           TEXT,                          -- JSON, on success
    error            TEXT,                          -- reason, on failure or cancel
    schedule_id      INTEGER,
    scheduled_for    INTEGER,
    device           TEXT                           -- the worker that ran it last
);
CREATE INDEX jobs_claim ON jobs (priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_updated ON jobs (updated_at);
CREATE UNIQUE INDEX jobs_client ON jobs (client_id) WHERE client_id IS NOT NULL;
-- one job per schedule tick: a restart can never fire a tick twice
CREATE UNIQUE INDEX jobs_schedule_tick ON jobs (schedule_id, scheduled_for)
    WHERE schedule_id IS NOT NULL;

CREATE TABLE job_events (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    at         INTEGER NOT NULL,
    from_state TEXT,                                -- NULL for the submit
    to_state   TEXT    NOT NULL,
    reason     TEXT    NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- deleted schedules' ids are not reused
    name          TEXT    NOT NULL UNIQUE,
    cron          TEXT    NOT NULL,
    job           TEXT    NOT NULL,                 -- a job spec, JSON
    enabled       INTEGER NOT NULL DEFAULT 1,
    timezone      TEXT    NOT NULL DEFAULT 'UTC',
    next_fire_at  INTEGER,
    last_fired_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE schedule_firings (
    schedule_id   INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    scheduled_for INTEGER NOT NULL,
    fired_at      INTEGER NOT NULL,
    job_id        INTEGER,                          -- NULL when skipped
    skipped       INTEGER NOT NULL DEFAULT 0,
    reason        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, scheduled_for)
);

CREATE TABLE head_stats (
    run_id     INTEGER NOT NULL REFERENCES jobs (id),
    checkpoint TEXT    NOT NULL DEFAULT '',
    layer      INTEGER NOT NULL,
    head       INTEGER NOT NULL,
    bos_mass   REAL    NOT NULL,
    entropy    REAL    NOT NULL,
    local_mass REAL    NOT NULL,
    class      TEXT    NOT NULL,
    PRIMARY KEY (run_id, checkpoint, layer, head)
);

CREATE TABLE curves (
    run_id INTEGER NOT NULL REFERENCES jobs (id),
    step   INTEGER NOT NULL,
    epoch  REAL    NOT NULL,
    name   TEXT    NOT NULL,
    value  REAL    NOT NULL
);
CREATE INDEX curves_run ON curves (run_id, name, step);

CREATE TABLE checkpoints (
    run_id INTEGER NOT NULL REFERENCES jobs (id),
    name   TEXT    NOT NULL,
    path   TEXT    NOT NULL,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    ppl    REAL,                                    -- NULL when not evaluated
    woken  INTEGER,                                 -- NULL when not applicable
    best   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE daemon_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
