"""JSON bodies are held to limits before they are parsed: keys per object, nesting depth and
items per array are refused with 400 at once, naming the limit, and such a body never holds up
the HTTP threads (healthz answers while big bodies are being refused). Duplicate top-level keys
are still found (by a linear check)."""
import json
import threading

import requests

JSON = {"Content-Type": "application/json"}


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    if field is not None:
        assert body["field"] == field, body
    return body


def many_keys(n):
    return '{"kind": "test-steps", "steps": 1, ' + ", ".join('"k%d": 1' % i for i in range(n)) + "}"


def test_object_with_too_many_keys_is_refused_naming_the_limit(daemon):
    d = daemon()
    body = assert_error(d.post("/api/v1/jobs", data=many_keys(100000), headers=JSON), 400)
    assert "1000 keys" in body["detail"] and "limit" in body["detail"], body
    # at the limit the body is parsed and validated as usual (unknown field k0)
    assert_error(d.post("/api/v1/jobs", data=many_keys(998), headers=JSON), 400, "k0")


def test_healthz_answers_while_huge_bodies_are_refused(daemon):
    d = daemon()
    body = many_keys(100000)
    answers = []

    def big():
        with requests.Session() as s:
            answers.append(s.post(d.url + "/api/v1/jobs", data=body, headers=JSON, timeout=120))

    threads = [threading.Thread(target=big) for _ in range(8)]  # more than the HTTP threads
    for t in threads:
        t.start()
    health = [requests.get(d.url + "/api/v1/healthz", timeout=20) for _ in range(3)]
    for t in threads:
        t.join()
    assert [h.status_code for h in health] == [200, 200, 200]
    assert len(answers) == 8
    for r in answers:
        assert "limit" in assert_error(r, 400)["detail"]


def test_deep_nesting_is_refused_naming_the_limit(daemon):
    d = daemon()
    deep = '{"kind": "test-steps", "steps": 1, "x": ' + "[" * 40 + "]" * 40 + "}"
    body = assert_error(d.post("/api/v1/jobs", data=deep, headers=JSON), 400)
    assert "32 levels" in body["detail"] and body["field"].startswith("x"), body
    # 1000 levels (what the parser would accept) is refused the same way
    deeper = '{"x": ' + "[" * 1000 + "]" * 1000 + "}"
    assert_error(d.post("/api/v1/jobs", data=deeper, headers=JSON), 400)


def test_long_array_is_refused_naming_field_and_limit(daemon):
    d = daemon()
    spec = {"kind": "diagnose", "model": "m", "texts": ["x"] * 100001}
    body = assert_error(d.post("/api/v1/jobs", json=spec), 400, "texts")
    assert "100000 items" in body["detail"], body


def test_limits_apply_to_schedules_too(daemon):
    d = daemon()
    job = '{"kind": "test-steps", "steps": 1, ' + ", ".join('"k%d": 1' % i for i in range(5000)) + "}"
    body = '{"name": "n", "cron": "@hourly", "job": ' + job + "}"
    r = d.post("/api/v1/schedules", data=body, headers=JSON)
    assert "1000 keys" in assert_error(r, 400, "job")["detail"]


def test_duplicate_keys_are_still_refused(daemon):
    d = daemon()
    body = '{"kind": "test-steps", "steps": 1, "step_ms": 1, "k": 1, "step_ms": 2}'
    assert_error(d.post("/api/v1/jobs", data=body, headers=JSON), 400, "step_ms")
    ok = d.post("/api/v1/jobs", data=json.dumps({"kind": "test-steps", "steps": 1}), headers=JSON)
    assert ok.status_code == 201, ok.text
