"""How Slurm's end states reach a job, through the real single-node Slurm of conftest.py
(skipped with the reason when not root or Slurm is missing). An attempt that ends without a
reported result fails the job with Slurm's state and reason, or requeues it while attempts
remain.

- TIMEOUT: a job with slurm.time "1" (Slurm's minimum, one minute) whose limit an
  administrator brings forward (scontrol update EndTime): Slurm ends it TIMEOUT/TimeLimit at its
  next time-limit check (every 30 s), the job fails saying so;
- PREEMPTED: a job in the preemptible partition "low" loses its CPUs to a job in "high": it is
  requeued and its second attempt succeeds once the CPUs are free;
- NODE_FAIL: the node dies with its job (slurmd and the job's steps killed with SIGKILL, the node
  marked DOWN as slurmctld does after SlurmdTimeout): the job is requeued with Slurm's state and
  its second attempt runs once slurmd is back;
- vanished: slurmctld restarted with its state cleared forgets a running job: neither squeue nor
  sacct knows it any more, and after a few polls it is requeued and its second attempt runs.

OUT_OF_MEMORY cannot be produced here: without cgroups the node enforces no memory limit (a job
over its --mem ran to the end with jobacct_gather/linux and OverMemoryKill too); the mapping is
the same as for every final state (tests/unit/test_slurm_cmd.c).
"""
import datetime
import os

LONG = {"kind": "test-steps", "steps": 600, "step_ms": 100}


def _events(d, job_id):
    return d.get(f"/api/v1/jobs/{job_id}/events").json()["events"]


def test_timeout_fails_the_job_with_slurms_reason(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit(dict(LONG, max_attempts=1, slurm={"time": "1"}))
    d.wait_until(lambda: d.job(job["id"])["state"] == "running", timeout=60)
    slurm_id = d.job(job["id"])["slurm"]["job_id"]
    assert "TimeLimit=00:01:00" in slurm_cluster.scontrol("show", "job", slurm_id)
    now = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    slurm_cluster.scontrol("update", "jobid=" + slurm_id, "EndTime=" + now)
    done = d.wait_job(job["id"], timeout=60)
    assert done["state"] == "failed", done
    assert done["slurm"]["state"] == "TIMEOUT" and done["slurm"]["reason"] == "TimeLimit", done
    assert done["error"] == "Slurm job %s ended TIMEOUT: TimeLimit" % slurm_id, done["error"]


def test_preempted_job_is_requeued_and_runs_again(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    cpus = os.cpu_count()
    job = d.submit({"kind": "test-steps", "steps": 30, "step_ms": 100, "max_attempts": 2,
                    "slurm": {"partition": "low", "cpus": cpus}})
    d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 1, timeout=60)
    first = d.job(job["id"])["slurm"]["job_id"]
    slurm_cluster.sbatch("-p", "high", "-c", str(cpus), "--wrap", "sleep 1")
    done = d.wait_job(job["id"], timeout=90)
    assert done["state"] == "succeeded", (done, d.log_text())
    assert done["attempt"] == 2 and done["slurm"]["job_id"] != first
    requeue = [e for e in _events(d, job["id"]) if e["from"] == "running" and e["to"] == "queued"]
    assert len(requeue) == 1, requeue
    assert requeue[0]["reason"] == "Slurm job %s ended PREEMPTED" % first, requeue


def test_job_forgotten_by_slurm_is_requeued(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit(dict(LONG, max_attempts=2))
    d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 1, timeout=60)
    first = d.job(job["id"])["slurm"]["job_id"]
    slurm_cluster.restart_controller_clean()
    assert slurm_cluster.squeue(first) is None
    again = d.wait_until(lambda: (lambda j: j if j["slurm"]["attempt"] == 2 and
                                  j["state"] == "running" else None)(d.job(job["id"])), timeout=60)
    assert again["attempt"] == 2 and again["slurm"]["job_id"] != first, again
    requeue = [e for e in _events(d, job["id"]) if e["from"] == "running" and e["to"] == "queued"]
    assert len(requeue) == 1, requeue
    assert requeue[0]["reason"] == ("Slurm job %s ended VANISHED: neither squeue nor sacct knows "
                                    "the job" % first), requeue
    assert d.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    assert d.wait_job(job["id"], timeout=60)["state"] == "cancelled"


def test_node_failure_requeues_the_job(slurm_daemon, slurm_cluster):
    d = slurm_daemon()
    job = d.submit(dict(LONG, max_attempts=2))
    d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 1, timeout=60)
    first = d.job(job["id"])["slurm"]["job_id"]
    slurm_cluster.kill_node()
    try:
        requeued = d.wait_until(lambda: (lambda j: j if j["slurm"]["attempt"] == 2 else None)(
            d.job(job["id"])), timeout=60)
        assert requeued["state"] in ("queued", "running"), requeued
        requeue = [e for e in _events(d, job["id"])
                   if e["from"] == "running" and e["to"] == "queued"]
        assert len(requeue) == 1, (requeue, slurm_cluster.log_text())
        assert requeue[0]["reason"].startswith("Slurm job %s ended NODE_FAIL" % first), requeue
    finally:
        slurm_cluster.revive_node()
    again = d.wait_until(lambda: (lambda j: j if j["state"] == "running" and
                                  j["slurm"]["job_id"] != first else None)(d.job(job["id"])),
                         timeout=60)
    assert again["attempt"] == 2, again
    assert d.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    assert d.wait_job(job["id"], timeout=60)["state"] == "cancelled"
