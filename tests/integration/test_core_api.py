"""The daemon core's HTTP API against the real binary: every endpoint and error status, auth,
pause/resume, cancel of queued and running jobs, log offsets, idempotent submit, paging and
since=, the OpenAPI document against the real routes, /metrics, static files, corpora, path
confinement. Uses the test-only kind "test-steps" of the test build."""
import os
import time

import pytest

STEPS = {"kind": "test-steps"}
JSON_TYPE = {"Content-Type": "application/json"}
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def spec(**kw):
    s = dict(STEPS)
    s.update(kw)
    return s


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    assert body["error"] and body["detail"]
    if field is not None:
        assert body["field"] == field, body


def test_health_version_kinds(daemon):
    d = daemon()
    r = d.get("/api/v1/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    v = d.get("/api/v1/version").json()
    assert v["version"] and "cpu" in v["backends"]
    kinds = d.get("/api/v1/kinds").json()["kinds"]
    ts = [k for k in kinds if k["name"] == "test-steps"]
    assert len(ts) == 1 and ts[0]["description"]
    fields = {f["name"]: f for f in ts[0]["fields"]}
    assert fields["steps"]["required"] is True and fields["steps"]["type"] == "integer"
    assert fields["steps"]["min"] == 1 and fields["steps"]["max"] == 1000000
    assert fields["fail_at"]["required"] is False
    for f in fields.values():
        assert set(f) >= {"name", "type", "required", "min", "max", "enum", "help"}


def test_submit_run_and_read_back(daemon):
    d = daemon()
    r = d.post("/api/v1/jobs", json=spec(steps=4, step_ms=5))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["kind"] == "test-steps"
    assert job["spec"] == spec(steps=4, step_ms=5)
    assert job["max_attempts"] == 3 and job["priority"] == 0
    done = d.wait_job(job["id"])
    assert done["state"] == "succeeded", done
    assert done["result"] == {"steps_done": 4}
    assert done["progress"] == {"step": 4, "total": 4, "message": "step 4 of 4"}
    assert done["attempt"] == 1
    for key in ("created_at", "started_at", "finished_at", "updated_at"):
        assert done[key].endswith("Z") and len(done[key]) == 24, done[key]
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    # the run view and its curve: loss = 1/(step+1)
    run = d.get("/api/v1/runs/%d" % job["id"]).json()
    assert run["result"] == {"steps_done": 4}
    pts = d.get("/api/v1/runs/%d/curves?name=loss" % job["id"]).json()["points"]
    assert [p["step"] for p in pts] == [1, 2, 3, 4]
    for p in pts:
        assert abs(p["value"] - 1.0 / (p["step"] + 1)) < 1e-12
    assert d.get("/api/v1/runs/%d/curves?name=nothing" % job["id"]).json() == {"points": []}
    assert d.get("/api/v1/runs/%d/heads" % job["id"]).json() == {"heads": []}
    assert d.get("/api/v1/runs/%d/checkpoints" % job["id"]).json() == {"checkpoints": []}
    runs = d.get("/api/v1/runs?kind=test-steps").json()["runs"]
    assert [x["id"] for x in runs] == [job["id"]]
    assert d.get("/api/v1/runs?state=failed").json()["runs"] == []
    events = d.get("/api/v1/jobs/%d/events" % job["id"]).json()["events"]
    assert [(e["from"], e["to"]) for e in events] == [
        (None, "queued"), ("queued", "running"), ("running", "succeeded")]
    # the run directory exists
    assert os.path.isdir(os.path.join(d.data_dir, "runs", str(job["id"])))


def test_failing_job(daemon):
    d = daemon()
    job = d.submit(spec(steps=5, fail_at=3))
    done = d.wait_job(job["id"])
    assert done["state"] == "failed"
    assert done["error"] == "fail_at reached"
    assert done["result"] is None
    log = d.get("/api/v1/jobs/%d/log" % job["id"]).json()
    assert "failing at step 3" in log["text"] and log["finished"] is True


VALIDATION_CASES = [
    ({"steps": 1}, "kind"),
    ({"kind": 7, "steps": 1}, "kind"),
    ({"kind": "no-such-kind", "steps": 1}, "kind"),
    ({"kind": "test-steps"}, "steps"),
    ({"kind": "test-steps", "steps": 1, "bogus": True}, "bogus"),
    ({"kind": "test-steps", "steps": "3"}, "steps"),
    ({"kind": "test-steps", "steps": 2.5}, "steps"),
    ({"kind": "test-steps", "steps": 0}, "steps"),
    ({"kind": "test-steps", "steps": 1000001}, "steps"),
    ({"kind": "test-steps", "steps": 1, "step_ms": 60001}, "step_ms"),
    ({"kind": "test-steps", "steps": 1, "priority": "high"}, "priority"),
    ({"kind": "test-steps", "steps": 1, "max_attempts": 0}, "max_attempts"),
    ({"kind": "test-steps", "steps": 1, "max_attempts": 11}, "max_attempts"),
    ({"kind": "test-steps", "steps": 1, "client_id": 5}, "client_id"),
]


def test_validation_errors(daemon):
    d = daemon()
    for body, field in VALIDATION_CASES:
        assert_error(d.post("/api/v1/jobs", json=body), 400, field)
    assert d.get("/api/v1/jobs").json()["jobs"] == []


def test_malformed_bodies(daemon):
    d = daemon()
    assert_error(d.post("/api/v1/jobs", data=b"{not json", headers=JSON_TYPE), 400)
    assert_error(d.post("/api/v1/jobs", data=b"[1, 2]", headers=JSON_TYPE), 400)
    assert_error(d.post("/api/v1/jobs", data=b"", headers=JSON_TYPE), 400)
    assert_error(d.post("/api/v1/jobs", data=b'{"kind": "test-steps", "steps": 1} trailing', headers=JSON_TYPE), 400)


def test_not_found_and_method_errors(daemon):
    d = daemon()
    assert_error(d.get("/api/v1/jobs/999"), 404)
    assert_error(d.get("/api/v1/jobs/999/log"), 404)
    assert_error(d.post("/api/v1/jobs/999/cancel"), 404)
    assert_error(d.get("/api/v1/runs/999"), 404)
    assert_error(d.get("/api/v1/runs/999/heads"), 404)
    assert_error(d.get("/api/v1/schedules/999"), 404)
    assert_error(d.get("/api/v1/no/such/route"), 404)
    assert_error(d.get("/api/v1/jobs/abc"), 404)
    r = d.delete("/api/v1/jobs")
    assert_error(r, 405)
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]
    assert_error(d.patch("/api/v1/jobs/1", json={}), 405)
    assert_error(d.get("/api/v1/jobs/1/cancel"), 405)
    assert_error(d.get("/api/v1/jobs?limit=0"), 400, "limit")
    assert_error(d.get("/api/v1/jobs?limit=501"), 400, "limit")
    assert_error(d.get("/api/v1/jobs?state=bogus"), 400, "state")
    assert_error(d.get("/api/v1/jobs?since=yesterday"), 400, "since")


