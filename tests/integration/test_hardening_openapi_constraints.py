"""The served OpenAPI document says what validation enforces. The test walks the document:
for every job kind's schema, the schedule body and the query parameters, each documented
constraint (type, minimum/maximum, exclusiveMinimum, enum, minLength/maxLength,
minItems/maxItems, item type, required, additionalProperties false) is violated in one request
that must be refused with 400 naming that field, and a value just inside it must pass the field
check (201, or a 400 about another field from the kind's own cross-field checks)."""
import copy
import math

import pytest

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def doc_daemon(daemon):
    d = daemon()
    assert d.post("/api/v1/queue/pause").status_code == 200  # nothing submitted here runs
    return d, d.get("/api/v1/openapi.json").json()


def resolve(doc, schema):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def valid_value(s):
    """A value inside every constraint of schema s (the smallest one, where it matters)."""
    if "enum" in s:
        return s["enum"][0]
    t = s.get("type")
    if t == "string":
        return "x" * max(1, s.get("minLength", 1))
    if t == "integer":
        lo = s.get("minimum", 0)
        return int(lo) + (1 if s.get("exclusiveMinimum") else 0)
    if t == "number":
        lo = s.get("minimum", 0.0)
        if s.get("exclusiveMinimum"):
            hi = s.get("maximum", lo + 1.0)
            return lo + min(1e-3, (hi - lo) / 2)
        return lo
    if t == "boolean":
        return False
    if t == "array":
        return [valid_value(s["items"])] * s.get("minItems", 0)
    if t == "object":
        return {}
    return None


def violations(s):
    """(description, value) pairs that each break one documented constraint of s."""
    out = []
    t = s.get("type")
    wrong = {"string": 12345, "integer": "7", "number": "7", "boolean": "true",
             "array": "x", "object": [1]}
    if t in wrong:
        out.append(("type " + t, wrong[t]))
    if t == "integer":
        out.append(("integral", (s.get("minimum", 0) or 0) + 1.5))
    if t in ("integer", "number"):
        if "minimum" in s:
            lo = s["minimum"]
            out.append(("minimum", lo if s.get("exclusiveMinimum") else
                        (lo - 1 if t == "integer" else lo - max(abs(lo) * 1e-6, 1e-9))))
        if "maximum" in s:
            hi = s["maximum"]
            out.append(("maximum", hi + 1 if t == "integer" else hi + max(abs(hi) * 1e-6, 1e-9)))
    if "enum" in s:
        out.append(("enum", "not-" + s["enum"][0]))
    if t == "string":
        if s.get("minLength", 0) > 0:
            out.append(("minLength", "x" * (s["minLength"] - 1)))
        if "maxLength" in s:
            out.append(("maxLength", "é" * (s["maxLength"] + 1)))
    if t == "array":
        if s.get("minItems", 0) > 0:
            out.append(("minItems", [valid_value(s["items"])] * (s["minItems"] - 1)))
        if "maxItems" in s:
            out.append(("maxItems", [valid_value(s["items"])] * (s["maxItems"] + 1)))
        out.append(("items", [{"not": "an item"}] + [valid_value(s["items"])] * max(0, s.get("minItems", 1) - 1)))
    return out


def boundary_values(s):
    """Values at the edges of s's constraints that validation must accept."""
    vals = [valid_value(s)]
    t = s.get("type")
    if t == "integer" and "maximum" in s:
        vals.append(int(s["maximum"]))
    if t == "number" and "maximum" in s:
        vals.append(s["maximum"])
    if t == "string" and "maxLength" in s and "enum" not in s:
        vals.append("é" * s["maxLength"])  # lengths count characters, not bytes
    if "enum" in s:
        vals.extend(s["enum"])
    if t == "array" and "maxItems" in s and s["maxItems"] <= 10000:
        vals.append([valid_value(s["items"])] * s["maxItems"])
    return vals


def kind_schemas(doc):
    spec = doc["components"]["schemas"]["JobSpec"]
    return [resolve(doc, ref) for ref in spec["oneOf"]]


def base_spec(schema):
    spec = {"kind": schema["properties"]["kind"]["enum"][0]}
    for name in schema["required"]:
        if name != "kind":
            spec[name] = valid_value(schema["properties"][name])
    return spec


def submit(d, spec):
    return d.post("/api/v1/jobs", json=spec)


def test_every_kind_is_a_closed_schema(doc_daemon):
    d, doc = doc_daemon
    kinds = {k["name"] for k in d.get("/api/v1/kinds").json()["kinds"]}
    schemas = kind_schemas(doc)
    assert {s["properties"]["kind"]["enum"][0] for s in schemas} == kinds
    for s in schemas:
        assert s["additionalProperties"] is False and "kind" in s["required"]


