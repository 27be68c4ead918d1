-- Migration 3: what a researcher finds runs by. run_summaries holds one row per job: the
-- metadata set at submit or by PATCH /runs/{id} (name, notes; tags in run_tags), the model
-- the spec names, and the headline numbers written once when the run succeeds, so listing
-- runs never parses a result. Rows of jobs that existed before this migration are filled in
-- from their spec and result here.

CREATE TABLE run_summaries (
    run_id            INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    name              TEXT,                         -- unique when set
    notes             TEXT,
    model             TEXT,                         -- the spec's "model", NULL when it has none
    n_healthy         INTEGER,                      -- diagnosis class counts (diagnose, evaluate)
    n_bos_sink        INTEGER,
    n_dead            INTEGER,
    n_low_entropy     INTEGER,
    ppl               REAL,                         -- evaluate: its perplexity; surgery: best
    baseline_ppl      REAL,                         -- surgery: the untouched model's
    best_checkpoint   TEXT,                         -- surgery
    heads_woken       INTEGER,                      -- surgery: at the best checkpoint
    improves_baseline INTEGER                       -- surgery: best ppl < baseline ppl
);
CREATE UNIQUE INDEX run_summaries_name ON run_summaries (name) WHERE name IS NOT NULL;
CREATE INDEX run_summaries_model ON run_summaries (model) WHERE model IS NOT NULL;
CREATE INDEX run_summaries_ppl ON run_summaries (ppl) WHERE ppl IS NOT NULL;

CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tag    TEXT    NOT NULL,
    PRIMARY KEY (tag, run_id)
) WITHOUT ROWID;
CREATE INDEX run_tags_run ON run_tags (run_id, tag);

CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX jobs_schedule ON jobs (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL;

INSERT INTO run_summaries (run_id, model, n_healthy, n_bos_sink, n_dead, n_low_entropy, ppl)
SELECT id,
       CASE WHEN json_valid(spec) AND json_type(spec, '$.model') = 'text'
            THEN json_extract(spec, '$.model') END,
       CASE WHEN state = 'succeeded' AND json_valid(result) THEN
            COALESCE(json_extract(result, '$.summary.healthy'),
                     json_extract(result, '$.diagnosis.summary.healthy')) END,
       CASE WHEN state = 'succeeded' AND json_valid(result) THEN
            COALESCE(json_extract(result, '$.summary.bos_sink'),
                     json_extract(result, '$.diagnosis.summary.bos_sink')) END,
       CASE WHEN state = 'succeeded' AND json_valid(result) THEN
            COALESCE(json_extract(result, '$.summary.dead'),
                     json_extract(result, '$.diagnosis.summary.dead')) END,
       CASE WHEN state = 'succeeded' AND json_valid(result) THEN
            COALESCE(json_extract(result, '$.summary.low_entropy'),
                     json_extract(result, '$.diagnosis.summary.low_entropy')) END,
       CASE WHEN state = 'succeeded' AND kind = 'evaluate' AND json_valid(result)
            THEN json_extract(result, '$.ppl') END
  FROM jobs;

-- Surgeries that finished before: their best checkpoint and the step-0 perplexity curve point.
UPDATE run_summaries
   SET best_checkpoint = (SELECT name FROM checkpoints c WHERE c.run_id = run_summaries.run_id
                           AND c.best = 1),
       ppl = (SELECT ppl FROM checkpoints c WHERE c.run_id = run_summaries.run_id AND c.best = 1),
       heads_woken = (SELECT woken FROM checkpoints c WHERE c.run_id = run_summaries.run_id
                       AND c.best = 1),
       baseline_ppl = (SELECT value FROM curves v WHERE v.run_id = run_summaries.run_id
                        AND v.name = 'ppl' AND v.step = 0)
 WHERE run_id IN (SELECT id FROM jobs WHERE kind = 'surgery' AND state = 'succeeded');
UPDATE run_summaries SET improves_baseline = (ppl < baseline_ppl)
 WHERE ppl IS NOT NULL AND baseline_ppl IS NOT NULL;