def test_body_limit(daemon):
    d = daemon(args=["--max-body", "1024"])
    big = spec(steps=1, client_id="x" * 2000)
    assert_error(d.post("/api/v1/jobs", json=big), 413)
    assert_error(d.post("/api/v1/corpora?name=big", data=b"a" * 5000), 413)
    # below the limit still works on the same daemon
    assert d.post("/api/v1/jobs", json=spec(steps=1)).status_code == 201


def test_auth(daemon):
    d = daemon(token="s3cret-token")
    # reads are open
    assert d.get("/api/v1/jobs", auth=False).status_code == 200
    # mutating requests need the bearer token
    r = d.post("/api/v1/jobs", json=spec(steps=1), auth=False)
    assert_error(r, 401)
    r = d.post("/api/v1/jobs", json=spec(steps=1), auth=False,
               headers={"Authorization": "Bearer s3cret-tokeX"})
    assert_error(r, 401)
    r = d.post("/api/v1/jobs", json=spec(steps=1), auth=False,
               headers={"Authorization": "Bearer s3cret-token-longer"})
    assert_error(r, 401)
    r = d.post("/api/v1/jobs", json=spec(steps=1), auth=False,
               headers={"Authorization": "s3cret-token"})
    assert_error(r, 401)
    assert_error(d.post("/api/v1/queue/pause", auth=False), 401)
    assert_error(d.post("/api/v1/schedules", json={}, auth=False), 401)
    assert_error(d.delete("/api/v1/schedules/1", auth=False), 401)
    assert d.get("/api/v1/jobs").json()["jobs"] == []
    job = d.submit(spec(steps=1))
    assert d.wait_job(job["id"])["state"] == "succeeded"


