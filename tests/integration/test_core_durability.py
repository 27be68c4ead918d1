"""Restart safety and load against the real binary: kill -9 while a job runs, restart, the job
requeued (attempt 2) and finished, no row lost, PRAGMA integrity_check ok; a job out of
attempts fails with "daemon restarted"; a graceful stop requeues without using an attempt;
50 concurrent clients submitting and polling, every job accounted for; a graceful stop in the
middle of a submit burst (submits wait for their group commit with their connection suspended)
exits cleanly and keeps every acknowledged job; disk write errors (a file-size limit) fail
submits with a 500 and lose nothing, and a running job's outcome is recorded once writes work
again."""
import os
import random
import resource
import threading
import time

import requests

FINAL = ("succeeded", "failed", "cancelled")


def test_kill9_requeues_running_job(daemon):
    d = daemon()
    d.post("/api/v1/queue/pause")
    queued = [d.submit({"kind": "test-steps", "steps": 2})["id"] for _ in range(5)]
    d.post("/api/v1/queue/resume")
    long = d.submit({"kind": "test-steps", "steps": 40, "step_ms": 50, "priority": -1})
    for q in queued:
        d.wait_job(q, "succeeded")
    running = d.wait_job(long["id"], "running")
    d.wait_until(lambda: d.job(long["id"])["progress"]["step"] >= 3, timeout=20)
    assert running["attempt"] == 1
    d.kill9()
    with d.db() as db:
        assert db.execute("SELECT state FROM jobs WHERE id=?", (long["id"],)).fetchone()[0] == "running"
    d.start()
    done = d.wait_job(long["id"], timeout=60)
    assert done["state"] == "succeeded" and done["attempt"] == 2
    assert done["result"] == {"steps_done": 40}
    events = d.get("/api/v1/jobs/%d/events" % long["id"]).json()["events"]
    transitions = [(e["from"], e["to"]) for e in events]
    assert transitions == [(None, "queued"), ("queued", "running"), ("running", "queued"),
                           ("queued", "running"), ("running", "succeeded")]
    assert "restart" in events[2]["reason"]
    jobs = d.get("/api/v1/jobs?limit=500").json()["jobs"]
    assert sorted(j["id"] for j in jobs) == sorted(queued + [long["id"]])
    assert all(j["state"] == "succeeded" for j in jobs)
    d.stop()
    with d.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # every transition has its event row
        n_events = db.execute("SELECT COUNT(*) FROM job_events").fetchone()[0]
        assert n_events == 5 * 3 + 5


def test_kill9_without_attempts_left_fails(daemon):
    d = daemon()
    job = d.submit({"kind": "test-steps", "steps": 200, "step_ms": 50, "max_attempts": 1})
    d.wait_job(job["id"], "running")
    d.kill9()
    d.start()
    done = d.wait_job(job["id"])
    assert done["state"] == "failed" and done["error"] == "daemon restarted"


def test_graceful_stop_requeues_without_using_an_attempt(daemon):
    d = daemon()
    job = d.submit({"kind": "test-steps", "steps": 100, "step_ms": 50, "max_attempts": 1})
    d.wait_job(job["id"], "running")
    assert d.stop() == 0
    with d.db() as db:
        state, attempt = db.execute("SELECT state, attempt FROM jobs WHERE id=?",
                                    (job["id"],)).fetchone()
    assert (state, attempt) == ("queued", 0)
    d.start()
    d.wait_job(job["id"], "running")
    d.post("/api/v1/jobs/%d/cancel" % job["id"])
    assert d.wait_job(job["id"])["state"] == "cancelled"


def test_cancel_requested_before_crash_is_honoured(daemon):
    d = daemon()
    d.post("/api/v1/queue/pause")
    job = d.submit({"kind": "test-steps", "steps": 1})
    d.kill9()
    # a crash between the cancel request and the runner seeing it: simulate the stored flag
    with d.db() as db:
        db.execute("UPDATE jobs SET state='running', attempt=1, cancel_requested=1 WHERE id=?",
                   (job["id"],))
    d.start()
    done = d.job(job["id"])
    assert done["state"] == "cancelled"


def test_fifty_concurrent_clients(daemon):
    d = daemon()
    n_clients, per_client = 50, 4
    submitted, errors = {}, []
    lock = threading.Lock()
    stop_polling = threading.Event()

    def client(i):
        s = requests.Session()
        try:
            for k in range(per_client):
                cid = "c%d-%d" % (i, k)
                spec = {"kind": "test-steps", "steps": random.randint(1, 3), "client_id": cid}
                r = s.post(d.url + "/api/v1/jobs", json=spec, timeout=30)
                if r.status_code != 201:
                    errors.append((cid, r.status_code, r.text))
                    continue
                job = r.json()
                with lock:
                    submitted[cid] = job["id"]
                # resubmitting is idempotent
                r2 = s.post(d.url + "/api/v1/jobs", json=spec, timeout=30)
                if r2.status_code != 200 or r2.json()["id"] != job["id"]:
                    errors.append((cid, "resubmit", r2.status_code))
                # poll it and the list
                for _ in range(3):
                    g = s.get(d.url + "/api/v1/jobs/%d" % job["id"], timeout=30)
                    if g.status_code != 200:
                        errors.append((cid, "get", g.status_code))
                    s.get(d.url + "/api/v1/jobs?limit=20", timeout=30)
        except requests.RequestException as e:
            errors.append(("exception", repr(e)))
        finally:
            s.close()

    def poller():
        s = requests.Session()
        since = None
        while not stop_polling.is_set():
            params = {"since": since} if since else {}
            r = s.get(d.url + "/api/v1/jobs", params=params, timeout=30)
            if r.status_code != 200:
                errors.append(("poll", r.status_code))
            else:
                since = r.json()["now"]
            time.sleep(0.02)
        s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    pollers = [threading.Thread(target=poller) for _ in range(2)]
    for t in pollers + threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop_polling.set()
    for t in pollers:
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert len(submitted) == n_clients * per_client
    assert len(set(submitted.values())) == n_clients * per_client
    d.wait_until(lambda: d.get("/api/v1/queue").json()["depth"]["succeeded"] == len(submitted),
                 timeout=120, interval=0.2)
    seen, before = {}, None
    while True:
        params = {"limit": 500}
        if before:
            params["before"] = before
        page = d.get("/api/v1/jobs", params=params).json()
        for j in page["jobs"]:
            seen[j["client_id"]] = (j["id"], j["state"])
        before = page["next_before"]
        if not before:
            break
    assert {c: v[0] for c, v in seen.items()} == submitted
    assert all(v[1] == "succeeded" for v in seen.values())
    d.stop()
    with d.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(submitted)


