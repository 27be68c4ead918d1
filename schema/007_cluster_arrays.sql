-- Migration 7: Slurm job arrays. The slurm executor submits the first attempts of a sweep's
-- jobs that are ready together as one `sbatch --array`; each attempt is one task of it. Written
-- to be applied again harmlessly (IF NOT EXISTS): a database taken back to an older
-- user_version gets it again.
--
-- One row per attempt (cluster_jobs) that went to Slurm as an array task; an attempt without
-- one is an ordinary Slurm job. The attempt's slurm_name is then the array's --job-name, shared
-- by its tasks, and its slurm_job_id reads "<array job id>_<task>" once sbatch answered: a
-- daemon that dies between sbatch and recording the id finds each task again by the array's
-- name and this index.
CREATE TABLE IF NOT EXISTS cluster_array_tasks (
    attempt_id INTEGER PRIMARY KEY REFERENCES cluster_jobs (id),
    task       INTEGER NOT NULL,                  -- the task index in the array
    raw_id     TEXT    NOT NULL DEFAULT ''        -- the task's own numeric job id once it
                                                  -- started (squeue %A); all `sacct -c` shows
);
