"""Sweeps through `surgeond serve --executor slurm` as Slurm job arrays, against the real
single-node Slurm of conftest.py (skipped with the reason when not root or Slurm is missing).

- the jobs of a sweep that are ready go to Slurm as one `sbatch --array`: every job shows its
  task as "<array>_<task>" and Slurm's squeue shows the same tasks under one array id;
- cancelling one job of a sweep cancels its task alone (scancel <array>_<task>), the other tasks
  run on;
- --max-cluster-jobs counts tasks: a sweep larger than the free slots goes as an array of as many
  jobs as fit, the rest when slots free up;
- a task that fails on the node is retried alone, as an ordinary Slurm job, while attempts
  remain; its sibling keeps its task.
"""
import os
TEXTS = [
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday morning.",
]


def test_sweep_runs_as_one_array(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    r = d.post("/api/v1/sweeps", json={"job": {"kind": "diagnose", "model": "demo", "texts": TEXTS},
                                       "grid": {"max_length": [8, 16, 32, 64]}})
    assert r.status_code == 201, r.text
    sweep = r.json()
    done = [d.wait_job(j["id"], timeout=180) for j in sweep["jobs"]]
    for j in done:
        assert j["state"] == "succeeded", (j, d.log_text())
        assert j["result"]["summary"] and j["sweep"]["params"]["max_length"] == j["spec"]["max_length"]
    ids = [j["slurm"]["job_id"] for j in done]
    array_id = ids[0].split("_")[0]
    assert ids == ["%s_%d" % (array_id, t) for t in range(4)], ids
    assert [j["slurm"]["array"] for j in done] == [{"job_id": array_id, "task": t} for t in range(4)]
    # Slurm's own view: one array, four completed tasks (a runner exits just after its result
    # is in), and no other job under its name.
    want = {t: (array_id, "COMPLETED") for t in range(4)}
    d.wait_until(lambda: slurm_cluster.tasks(array_id) == want, timeout=30)
    names = {n for (n,) in d.db().execute("SELECT slurm_name FROM cluster_jobs")}
    assert len(names) == 1 and sorted(slurm_cluster.named(names.pop())) == sorted(ids)
    assert d.get(f"/api/v1/sweeps/{sweep['id']}").json()["counts"] == {"succeeded": 4}


def test_cancelling_one_task_leaves_the_others_running(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    r = d.post("/api/v1/sweeps", json={"job": {"kind": "test-steps", "steps": 600, "step_ms": 100},
                                       "grid": {"log_every": [1, 2]}})
    assert r.status_code == 201, r.text
    first, second = [j["id"] for j in r.json()["jobs"]]
    d.wait_until(lambda: all(d.job(j)["state"] == "running" for j in (first, second)), timeout=60)
    a, b = d.job(first)["slurm"]["job_id"], d.job(second)["slurm"]["job_id"]
    array_id = a.split("_")[0]
    assert b.split("_")[0] == array_id, (a, b)
    assert d.post(f"/api/v1/jobs/{first}/cancel").status_code == 202
    assert d.wait_job(first, timeout=60)["state"] == "cancelled"
    # scancel <array>_0 (or the runner, told to stop, ending first) ends task 0 alone.
    d.wait_until(lambda: slurm_cluster.tasks(array_id).get(0, ("", "RUNNING"))[1] not in
                 ("PENDING", "RUNNING", "COMPLETING"), timeout=30)
    assert slurm_cluster.tasks(array_id)[1] == (array_id, "RUNNING")
    still = d.job(second)
    assert still["state"] == "running" and still["slurm"]["state"] == "RUNNING", still
    step = still["progress"]["step"]
    d.wait_until(lambda: d.job(second)["progress"]["step"] > step, timeout=30)
    assert d.post(f"/api/v1/jobs/{second}/cancel").status_code == 202
    assert d.wait_job(second, timeout=60)["state"] == "cancelled"


def test_failed_task_is_retried_alone(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    r = d.post("/api/v1/sweeps", json={"job": {"kind": "test-steps", "steps": 40, "step_ms": 100,
                                               "max_attempts": 2},
                                       "grid": {"log_every": [1, 2]}})
    assert r.status_code == 201, r.text
    lost, kept = [j["id"] for j in r.json()["jobs"]]
    d.wait_until(lambda: all(d.job(j)["progress"]["step"] >= 1 for j in (lost, kept)), timeout=60)
    task = d.job(lost)["slurm"]["job_id"]
    pids = slurm_cluster.runner_pids(d.url, lost)
    assert pids, "no runner process found"
    for pid in pids:  # the node loses the task: Slurm says FAILED
        os.kill(pid, 9)
    done = d.wait_job(lost, timeout=120)
    assert done["state"] == "succeeded" and done["attempt"] == 2, (done, d.log_text())
    retry = done["slurm"]
    assert "_" not in retry["job_id"] and retry["array"] is None, retry
    events = d.get(f"/api/v1/jobs/{lost}/events").json()["events"]
    assert any(e["to"] == "queued" and "Slurm job %s ended FAILED" % task in e["reason"]
               for e in events), events
    other = d.wait_job(kept, timeout=120)
    assert other["state"] == "succeeded" and other["attempt"] == 1
    assert other["slurm"]["array"]["job_id"] == task.split("_")[0]


def test_max_cluster_jobs_splits_a_sweep(slurm_daemon):
    d = slurm_daemon("--max-cluster-jobs", "2")
    r = d.post("/api/v1/sweeps", json={"job": {"kind": "test-steps", "steps": 10, "step_ms": 100},
                                       "grid": {"log_every": [1, 2, 3, 4, 5]}})
    assert r.status_code == 201, r.text
    done = [d.wait_job(j["id"], timeout=120) for j in r.json()["jobs"]]
    assert all(j["state"] == "succeeded" for j in done), done
    ids = [j["slurm"]["job_id"] for j in done]
    # The first two fill both slots as one array; the rest follow as slots free up (in twos
    # or alone, as the ends are seen), never more than two to an array.
    assert ids[0].split("_")[0] == ids[1].split("_")[0] and ids[0].endswith("_0"), ids
    arrays = [i.split("_")[0] for i in ids if "_" in i]
    assert max(arrays.count(a) for a in arrays) == 2 and len(set(ids)) == 5, ids
    rows = d.db().execute("SELECT submitted_at, ended_at FROM cluster_jobs").fetchall()
    for at, _ in rows:  # never more than two attempts active at once
        active = sum(1 for s, e in rows if s <= at and (e is None or e > at))
        assert active <= 2, rows
