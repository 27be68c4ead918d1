-- Migration 6: Slurm attempts of jobs (the slurm executor, queue/executor_slurm.c) and sweeps.
-- Numbers 4 and 5 are reserved for migrations of other features; the migration runner records
-- which numbers a database has (schema_migrations), skips the gaps and applies a lower number
-- that arrives in a later build. Written to be applied again harmlessly (IF NOT EXISTS).
--
-- One row per attempt submitted to Slurm. The job itself stays 'queued' while Slurm keeps the
-- attempt PENDING and becomes 'running' when Slurm starts it. A row is created (state
-- 'submitting') before sbatch runs and carries the job name given to Slurm, so a daemon that
-- dies between sbatch and recording the Slurm id finds the Slurm job again by name: an attempt
-- is never submitted twice. Only the SHA-256 of the attempt's report token is kept.

CREATE TABLE IF NOT EXISTS cluster_jobs (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id),
    attempt       INTEGER NOT NULL,                -- the job's attempt this Slurm job runs
    slurm_name    TEXT    NOT NULL,                -- --job-name given to sbatch
    slurm_job_id  TEXT,                            -- NULL until sbatch answered
    slurm_state   TEXT    NOT NULL DEFAULT 'SUBMITTING',
    slurm_reason  TEXT    NOT NULL DEFAULT '',
    node          TEXT    NOT NULL DEFAULT '',
    token_hash    TEXT    NOT NULL,                -- hex SHA-256 of the report token
    active        INTEGER NOT NULL DEFAULT 1,      -- 0 once the attempt has ended
    last_seq      INTEGER NOT NULL DEFAULT 0,      -- the last report batch applied
    result_reported INTEGER NOT NULL DEFAULT 0,
    submitted_at  INTEGER NOT NULL,
    ended_at      INTEGER,
    UNIQUE (job_id, attempt)
);
CREATE INDEX IF NOT EXISTS cluster_jobs_active ON cluster_jobs (job_id) WHERE active = 1;
CREATE UNIQUE INDEX IF NOT EXISTS cluster_jobs_token ON cluster_jobs (token_hash);

-- Sweeps: one job spec and a grid of values for some of its fields, submitted as one job per
-- combination (POST /api/v1/sweeps). The jobs are ordinary jobs, tagged here with their values.
CREATE TABLE IF NOT EXISTS sweeps (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL DEFAULT '',
    spec       TEXT    NOT NULL,                  -- the base job spec, JSON
    grid       TEXT    NOT NULL,                  -- {"field": [values]}, JSON
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sweep_jobs (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (id),
    job_id   INTEGER NOT NULL REFERENCES jobs (id),
    params   TEXT    NOT NULL,                    -- this job's grid values, JSON object
    PRIMARY KEY (sweep_id, job_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS sweep_jobs_job ON sweep_jobs (job_id);
