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
    queue = d.get("/api/v1/queue").json()
    assert queue["executor"] == "slurm" and queue["workers"] == []


def test_pause_holds_submissions(slurm_daemon):
    d = slurm_daemon()
    r = d.post("/api/v1/queue/pause")
    assert r.status_code == 200 and r.json()["paused"] is True
    job = d.submit({"kind": "test-steps", "steps": 1})
    assert d.db().execute("SELECT COUNT(*) FROM cluster_jobs").fetchone()[0] == 0
    r = d.post("/api/v1/queue/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    assert d.wait_job(job["id"], timeout=60)["state"] == "succeeded"


def _corpus(d):
    words = ("the farmer repaired the bridge before noon . a teacher painted the library in the "
             "rain . my neighbour visited the station after dinner . the old captain watched "
             "the lighthouse at dawn . ").split()
    with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
        f.write(" ".join(words * 12) + "\n")


def _surgery(**over):
    spec = {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": TEXTS[:1],
            "targets": {"1": [6], "2": [6], "3": [4, 6, 7]}, "lr": 3e-3, "batch_size": 2,
            "grad_accum": 2, "max_length": 32, "epochs": 2, "checkpoint_every": 1,
            "patience": 0, "seed": 11}
    spec.update(over)
    return spec


def test_surgery_checkpoints_and_curves_through_slurm(slurm_daemon):
    d = slurm_daemon()
    _corpus(d)
    job = d.submit(_surgery())
    done = d.wait_job(job["id"], timeout=300)
    assert done["state"] == "succeeded", (done, d.log_text())
    cps = d.get(f"/api/v1/runs/{job['id']}/checkpoints").json()["checkpoints"]
    assert [c["name"] for c in cps] == ["epoch-1", "epoch-2"]
    for c in cps:  # written on the node into the shared data dir, shown relative to it
        assert not os.path.isabs(c["path"])
        assert os.path.isdir(os.path.join(d.data_dir, c["path"])), c
    loss = d.get(f"/api/v1/runs/{job['id']}/curves", params={"name": "loss"}).json()["points"]
    assert len(loss) == done["progress"]["total"] > 0
    assert [c["name"] for c in done["result"]["checkpoints"]] == ["epoch-1", "epoch-2"]
    log = d.get(f"/api/v1/jobs/{job['id']}/log").json()["text"]
    assert "Slurm job " + done["slurm"]["job_id"] in log


def test_pending_job_stays_queued_with_reason_and_cancels(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit({"kind": "diagnose", "model": "demo", "texts": TEXTS,
                    "slurm": {"partition": "held"}})
    j = d.wait_until(lambda: (lambda x: x if x.get("slurm", {}).get("reason") else None)(
        d.job(job["id"])), timeout=60)
    assert j["state"] == "queued"
    assert j["slurm"]["state"] == "PENDING" and j["slurm"]["reason"] == "PartitionDown"
    slurm_id = j["slurm"]["job_id"]
    r = d.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    d.wait_until(lambda: (slurm_cluster.squeue(slurm_id) or ("",))[0] == "CANCELLED", timeout=60)
    d.wait_until(lambda: d.job(job["id"])["slurm"]["active"] is False, timeout=60)
    assert d.job(job["id"])["state"] == "cancelled"


def test_running_job_cancels_with_scancel(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit({"kind": "test-steps", "steps": 600, "step_ms": 100})
    d.wait_until(lambda: d.job(job["id"])["state"] == "running", timeout=60)
    slurm_id = d.job(job["id"])["slurm"]["job_id"]
    r = d.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 202
    done = d.wait_job(job["id"], timeout=60)
    assert done["state"] == "cancelled", done

    def ended():
        s = slurm_cluster.squeue(slurm_id)
        live = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED")
        return s[0] if s and s[0] not in live else None
    # The Slurm job ends at once (it would run 60 s, then COMPLETED): CANCELLED when scancel
    # reaches it first, FAILED when the runner heard the daemon's stop first and exited non-zero.
    assert d.wait_until(ended, timeout=60) in ("CANCELLED", "FAILED")


def test_kill9_mid_job_finishes_once(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit({"kind": "test-steps", "steps": 40, "step_ms": 100})
    d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 3, timeout=60)
    slurm_id = d.job(job["id"])["slurm"]["job_id"]
    d.kill9()
    d.start()  # the runner keeps retrying its reports meanwhile
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "succeeded", (done, d.log_text())
    assert done["attempt"] == 1 and done["slurm"]["job_id"] == slurm_id
    assert done["progress"]["step"] == done["progress"]["total"] == 40
    rows = d.db().execute("SELECT COUNT(*) FROM cluster_jobs WHERE job_id=?", (job["id"],))
    assert rows.fetchone()[0] == 1  # submitted once
    events = [e["to"] for e in d.get(f"/api/v1/jobs/{job['id']}/events").json()["events"]]
    assert events.count("running") == 1 and events.count("succeeded") == 1, events


@pytest.mark.parametrize("slurm, field", [
    ({"partition": "a b"}, "slurm.partition"),
    ({"cpus": 0}, "slurm.cpus"),
    ({"mem": "lots"}, "slurm.mem"),
    ({"time": "soon"}, "slurm.time"),
    ({"gpus": 1}, "slurm.gpus"),
    ("debug", "slurm"),
])
def test_bad_slurm_spec_is_400(daemon, slurm, field):
    d = daemon()
    r = d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1, "slurm": slurm})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_failed_attempt_is_requeued_from_its_checkpoint(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    _corpus(d)
    job = d.submit(_surgery(epochs=3))
    d.wait_until(lambda: len(d.get(f"/api/v1/runs/{job['id']}/checkpoints").json()["checkpoints"]) >= 1,
                 timeout=300)
    first = d.job(job["id"])["slurm"]["job_id"]
    pids = slurm_cluster.runner_pids(d.url, job["id"])
    assert pids, "no runner process found"
    for pid in pids:  # the node loses the job: Slurm says FAILED
        os.kill(pid, 9)
    done = d.wait_job(job["id"], timeout=300)
    assert done["state"] == "succeeded", (done, d.log_text())
    assert done["attempt"] == 2 and done["slurm"]["attempt"] == 2
    assert done["slurm"]["job_id"] != first
    events = d.get(f"/api/v1/jobs/{job['id']}/events").json()["events"]
    requeue = [e for e in events if e["from"] == "running" and e["to"] == "queued"]
    assert len(requeue) == 1 and "Slurm job %s ended FAILED" % first in requeue[0]["reason"], events
    log = d.get(f"/api/v1/jobs/{job['id']}/log").json()["text"]
    assert "resumed from checkpoint" in log
    names = [c["name"] for c in done["result"]["checkpoints"]]
    assert names == ["epoch-1", "epoch-2", "epoch-3"]


def test_max_cluster_jobs_and_priority_decide_the_order(slurm_daemon):
    d = slurm_daemon("--max-cluster-jobs", "1")
    first = d.submit({"kind": "test-steps", "steps": 20, "step_ms": 100})
    low = d.submit({"kind": "test-steps", "steps": 1})
    high = d.submit({"kind": "test-steps", "steps": 1, "priority": 5})
    for j in (first, low, high):
        assert d.wait_job(j["id"], timeout=120)["state"] == "succeeded"
    ids = {j["id"]: int(d.job(j["id"])["slurm"]["job_id"]) for j in (first, low, high)}
    assert ids[high["id"]] < ids[low["id"]], ids
    # never more than one attempt at a time: each started after the one before had ended
    rows = d.db().execute("SELECT submitted_at, ended_at FROM cluster_jobs ORDER BY submitted_at").fetchall()
    assert len(rows) == 3
    for (_, ended), (submitted, _) in zip(rows, rows[1:]):
        assert ended is not None and submitted >= ended, rows


def test_unwritable_shared_data_dir_fails_saying_so(slurm_daemon):
    d = slurm_daemon()
    # The job's run directory cannot be made: a file already has its name.
    os.makedirs(os.path.join(d.data_dir, "runs"), exist_ok=True)
    with d.db() as db:  # run directories carry the database's instance id
        instance = db.execute("SELECT value FROM daemon_state WHERE key='instance'").fetchone()[0]
    with open(os.path.join(d.data_dir, "runs", "1-" + instance), "w") as f:
        f.write("not a directory\n")
    job = d.submit({"kind": "diagnose", "model": "demo", "texts": TEXTS})
    assert job["id"] == 1
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "failed", done
    assert "shared data dir is not writable on " in done["error"], done["error"]
