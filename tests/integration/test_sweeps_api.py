"""Sweeps (POST/GET /api/v1/sweeps): a job spec and a grid become one job per combination, each
validated like a submit before anything is stored, tagged with the sweep and its values; any
executor runs them (here the local one)."""


def test_sweep_submits_one_job_per_combination(daemon):
    d = daemon()
    r = d.post("/api/v1/sweeps", json={"name": "steps x pace",
                                       "job": {"kind": "test-steps", "steps": 1, "step_ms": 1},
                                       "grid": {"steps": [1, 2], "step_ms": [1, 2, 3]}})
    assert r.status_code == 201, r.text
    sweep = r.json()
    assert sweep["name"] == "steps x pace" and len(sweep["jobs"]) == 6
    params = [j["params"] for j in sweep["jobs"]]
    assert params[0] == {"steps": 1, "step_ms": 1} and params[-1] == {"steps": 2, "step_ms": 3}
    assert sorted((p["steps"], p["step_ms"]) for p in params) == \
        [(a, b) for a in (1, 2) for b in (1, 2, 3)]
    for j in sweep["jobs"]:
        done = d.wait_job(j["id"])
        assert done["state"] == "succeeded"
        assert done["sweep"] == {"id": sweep["id"], "params": j["params"]}
        assert done["spec"]["steps"] == j["params"]["steps"]
    again = d.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert again["counts"] == {"succeeded": 6}
    assert d.get("/api/v1/sweeps").json()["sweeps"][0]["jobs"] == 6
    assert d.get("/api/v1/sweeps/999").status_code == 404


def test_bad_sweeps_store_nothing(daemon):
    d = daemon()
    base = {"kind": "test-steps", "steps": 1}
    bad = [
        ({"job": base, "grid": {}}, "grid"),
        ({"job": base, "grid": {"steps": []}}, "grid"),
        ({"job": base, "grid": {"kind": ["diagnose"]}}, "grid"),
        ({"job": base, "grid": {"steps": list(range(1, 40)), "step_ms": list(range(1, 40))}}, "grid"),
        ({"job": dict(base, client_id="x"), "grid": {"steps": [1]}}, "job"),
        ({"job": dict(base, name="run"), "grid": {"steps": [1]}}, "job"),
        ({"job": base, "grid": {"name": ["a", "b"]}}, "grid"),
        ({"job": base, "grid": {"steps": [1, -5]}}, "steps"),
        ({"job": base, "grid": {"steps": [1]}, "colour": 1}, "colour"),
    ]
    for body, field in bad:
        r = d.post("/api/v1/sweeps", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
    assert d.db().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert d.db().execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 0
