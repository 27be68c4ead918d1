"""`surgeond serve --executor slurm` against a real single-node Slurm (the slurm_cluster fixture of
conftest.py; skipped with the reason when not root or Slurm is not installed).

- a diagnose job and a short surgery run as Slurm jobs: the job JSON names the Slurm job, its
  node and state; heads, curves, checkpoints and the result are visible over the API exactly as
  with the local executor;
- a job in a DOWN partition stays queued with Slurm's reason and is cancelled with scancel; a
  running job is cancelled with scancel;
- the daemon killed with -9 mid-job and restarted: the job finishes once, nothing lost;
- a spec's "slurm" object is validated like every other field.
"""
import os

import pytest

TEXTS = [
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday morning.",
]


@pytest.fixture
def slurm_daemon(daemon, slurm_cluster):
    def make(*extra):
        d = daemon(args=["--executor", "slurm"] + list(extra), start=False)
        r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
        assert r.returncode == 0, r.stdout + r.stderr
        d.start()
        return d
    return make


def _slurm_states(d, job_id):
    """The Slurm states of a job's attempts, from the job's events."""
    return [e["reason"] for e in d.get(f"/api/v1/jobs/{job_id}/events").json()["events"]]


def test_diagnose_runs_through_slurm(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit({"kind": "diagnose", "model": "demo", "texts": TEXTS})
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "succeeded", (done, d.log_text())
    slurm = done["slurm"]
    assert slurm["job_id"] and slurm["node"] == slurm_cluster.host
    assert slurm["attempt"] == 1 and done["attempt"] == 1
    heads = d.get(f"/api/v1/runs/{job['id']}/heads").json()["heads"]
    classes = {(h["layer"], h["head"]): h["class"] for h in heads}
    assert len(heads) == 32
    assert classes[(1, 6)] == "dead" and classes[(3, 6)] == "bos-sink"
    assert done["result"]["summary"]
