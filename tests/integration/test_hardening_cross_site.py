"""Cross-site requests cannot change state: a state-changing request whose Origin is not the
daemon's own is 403, JSON routes need Content-Type: application/json (415 otherwise, so an
HTML form or a text/plain fetch cannot submit a job), the corpus upload takes text/plain,
application/octet-stream or no Content-Type, and a daemon on a loopback address answers only
requests addressed to a loopback name with its port (421 otherwise: DNS rebinding)."""
import pytest

STEPS = {"kind": "test-steps", "steps": 1}
BODY = '{"kind": "test-steps", "steps": 1}'


def assert_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    return body


def no_jobs(d):
    return d.get("/api/v1/jobs").json()["jobs"] == []


@pytest.mark.parametrize("ctype", [
    None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/jsonx", "json"])
def test_json_routes_need_json_content_type(daemon, ctype):
    d = daemon()
    headers = {"Content-Type": ctype} if ctype else {}
    assert_error(d.post("/api/v1/jobs", data=BODY, headers=headers), 415)
    sched = '{"name": "s", "cron": "@hourly", "job": {"kind": "test-steps", "steps": 1}}'
    assert_error(d.post("/api/v1/schedules", data=sched, headers=headers), 415)
    assert no_jobs(d)


@pytest.mark.parametrize("ctype", [
    "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/json ;charset=UTF-8"])
def test_json_content_type_with_parameters_is_accepted(daemon, ctype):
    d = daemon()
    r = d.post("/api/v1/jobs", data=BODY, headers={"Content-Type": ctype})
    assert r.status_code == 201, r.text


def test_corpus_upload_content_types(daemon):
    d = daemon()
    for i, ctype in enumerate([None, "text/plain", "text/plain; charset=utf-8",
                               "application/octet-stream"]):
        headers = {"Content-Type": ctype} if ctype else {}
        r = d.post("/api/v1/corpora?name=c%d" % i, data=b"some text\n", headers=headers)
        assert r.status_code in (200, 201), (ctype, r.text)
    for ctype in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/json"):
        assert_error(d.post("/api/v1/corpora?name=bad", data=b"x", headers={"Content-Type": ctype}),
                     415)


def test_bodiless_posts_refuse_form_content_types(daemon):
    d = daemon()
    assert_error(d.post("/api/v1/queue/pause", data=b"a=b",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert d.get("/api/v1/queue").json()["paused"] is False
    assert d.post("/api/v1/queue/pause").status_code == 200


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "https://127.0.0.1:{port}", "http://127.0.0.1:1",
    "http://localhost:{port}", "http://127.0.0.1:{port}/x"])
def test_foreign_origin_cannot_change_state(daemon, origin):
    d = daemon()
    o = origin.format(port=d.port)
    assert_error(d.post("/api/v1/jobs", json=STEPS, headers={"Origin": o}), 403)
    assert_error(d.post("/api/v1/queue/pause", headers={"Origin": o}), 403)
    assert d.get("/api/v1/queue").json()["paused"] is False
    assert no_jobs(d)
    # reading is not state-changing: a GET with a foreign Origin is answered
    assert d.get("/api/v1/healthz", headers={"Origin": o}).status_code == 200


def test_own_origin_and_no_origin_are_accepted(daemon):
    d = daemon()
    r = d.post("/api/v1/jobs", json=STEPS, headers={"Origin": "http://127.0.0.1:%d" % d.port})
    assert r.status_code == 201, r.text
    r = d.post("/api/v1/jobs", json=STEPS,
               headers={"Origin": "http://localhost:%d" % d.port, "Host": "localhost:%d" % d.port})
    assert r.status_code == 201, r.text
    assert d.post("/api/v1/jobs", json=STEPS).status_code == 201


def test_origin_is_checked_before_auth_and_with_a_token(daemon):
    d = daemon(token="s3cret")
    assert_error(d.post("/api/v1/jobs", json=STEPS, headers={"Origin": "http://evil.example"}), 403)
    assert d.post("/api/v1/jobs", json=STEPS).status_code == 201


@pytest.mark.parametrize("host", [
    "evil.example:{port}", "evil.example", "127.0.0.1", "127.0.0.1:1", "localhost:1",
    "10.0.0.1:{port}", "localhost.evil.example:{port}", "[::2]:{port}", "bad host"])
def test_loopback_daemon_refuses_foreign_host(daemon, host):
    d = daemon()
    h = host.format(port=d.port)
    assert_error(d.get("/api/v1/jobs", headers={"Host": h}), 421)
    assert_error(d.post("/api/v1/jobs", json=STEPS, headers={"Host": h}), 421)
    assert no_jobs(d)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}",
                                  "127.1.2.3:{port}", "[::1]:{port}"])
def test_loopback_daemon_accepts_loopback_hosts(daemon, host):
    d = daemon()
    r = d.get("/api/v1/healthz", headers={"Host": host.format(port=d.port)})
    assert r.status_code == 200, r.text
