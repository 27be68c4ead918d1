"""What goes wrong around sbatch, against the real single-node Slurm of conftest.py (skipped
with the reason when not root or Slurm is missing).

- Slurm refuses a submission the spec validator let through (a gres the cluster does not have,
  a partition it does not know): the job fails with sbatch's own message, a sweep's array fails
  every job in it, and the daemon stays up and runs the next job;
- the daemon dies right after sbatch answered and before it recorded the Slurm id (the test
  build's HS_TEST_CRASH_AFTER_SBATCH): after a restart it finds the Slurm job (or the array's
  tasks) again by name and task index, submits nothing twice and loses nothing;
- the daemon dies after recording the attempts and before sbatch ran
  (HS_TEST_CRASH_BEFORE_SBATCH): after a restart it submits them (an array's tasks again as one
  array), once.
"""
import pytest


def test_refused_sbatch_fails_the_job_with_slurms_message(slurm_daemon):
    d = slurm_daemon()
    job = d.submit({"kind": "test-steps", "steps": 1, "slurm": {"gres": "gpu:1"}})
    done = d.wait_job(job["id"], timeout=60)
    assert done["state"] == "failed", done
    assert "sbatch: error:" in done["error"] and "gres" in done["error"].lower(), done["error"]
    assert done["slurm"]["state"] == "SUBMIT_REFUSED" and done["slurm"]["job_id"] is None
    assert done["attempt"] == 0  # never started: no attempt used up
    r = d.post("/api/v1/sweeps", json={"job": {"kind": "test-steps", "steps": 1,
                                               "slurm": {"partition": "nosuch"}},
                                       "grid": {"step_ms": [1, 2]}})
    assert r.status_code == 201, r.text
    for j in r.json()["jobs"]:
        failed = d.wait_job(j["id"], timeout=60)
        assert failed["state"] == "failed", failed
        assert "sbatch: error:" in failed["error"] and "partition" in failed["error"].lower()
    assert d.get("/api/v1/healthz").status_code == 200
    ok = d.submit({"kind": "test-steps", "steps": 1})
    assert d.wait_job(ok["id"], timeout=60)["state"] == "succeeded"


@pytest.mark.parametrize("sweep", [False, True], ids=["job", "sweep-array"])
@pytest.mark.parametrize("when", ["BEFORE", "AFTER"])
def test_crash_around_sbatch(slurm_daemon, slurm_cluster, monkeypatch, when, sweep):
    hook = "HS_TEST_CRASH_%s_SBATCH" % when
    monkeypatch.setenv(hook, "1")
    d = slurm_daemon()
    monkeypatch.delenv(hook)
    spec = {"kind": "test-steps", "steps": 5, "step_ms": 50}
    if sweep:
        r = d.post("/api/v1/sweeps", json={"job": spec, "grid": {"log_every": [1, 2, 3]}})
        assert r.status_code == 201, r.text
        ids = [j["id"] for j in r.json()["jobs"]]
    else:
        ids = [d.submit(spec)["id"]]
    d.proc.wait(timeout=60)  # died at the hook
    rows = d.db().execute("SELECT slurm_name, slurm_job_id FROM cluster_jobs").fetchall()
    assert len(rows) == len(ids) and all(i is None for _, i in rows), rows
    name = rows[0][0]
    submitted = slurm_cluster.named(name)
    # Slurm has the job(s) the daemon forgot, or nothing yet
    assert len(submitted) == (len(ids) if when == "AFTER" else 0), submitted
    d.start()
    for i in ids:
        done = d.wait_job(i, timeout=120)
        assert done["state"] == "succeeded" and done["attempt"] == 1, (done, d.log_text())
    got = sorted(d.job(i)["slurm"]["job_id"] for i in ids)
    now = sorted(slurm_cluster.named(name))
    assert got == now and len(now) == len(ids), (got, now)  # each submitted exactly once
    if when == "AFTER":
        assert now == sorted(submitted) and "found its Slurm job" in d.log_text()
    if sweep:
        assert len({i.split("_")[0] for i in got}) == 1, got  # still one array
    assert d.db().execute("SELECT COUNT(*) FROM cluster_jobs").fetchone()[0] == len(ids)