def test_no_auth_without_token_file(daemon):
    d = daemon()
    r = d.post("/api/v1/jobs", json=spec(steps=1), headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 201


def test_idempotent_submit(daemon):
    d = daemon()
    r1 = d.post("/api/v1/jobs", json=spec(steps=1, client_id="abc-1"))
    assert r1.status_code == 201
    r2 = d.post("/api/v1/jobs", json=spec(steps=2, client_id="abc-1"))
    assert r2.status_code == 200
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.json()["spec"]["steps"] == 1
    assert len(d.get("/api/v1/jobs").json()["jobs"]) == 1
    r3 = d.post("/api/v1/jobs", json=spec(steps=1, client_id="abc-2"))
    assert r3.status_code == 201 and r3.json()["id"] != r1.json()["id"]


def test_pause_resume_and_priority(daemon):
    d = daemon()
    q = d.post("/api/v1/queue/pause")
    assert q.status_code == 200 and q.json()["paused"] is True
    low = d.submit(spec(steps=1, priority=0))
    high = d.submit(spec(steps=1, priority=5))
    low2 = d.submit(spec(steps=1, priority=0))
    time.sleep(0.5)
    queue = d.get("/api/v1/queue").json()
    assert queue["paused"] is True
    assert queue["depth"]["queued"] == 3 and queue["depth"]["running"] == 0
    assert d.job(low["id"])["state"] == "queued"
    r = d.post("/api/v1/queue/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    for j in (low, high, low2):
        d.wait_job(j["id"], "succeeded")
    started = {j["id"]: d.job(j["id"])["started_at"] for j in (low, high, low2)}
    # priority first, then FIFO
    assert started[high["id"]] <= started[low["id"]] <= started[low2["id"]]


def test_pause_lets_running_job_finish(daemon):
    d = daemon()
    job = d.submit(spec(steps=6, step_ms=100))
    d.wait_job(job["id"], "running")
    d.post("/api/v1/queue/pause")
    nxt = d.submit(spec(steps=1))
    assert d.wait_job(job["id"])["state"] == "succeeded"
    time.sleep(0.5)
    assert d.job(nxt["id"])["state"] == "queued"
    d.post("/api/v1/queue/resume")
    assert d.wait_job(nxt["id"])["state"] == "succeeded"


def test_pause_survives_restart(daemon):
    d = daemon()
    d.post("/api/v1/queue/pause")
    job = d.submit(spec(steps=1))
    d.restart()
    assert d.get("/api/v1/queue").json()["paused"] is True
    time.sleep(0.5)
    assert d.job(job["id"])["state"] == "queued"
    d.post("/api/v1/queue/resume")
    assert d.wait_job(job["id"])["state"] == "succeeded"


def test_queue_workers(daemon):
    d = daemon()
    job = d.submit(spec(steps=50, step_ms=50))
    d.wait_job(job["id"], "running")
    q = d.get("/api/v1/queue").json()
    assert len(q["workers"]) == 1
    w = q["workers"][0]
    assert w["device"] == "cpu" and w["description"] and w["job_id"] == job["id"]
    assert set(q["depth"]) == {"queued", "running", "succeeded", "failed", "cancelled"}
    d.post("/api/v1/jobs/%d/cancel" % job["id"])
    d.wait_job(job["id"])


def test_cancel_queued_and_running(daemon):
    d = daemon()
    running = d.submit(spec(steps=1000, step_ms=20))
    d.wait_job(running["id"], "running")
    queued = d.submit(spec(steps=1))
    r = d.post("/api/v1/jobs/%d/cancel" % queued["id"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = d.post("/api/v1/jobs/%d/cancel" % running["id"])
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    done = d.wait_job(running["id"], timeout=20)
    assert done["state"] == "cancelled"
    assert done["progress"]["step"] < 1000
    assert d.job(queued["id"])["state"] == "cancelled"
    assert d.job(queued["id"])["started_at"] is None
    # cancelling a finished job is a conflict
    assert_error(d.post("/api/v1/jobs/%d/cancel" % queued["id"]), 409)
    log = d.get("/api/v1/jobs/%d/log" % running["id"]).json()
    assert "cancelled" in log["text"]


def test_log_offsets(daemon):
    d = daemon()
    job = d.submit(spec(steps=30, step_ms=30))
    text, offset, chunks = "", 0, 0
    deadline = time.time() + 30
    while time.time() < deadline:
        r = d.get("/api/v1/jobs/%d/log?offset=%d" % (job["id"], offset)).json()
        assert r["offset"] == offset
        assert r["next_offset"] == offset + len(r["text"].encode())
        if r["text"]:
            chunks += 1
        text += r["text"]
        offset = r["next_offset"]
        if r["finished"]:
            break
        time.sleep(0.05)
    assert chunks >= 2, "the log should have been read while it grew"
    lines = [ln for ln in text.splitlines() if ln]
    for i in range(1, 31):
        assert sum(ln.endswith(" step %d of 30" % i) for ln in lines) == 1
    with open(os.path.join(d.data_dir, "logs", "%d.log" % job["id"])) as f:
        assert f.read() == text
    r = d.get("/api/v1/jobs/%d/log?offset=%d" % (job["id"], offset)).json()
    assert r["text"] == "" and r["next_offset"] == offset and r["finished"] is True
    assert_error(d.get("/api/v1/jobs/%d/log?offset=%d" % (job["id"], offset + 10)), 400, "offset")
    assert_error(d.get("/api/v1/jobs/%d/log?offset=-1" % job["id"]), 400, "offset")


def test_listing_filters_paging_since(daemon):
    d = daemon()
    d.post("/api/v1/queue/pause")
    ids = [d.submit(spec(steps=1))["id"] for _ in range(7)]
    page1 = d.get("/api/v1/jobs?limit=3").json()
    assert [j["id"] for j in page1["jobs"]] == ids[::-1][:3]
    assert page1["next_before"] == ids[4]
    page2 = d.get("/api/v1/jobs?limit=3&before=%d" % page1["next_before"]).json()
    assert [j["id"] for j in page2["jobs"]] == ids[::-1][3:6]
    page3 = d.get("/api/v1/jobs?limit=3&before=%d" % page2["next_before"]).json()
    assert [j["id"] for j in page3["jobs"]] == [ids[0]]
    assert page3["next_before"] is None
    assert len(d.get("/api/v1/jobs?state=queued").json()["jobs"]) == 7
    assert d.get("/api/v1/jobs?kind=other").json()["jobs"] == []
    now = d.get("/api/v1/jobs").json()["now"]
    time.sleep(1.5)
    later = d.get("/api/v1/jobs").json()["now"]
    # nothing changed since `later`
    assert d.get("/api/v1/jobs", params={"since": later}).json()["jobs"] == []
    d.post("/api/v1/jobs/%d/cancel" % ids[2])
    changed = d.get("/api/v1/jobs", params={"since": later}).json()["jobs"]
    assert [j["id"] for j in changed] == [ids[2]]
    assert changed[0]["state"] == "cancelled"
    assert len(d.get("/api/v1/jobs", params={"since": now}).json()["jobs"]) >= 1


def test_corpora_upload_and_confinement(daemon):
    d = daemon()
    r = d.post("/api/v1/corpora?name=wiki.txt", data="hello corpus\n".encode())
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "upload:wiki.txt", "bytes": 13}
    with open(os.path.join(d.data_dir, "corpora", "wiki.txt"), "rb") as f:
        assert f.read() == b"hello corpus\n"
    listing = d.get("/api/v1/corpora").json()["corpora"]
    assert listing == [{"name": "upload:wiki.txt", "bytes": 13}]
    assert_error(d.post("/api/v1/corpora?name=../evil", data=b"x"), 400, "name")
    assert_error(d.post("/api/v1/corpora?name=a/b", data=b"x"), 400, "name")
    assert_error(d.post("/api/v1/corpora", data=b"x"), 400, "name")
    assert_error(d.post("/api/v1/corpora?name=empty", data=b""), 400)
    assert not os.path.exists(os.path.join(d.data_dir, "evil"))


def test_openapi_matches_routes(daemon):
    d = daemon()
    doc = d.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    expected = {
        ("get", "/api/v1/healthz"), ("get", "/api/v1/version"), ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/kinds"), ("get", "/api/v1/queue"), ("post", "/api/v1/queue/pause"),
        ("post", "/api/v1/queue/resume"), ("post", "/api/v1/jobs"), ("get", "/api/v1/jobs"),
        ("get", "/api/v1/jobs/{id}"), ("post", "/api/v1/jobs/{id}/cancel"),
        ("get", "/api/v1/jobs/{id}/log"), ("get", "/api/v1/runs"), ("get", "/api/v1/runs/{id}"),
        ("get", "/api/v1/runs/{id}/heads"), ("get", "/api/v1/runs/{id}/curves"),
        ("get", "/api/v1/runs/{id}/checkpoints"), ("post", "/api/v1/corpora"),
        ("get", "/api/v1/corpora"), ("post", "/api/v1/schedules"), ("get", "/api/v1/schedules"),
        ("get", "/api/v1/schedules/{id}"), ("patch", "/api/v1/schedules/{id}"),
        ("delete", "/api/v1/schedules/{id}"), ("get", "/metrics"),
        ("patch", "/api/v1/runs/{id}"), ("get", "/api/v1/compare"), ("get", "/api/v1/sick-bands"),
        ("get", "/api/v1/schedules/{id}/runs"),
    }
    documented = {(m, p) for p, item in paths.items() for m in item}
    assert expected <= documented, expected - documented
    # every documented operation is a real route: it never answers 404-for-unknown-route or 405
    d.post("/api/v1/queue/pause")
    job = d.submit(spec(steps=1))
    sched = d.post("/api/v1/schedules", json={
        "name": "doc", "cron": "@daily", "job": spec(steps=1), "enabled": False}).json()
    for method, path in sorted(documented):
        op = paths[path][method]
        assert op["summary"] and op["responses"]
        url = path.replace("{id}", str(sched["id"] if "schedules" in path else job["id"]))
        if method == "delete":
            continue  # checked below, after the others used the schedule
        if path == "/api/v1/corpora" and method == "post":
            url += "?name=doc.txt"
        r = d.request(method.upper(), url, json={} if method in ("post", "patch") else None)
        assert r.status_code != 405, (method, path, r.text)
        if r.status_code == 404:
            assert "no route" not in r.json()["detail"], (method, path)
        # the documented statuses include the one we got
        assert str(r.status_code) in op["responses"], (method, path, r.status_code)
    r = d.delete("/api/v1/schedules/%d" % sched["id"])
    assert r.status_code == 200


def test_metrics(daemon):
    d = daemon()
    ok = d.submit(spec(steps=1))
    bad = d.submit(spec(steps=2, fail_at=1))
    d.wait_job(ok["id"])
    d.wait_job(bad["id"])
    d.get("/api/v1/jobs/12345")
    text = d.get("/metrics").text
    lines = text.splitlines()
    assert 'hs_jobs{state="succeeded"} 1' in lines
    assert 'hs_jobs{state="failed"} 1' in lines
    assert 'hs_jobs_finished_total{kind="test-steps",state="succeeded"} 1' in lines
    assert 'hs_jobs_finished_total{kind="test-steps",state="failed"} 1' in lines
    assert 'hs_job_duration_seconds_count{kind="test-steps"} 2' in lines
    assert 'hs_job_duration_seconds_bucket{kind="test-steps",le="+Inf"} 2' in lines
    assert any(ln.startswith('hs_http_requests_total{method="POST",route="/api/v1/jobs",status="201"} 2')
               for ln in lines), text
    assert 'hs_http_requests_total{method="GET",route="/api/v1/jobs/{id}",status="404"} 1' in lines
    assert "# TYPE hs_job_duration_seconds histogram" in lines


def test_static_files(daemon):
    d = daemon()
    r = d.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    with open(os.path.join(REPO_ROOT, "web", "index.html"), "rb") as f:
        assert r.content == f.read()
    r = d.get("/index.html")
    assert r.status_code == 200
    r = d.get("/vendor/chart.js")
    if os.path.exists("/usr/share/javascript/chart.js/chart.umd.js") or \
            os.path.exists("/usr/share/javascript/chart.js/chart.min.js"):
        assert r.status_code == 200 and "javascript" in r.headers["Content-Type"]
        assert len(r.content) > 10000
    assert_error(d.get("/no-such-file.html"), 404)
    assert_error(d.get("/../etc/passwd"), 404)
    assert_error(d.post("/index.html", data=b"x"), 405)


def test_run_inline(daemon, tmp_path):
    d = daemon(start=False)
    job = tmp_path / "job.json"
    job.write_text('{"kind": "test-steps", "steps": 3}')
    p = d.run_cli("run", "--data-dir", str(tmp_path / "var"), str(job), "--details")
    assert p.returncode == 0, p.stderr
    import json
    out = json.loads(p.stdout)
    assert out["result"] == {"steps_done": 3}
    assert [c["value"] for c in out["curves"]] == [0.5, 1 / 3, 0.25]
    p = d.run_cli("run", "--data-dir", str(tmp_path / "var"), str(job))
    assert p.returncode == 0 and json.loads(p.stdout) == {"steps_done": 3}
    job.write_text('{"kind": "test-steps", "steps": 3, "fail_at": 2}')
    p = d.run_cli("run", "--data-dir", str(tmp_path / "var"), str(job))
    assert p.returncode == 1 and "fail_at reached" in p.stderr
    job.write_text('{"kind": "test-steps", "steps": 3, "nope": 1}')
    p = d.run_cli("run", "--data-dir", str(tmp_path / "var"), str(job))
    assert p.returncode == 2 and "nope" in p.stderr


def test_help_documents_flags(daemon):
    d = daemon(start=False)
    p = d.run_cli("--help")
    assert p.returncode == 0
    for flag in ("--listen", "--data-dir", "--model-root", "--corpus-root", "--device",
                 "--token-file", "--max-body"):
        assert flag in p.stdout, flag
    p = d.run_cli("serve", "--bogus")
    assert p.returncode == 2


def test_bad_device_refused_at_start(daemon):
    d = daemon(devices=["tpu:0"], start=False)
    with pytest.raises(AssertionError):
        d.start(timeout=10)
    assert "tpu:0" in d.log_text()


def test_spec_names_stay_inside_their_roots(daemon):
    """Names in a spec that resolve to files are confined to their roots (through the kinds'
    checks, which use daemon/store/paths.c): '..', absolute paths and symlinks out are a 400."""
    d = daemon()
    kinds = {k["name"] for k in d.get("/api/v1/kinds").json()["kinds"]}
    if "diagnose" not in kinds:
        pytest.skip("the diagnose kind is not in this build")
    outside = os.path.join(d.base_dir, "outside")
    os.makedirs(outside)
    os.symlink(outside, os.path.join(d.model_root, "escape"))
    with open(os.path.join(d.base_dir, "secret.txt"), "w") as f:
        f.write("secret")
    os.symlink(os.path.join(d.base_dir, "secret.txt"), os.path.join(d.corpus_root, "leak.txt"))
    for model in ("../outside", "/etc", "escape", "run:1/../../x"):
        r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": model, "texts": ["a b"]})
        assert_error(r, 400, "model")
    p = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert p.returncode == 0, p.stderr
    with open(os.path.join(d.corpus_root, "ok.txt"), "w") as f:
        f.write("hello there")
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "demo", "text_file": "ok.txt"})
    assert r.status_code == 201, r.text
    d.post("/api/v1/jobs/%d/cancel" % r.json()["id"])
    for text_file in ("../secret.txt", "/etc/passwd", "leak.txt", "upload:../x"):
        r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "demo", "text_file": text_file})
        assert_error(r, 400, "text_file")
    assert len(d.get("/api/v1/jobs").json()["jobs"]) == 1
