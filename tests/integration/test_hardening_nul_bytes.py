"""NUL characters never truncate what a client sent: \\u0000 in any JSON string or key, and
%00 in the path or a query parameter, are refused with 400 naming the field."""
import pytest

JSON = {"Content-Type": "application/json"}


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize("body, field", [
    ('{"kind": "test-steps", "steps": 1, "client_id": "abc\\u0000def"}', "client_id"),
    ('{"kind": "test-\\u0000steps", "steps": 1}', "kind"),
    ('{"kind": "diagnose", "model": "m", "texts": ["ok", "a\\u0000b"]}', "texts[1]"),
    ('{"kind": "test-steps", "steps": 1, "ste\\u0000ps": 2}', "ste\\u0000ps"),
])
def test_nul_in_json_string_is_refused_naming_the_field(daemon, body, field):
    d = daemon()
    b = assert_error(d.post("/api/v1/jobs", data=body, headers=JSON), 400, field)
    assert "NUL" in b["detail"], b
    assert d.get("/api/v1/jobs").json()["jobs"] == []


def test_nul_in_schedule_fields_is_refused(daemon):
    d = daemon()
    body = '{"name": "a\\u0000b", "cron": "@hourly", "job": {"kind": "test-steps", "steps": 1}}'
    assert_error(d.post("/api/v1/schedules", data=body, headers=JSON), 400, "name")
    body = '{"name": "a", "cron": "@hourly", "job": {"kind": "test-steps", "steps": 1, "client_id": "x\\u0000"}}'
    assert_error(d.post("/api/v1/schedules", data=body, headers=JSON), 400, "job.client_id")


def test_nul_in_query_and_path_is_refused(daemon):
    d = daemon()
    assert_error(d.post("/api/v1/corpora?name=abc%00def", data=b"text"), 400, "name")
    assert not d.get("/api/v1/corpora").json().get("corpora")
    assert_error(d.get("/api/v1/jobs?kind=test%00steps"), 400, "kind")
    assert_error(d.get("/api/v1/jobs%00/1"), 400)
