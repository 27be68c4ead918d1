"""A full disk under a running job: the job fails with the reason (ENOSPC named), the worker
records that outcome (giving up the space reserve it keeps for this), keeps serving and takes
the next job; once space is freed the daemon is healthy again and jobs succeed.

The data dir is a small tmpfs mounted for the test (needs root: the test is skipped when the
mount is refused), filled to the last byte with a filler file while the job runs."""
import os
import subprocess

import pytest

STEPS = {"kind": "test-steps", "steps": 100000, "step_ms": 2}


def mount_tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): " + r.stderr.strip())


def fill(path):
    """Writes until the file system is full; returns the filler's path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):  # big pieces, then the last bytes
            for _ in range(100000):  # bounded: far more than the tmpfs holds
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def test_disk_full_fails_the_job_and_the_worker_goes_on(daemon):
    d = daemon(start=False)
    mount_tmpfs(d.data_dir, "16m")
    try:
        d.start()
        assert os.path.exists(os.path.join(d.data_dir, ".space-reserve"))
        job = d.submit(STEPS)
        d.wait_job(job["id"], states="running")
        d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 5)
        filler = fill(d.data_dir)

        failed = d.wait_job(job["id"], timeout=120)
        assert failed["state"] == "failed", failed
        assert "ENOSPC" in failed["error"], failed
        assert d.get("/api/v1/healthz").status_code == 200

        # The worker is free again: the next job is claimed and finishes (it may fail too,
        # the disk is still full, but it is not left queued behind a stuck worker).
        r = d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1})
        assert r.status_code == 201, r.text
        nxt = d.wait_job(r.json()["id"], timeout=120)
        assert nxt["state"] in ("succeeded", "failed"), nxt

        os.unlink(filler)
        d.wait_until(lambda: d.get("/api/v1/healthz").json()["status"] == "ok", timeout=90,
                     interval=0.5)
        ok = d.wait_job(d.submit({"kind": "test-steps", "steps": 2})["id"])
        assert ok["state"] == "succeeded", ok
        d.wait_until(lambda: os.path.exists(os.path.join(d.data_dir, ".space-reserve")))
        assert d.stop() == 0
    finally:
        d.kill9()
        subprocess.run(["umount", "-l", d.data_dir], capture_output=True)
