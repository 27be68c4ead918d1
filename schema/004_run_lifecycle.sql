-- Migration 4: run lifecycle. A run whose stored outcome was deleted keeps its job row and
-- history (run_deleted_at says when); the database gets an instance id that names its run
-- directories (runs/<id>-<instance>/), so the files of an emptied or another database never
-- match a new job's id. A database that already has jobs still has run directories named
-- runs/<id>/: the flag adopt_legacy_runs asks the daemon to rename them once at start-up.
ALTER TABLE jobs ADD COLUMN run_deleted_at INTEGER;
-- The model a job ran on when its spec named an alias (run:<id>/best, run:latest/..., see
-- store/model_alias.h): resolved when the job starts, reused by a resumed attempt.
ALTER TABLE jobs ADD COLUMN model_resolved TEXT;
-- The same for an uploaded corpus: "upload:<name>@<sha256>", the content the job started on.
ALTER TABLE jobs ADD COLUMN corpus_resolved TEXT;
INSERT OR IGNORE INTO daemon_state (key, value)
    VALUES ('instance', lower(hex(randomblob(8))));
INSERT OR IGNORE INTO daemon_state (key, value)
    SELECT 'adopt_legacy_runs', '1' WHERE EXISTS (SELECT 1 FROM jobs);