def test_graceful_stop_during_submit_burst_keeps_every_acknowledged_job(daemon):
    d = daemon()
    d.post("/api/v1/queue/pause")
    acknowledged, lock, stopping = {}, threading.Lock(), threading.Event()

    def client(i):
        s = requests.Session()
        k = 0
        while not stopping.is_set():
            cid = "burst-%d-%d" % (i, k)
            k += 1
            try:
                r = s.post(d.url + "/api/v1/jobs", timeout=10,
                           json={"kind": "test-steps", "steps": 1, "client_id": cid})
            except requests.RequestException:
                continue  # the daemon went away under this request: it was never acknowledged
            if r.status_code == 201:
                with lock:
                    acknowledged[cid] = r.json()["id"]
        s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    d.wait_until(lambda: len(acknowledged) >= 200, timeout=30)
    status = d.stop()  # SIGTERM with submits in flight: no hang, no crash
    assert status == 0, d.log_text()
    stopping.set()
    for t in threads:
        t.join(timeout=30)
    d.start()
    with d.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(db.execute("SELECT client_id, id FROM jobs WHERE client_id LIKE 'burst-%'"))
    assert len(acknowledged) >= 200
    missing = {cid: jid for cid, jid in acknowledged.items() if stored.get(cid) != jid}
    assert not missing
    d.stop()


def test_disk_write_errors_fail_submits_cleanly_and_lose_nothing(daemon):
    """The database cannot grow (RLIMIT_FSIZE lowered on the running daemon, so every write past
    the limit fails with EFBIG): submits get a 500 naming the database error, the daemon keeps
    serving, and once writes work again submits succeed; every acknowledged job survives a
    kill -9, no refused one was stored, and the database passes integrity_check."""
    d = daemon()
    d.post("/api/v1/queue/pause")
    outcome = {}  # client_id -> status

    def submit(cid):
        return d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1, "client_id": cid})

    for i in range(20):
        assert submit("before-%d" % i).status_code == 201
        outcome["before-%d" % i] = 201
    sizes = [os.path.getsize(p) for p in (d.db_path, d.db_path + "-wal") if os.path.exists(p)]
    limit = max(sizes) + 8192
    _, hard = resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))  # the soft limit only
    failed = None
    for i in range(20000):
        cid = "during-%d" % i
        r = submit(cid)
        outcome[cid] = r.status_code
        if r.status_code != 201:
            failed = r
            break
    assert failed is not None, "the file-size limit never made a submit fail"
    assert failed.status_code == 500, failed.text
    assert set(failed.json()) == {"error", "detail", "field"}
    assert "database" in failed.json()["detail"], failed.text
    assert d.get("/api/v1/healthz").status_code == 200  # still serving
    assert d.get("/api/v1/jobs?limit=5").status_code == 200
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def recovered():
        cid = "after-%d" % len(outcome)
        outcome[cid] = submit(cid).status_code
        return outcome[cid] == 201

    d.wait_until(recovered, timeout=20, interval=0.2)
    d.kill9()
    d.start()
    with d.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT client_id FROM jobs")}
    acknowledged = {cid for cid, status in outcome.items() if status == 201}
    refused = {cid for cid, status in outcome.items() if status != 201}
    assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
    assert not (refused & stored), sorted(refused & stored)[:10]
    d.stop()


def test_job_outcome_is_recorded_once_storage_works_again(daemon):
    """Storage fails under a running job (every write past offset 0 fails): the job cannot
    store its progress nor its outcome, stays "running" while the worker retries, and reaches
    its final state, with the database error as its reason, once writes work again."""
    d = daemon()
    job = d.submit({"kind": "test-steps", "steps": 8, "step_ms": 100})
    d.wait_until(lambda: d.job(job["id"])["progress"]["step"] >= 2, timeout=20)
    _, hard = resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
    time.sleep(2.0)  # the steps end meanwhile; their writes and the outcome's all fail
    assert d.job(job["id"])["state"] == "running"
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
    done = d.wait_job(job["id"], timeout=30)
    assert done["state"] == "failed", done
    assert "database" in done["error"], done
    d.wait_until(lambda: "outcome recorded after storage errors" in d.log_text(), timeout=10)
    events = d.get("/api/v1/jobs/%d/events" % job["id"]).json()["events"]
    assert [(e["from"], e["to"]) for e in events] == [(None, "queued"), ("queued", "running"),
                                                      ("running", "failed")]
    d.stop()
