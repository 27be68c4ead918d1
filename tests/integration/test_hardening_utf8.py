"""Invalid UTF-8 is refused at submit with 400 naming the field, and every JSON answer is valid
UTF-8, also where a message quotes (and cuts) user input."""
import pytest

JSON = {"Content-Type": "application/json"}


def strict_json(r):
    import json
    return json.loads(r.content.decode("utf-8", "strict"))


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = strict_json(r)
    assert set(body) == {"error", "detail", "field"}, body
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize("raw, field", [
    (b'{"kind": "test-steps", "steps": 1, "client_id": "ab\xffcd"}', "client_id"),
    (b'{"kind": "test-steps", "steps": 1, "client_id": "\xc3"}', "client_id"),       # cut
    (b'{"kind": "test-steps", "steps": 1, "client_id": "\xed\xa0\x80"}', "client_id"),  # surrogate
    (b'{"kind": "test-steps", "steps": 1, "client_id": "\xc0\xaf"}', "client_id"),   # overlong
    (b'{"kind": "diagnose", "model": "m", "texts": ["fine", "bad \xfe"]}', "texts[1]"),
    (b'{"kind": "test-steps", "steps": 1, "k\xff": 1}', "k\ufffd"),
])
def test_invalid_utf8_in_spec_is_refused_naming_the_field(daemon, raw, field):
    d = daemon()
    r = d.post("/api/v1/jobs", data=raw, headers=JSON)
    if field == "k\ufffd":
        body = assert_error(r, 400)
        assert body["field"].startswith("k"), body
    else:
        body = assert_error(r, 400, field)
    assert "UTF-8" in body["detail"], body
    assert d.get("/api/v1/jobs").json()["jobs"] == []


def test_valid_utf8_is_kept_as_sent(daemon):
    d = daemon()
    cid = "naïve-日本-😀"
    job = d.submit({"kind": "test-steps", "steps": 1, "client_id": cid})
    assert d.job(job["id"])["client_id"] == cid


def test_messages_quoting_cut_input_stay_valid_utf8(daemon):
    d = daemon()
    # each of these is quoted by the daemon cut to a byte count, in the middle of a character
    name = "a" + "é" * 120
    assert_error(d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1, name: 1}), 400)
    assert_error(d.post("/api/v1/jobs", json={"kind": "a" + "é" * 90}), 400, "kind")
    assert_error(d.post("/api/v1/jobs", json={"kind": "surgery", "init": "a" + "é" * 70}), 400, "init")
    assert_error(d.get("/api/v1/jobs/1/log", params={"offset": "a" + "é" * 40}), 400, "offset")
    assert_error(d.get("/api/v1/jobs", params={"since": "é" * 40}), 400, "since")


def test_invalid_utf8_in_query_or_path_is_refused(daemon):
    d = daemon()
    assert_error(d.get("/api/v1/runs/1/curves?name=a%FFb"), 400, "name")
    assert_error(d.post("/api/v1/corpora?name=%C3", data=b"x"), 400, "name")
    assert_error(d.get("/api/v1/nothing/%FF"), 400)