def test_every_documented_field_constraint_is_enforced(doc_daemon):
    d, doc = doc_daemon
    checked = 0
    for schema in kind_schemas(doc):
        base = base_spec(schema)
        for name, prop in schema["properties"].items():
            if name == "kind":
                continue
            for what, bad in violations(prop):
                spec = copy.deepcopy(base)
                spec[name] = bad
                r = submit(d, spec)
                assert r.status_code == 400 and r.json()["field"] == name, \
                    (spec["kind"], name, what, r.status_code, r.text[:300])
                checked += 1
            for good in boundary_values(prop):
                spec = copy.deepcopy(base)
                spec[name] = good
                r = submit(d, spec)
                # accepted, or refused by the kind's own checks (another field, or this one
                # naming a model or file that does not exist), never by a field constraint
                # (a run name is also unique: the same boundary name twice is a 409)
                assert r.status_code == 201 or (r.status_code == 400 and (
                    r.json()["field"] != name or "must be" not in r.json()["detail"])) or (
                    r.status_code == 409 and name == "name"), \
                    (spec["kind"], name, "boundary", good if not isinstance(good, list) else len(good),
                     r.status_code, r.text[:300])
    assert checked > 50


def test_required_and_unknown_fields(doc_daemon):
    d, doc = doc_daemon
    for schema in kind_schemas(doc):
        base = base_spec(schema)
        for name in schema["required"]:
            spec = {k: v for k, v in base.items() if k != name}
            r = submit(d, spec)
            assert r.status_code == 400 and r.json()["field"] == name, (name, r.text)
        spec = dict(base, not_a_documented_field=1)
        r = submit(d, spec)
        assert r.status_code == 400 and r.json()["field"] == "not_a_documented_field", r.text
    # the test kind with its required fields only is accepted
    steps = [s for s in kind_schemas(doc) if s["properties"]["kind"]["enum"] == ["test-steps"]][0]
    assert submit(d, base_spec(steps)).status_code == 201


def test_schedule_body_constraints(doc_daemon):
    d, doc = doc_daemon
    create = doc["components"]["schemas"]["ScheduleCreate"]
    assert create["additionalProperties"] is False
    base = {"name": "s", "cron": "@hourly", "job": {"kind": "test-steps", "steps": 1}, "enabled": False}
    for name in create["required"]:
        r = d.post("/api/v1/schedules", json={k: v for k, v in base.items() if k != name})
        assert r.status_code == 400 and r.json()["field"] == name, r.text
    for name, prop in create["properties"].items():
        for what, bad in violations(prop):
            r = d.post("/api/v1/schedules", json=dict(base, **{name: bad}))
            assert r.status_code == 400 and r.json()["field"] == name, (name, what, r.text)
    r = d.post("/api/v1/schedules", json=dict(base, extra=1))
    assert r.status_code == 400 and r.json()["field"] == "extra"
    # job: a job spec without client_id
    r = d.post("/api/v1/schedules", json=dict(base, job={"kind": "test-steps", "steps": 1, "client_id": "c"}))
    assert r.status_code == 400 and r.json()["field"].startswith("job"), r.text
    r = d.post("/api/v1/schedules", json=dict(base, job={"kind": "test-steps", "steps": 0}))
    assert r.status_code == 400 and r.json()["field"] == "job.steps", r.text
    r = d.post("/api/v1/schedules", json=dict(base, name="é" * create["properties"]["name"]["maxLength"]))
    assert r.status_code in (201, 400), r.text
    assert d.post("/api/v1/schedules", json=base).status_code == 201


def test_query_parameter_constraints(doc_daemon):
    d, doc = doc_daemon
    job = d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1}).json()
    sched = d.post("/api/v1/schedules", json={"name": "q", "cron": "@daily", "enabled": False,
                                              "job": {"kind": "test-steps", "steps": 1}}).json()
    checked = 0
    for path, item in doc["paths"].items():
        op = item.get("get")
        if not op:
            continue
        url = path.replace("{id}", str(sched["id"] if "/schedules/" in path else job["id"]))
        if any(p["in"] == "query" and p["required"] for p in op["parameters"]):
            continue  # needs stored runs to name (/compare, /sick-bands): their own tests
        for p in op["parameters"]:
            if p["in"] != "query":
                continue
            s = p["schema"]
            for what, bad in violations(s):
                if what.startswith("type string"):
                    continue  # every query value arrives as a string
                if what.startswith("type "):
                    bad = "x7"
                r = d.get(url, params={p["name"]: str(bad)})
                assert r.status_code == 400 and r.json()["field"] == p["name"], \
                    (path, p["name"], what, r.text)
                checked += 1
            for good in boundary_values(s):
                if s.get("type") == "string" and "enum" not in s:
                    continue
                r = d.get(url, params={p["name"]: str(good)})
                assert r.status_code == 200, (path, p["name"], good, r.text)
    assert checked >= 10
    corpora = doc["paths"]["/api/v1/corpora"]["post"]["parameters"][0]["schema"]
    for bad in (".hidden", "a/b", "x" * (corpora["maxLength"] + 1), ""):
        r = d.post("/api/v1/corpora", params={"name": bad}, data=b"text")
        assert r.status_code == 400 and r.json()["field"] == "name", (bad, r.text)
    r = d.post("/api/v1/corpora", params={"name": "x" * corpora["maxLength"]}, data=b"text")
    assert r.status_code == 201, r.text
