"""A database the daemon cannot write: the daemon keeps serving reads, says "degraded" with the
reason on GET /api/v1/healthz and hs_store_degraded 1 on /metrics, logs the failure with
backoff instead of once a second, and recovers by itself once the file is writable again.

How the database is made read-only: the file is chmod 0444 between two runs. Root ignores file
permissions (CAP_DAC_OVERRIDE), so as root the daemon is started through
``setpriv --bounding-set=-dac_override,-dac_read_search``: still uid 0, but without the
capability, so the mode bits apply to it. SQLite then opens the file read-only and every write
fails with "attempt to write a readonly database"; chmod 0644 makes it writable again."""
import math
import os
import shutil

import pytest

STEPS = {"kind": "test-steps", "steps": 1}


def health(d):
    r = d.get("/api/v1/healthz")
    assert r.status_code == 200, r.text
    return r.json()


def metric(d, name):
    for line in d.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def without_dac_override(d):
    """As root, start the daemon without the capability to ignore file permissions."""
    if os.geteuid() != 0:
        return
    if not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing")
    plain = d.command
    d.command = lambda: ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] + plain()


def db_files(d):
    return [p for p in (d.db_path, d.db_path + "-wal", d.db_path + "-shm") if os.path.exists(p)]


def test_read_only_database_degrades_backs_off_and_recovers(daemon):
    d = daemon()
    assert d.wait_job(d.submit(STEPS)["id"])["state"] == "succeeded"
    assert d.stop() == 0
    for p in db_files(d):
        os.chmod(p, 0o444)
    without_dac_override(d)
    d.start()

    # Degraded, with the reason, and the failures counted; reads still served.
    h = d.wait_until(lambda: (lambda x: x if x["status"] == "degraded" else None)(health(d)))
    assert "readonly" in h["degraded"]["reason"], h
    assert metric(d, "hs_store_degraded") == 1
    r = d.post("/api/v1/jobs", json=STEPS)
    assert r.status_code >= 500 and "not writable" in r.json()["detail"], r.text
    assert d.get("/api/v1/jobs").status_code == 200
    assert d.job(1)["state"] == "succeeded"

    # Backoff: after several failed tries the log holds one line per doubling of the count,
    # and the worker's claim loop stays quiet (it used to log the same error every second).
    d.wait_until(lambda: metric(d, "hs_store_write_failures_total") >= 3, timeout=60)
    failures = metric(d, "hs_store_write_failures_total")
    log = d.log_text()
    lines = log.count("database not writable (failure")
    assert 1 <= lines <= math.floor(math.log2(failures)) + 1, (failures, log)
    assert "claiming a job" not in log, log
    assert "checkpoint of" not in log, log

    # Writable again: recovers without a restart, and takes jobs.
    for p in db_files(d):
        os.chmod(p, 0o644)
    d.wait_until(lambda: health(d)["status"] == "ok", timeout=90, interval=0.5)
    assert "degraded" not in health(d)
    assert metric(d, "hs_store_degraded") == 0
    assert d.wait_job(d.submit(STEPS)["id"])["state"] == "succeeded"
    assert "database writable again" in d.log_text()
