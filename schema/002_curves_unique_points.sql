-- A curve has one value per (run, name, step): a job resumed after a crash redoes the steps
-- since its last checkpoint, and their points replace the first attempt's instead of being
-- listed twice. Keeps the newest row of any existing duplicates.
DELETE FROM curves
 WHERE rowid NOT IN (SELECT max(rowid) FROM curves GROUP BY run_id, name, step);
DROP INDEX IF EXISTS curves_run;
CREATE UNIQUE INDEX curves_run_name_step ON curves (run_id, name, step);
