"""Finding runs through the real daemon: a run's metadata (name, tags, notes) at submit and by
PATCH /runs/{id}, every refusal a 400 (or 409 for a taken name) naming the field; GET /runs'
summaries with each filter alone and combined, paging and orders; CSV answers read back by
Python's csv module equal to the JSON; a schedule's run history after several ticks; the
OpenAPI document lists every route the daemon answers."""
import csv
import io
import os
import shutil
import time
from datetime import datetime, timedelta, timezone

import pytest

TEXTS = [
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday "
    "morning. People came from the farms with eggs, milk and vegetables.",
]
STEPS = {"kind": "test-steps", "steps": 1}


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    assert body["detail"], body
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.fixture
def demo_daemon(demo_daemon):
    """conftest's demo daemon with a second copy of the model, "demo-copy"."""
    shutil.copytree(os.path.join(demo_daemon.model_root, "demo"),
                    os.path.join(demo_daemon.model_root, "demo-copy"))
    return demo_daemon


def run_job(d, spec, state="succeeded", timeout=120):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=timeout)
    assert done["state"] == state, done
    return job["id"]


def runs(d, query=""):
    r = d.get("/api/v1/runs" + query)
    assert r.status_code == 200, (query, r.text)
    return r.json()


def ids(d, query=""):
    return [x["id"] for x in runs(d, query)["runs"]]


def csv_rows(r):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "\r\n" in r.text
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def csv_value(json_value):
    """What a JSON value reads back as from the CSV."""
    if json_value is None:
        return ""
    if isinstance(json_value, bool):
        return "true" if json_value else "false"
    if isinstance(json_value, list):
        return " ".join(json_value)
    return json_value


def assert_csv_equals_json(csv_list, json_list):
    assert len(csv_list) == len(json_list)
    for c, j in zip(csv_list, json_list):
        assert set(c) <= set(j), (set(c) - set(j))
        for key, value in c.items():
            want = csv_value(j[key])
            if isinstance(want, (int, float)):
                assert float(value) == float(want), (key, value, want)
            else:
                assert value == want, (key, value, want)


# ---- metadata ----------------------------------------------------------------------------

def test_metadata_round_trip(daemon):
    d = daemon()
    notes = "Baseline for the ü-sweep.\nSecond line, with \"quotes\"."
    rid = run_job(d, dict(STEPS, name="base-1", tags=["sweep:a", "v1.2"], notes=notes))
    run = d.get("/api/v1/runs/%d" % rid).json()
    assert (run["name"], run["tags"], run["notes"]) == ("base-1", ["sweep:a", "v1.2"], notes)
    assert run["result"] == {"steps_done": 1}
    # partial: tags only; name and notes stay
    r = d.patch("/api/v1/runs/%d" % rid, json={"tags": ["z-last", "a_first"]})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["tags"], r.json()["notes"]) == (
        "base-1", ["a_first", "z-last"], notes)
    # null clears; the summary follows
    r = d.patch("/api/v1/runs/%d" % rid, json={"name": None, "notes": None, "tags": None})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["tags"], r.json()["notes"]) == (None, [], None)
    r = d.patch("/api/v1/runs/%d" % rid, json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    s = runs(d)["runs"][0]
    assert (s["id"], s["job_id"], s["name"], s["tags"]) == (rid, rid, "renamed", [])
    # a name freed by a rename can be taken again
    other = run_job(d, dict(STEPS, name="base-1"))
    assert d.get("/api/v1/runs/%d" % other).json()["name"] == "base-1"
    # the same client_id submitted twice with its name gets its job back
    first = d.post("/api/v1/jobs", json=dict(STEPS, name="idem", client_id="c-1"))
    again = d.post("/api/v1/jobs", json=dict(STEPS, name="idem", client_id="c-1"))
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json()["id"] == again.json()["id"]


def test_metadata_refusals(daemon):
    d = daemon()
    rid = run_job(d, dict(STEPS, name="taken"))
    bad_specs = [
        ({"name": ""}, "name"), ({"name": "x" * 129}, "name"), ({"name": 5}, "name"),
        ({"name": None}, "name"), ({"tags": "a"}, "tags"), ({"tags": [""]}, "tags"),
        ({"tags": ["a b"]}, "tags"), ({"tags": ["x" * 65]}, "tags"), ({"tags": [1]}, "tags"),
        ({"tags": ["t%d" % i for i in range(33)]}, "tags"), ({"tags": ["a", "a"]}, "tags"),
        ({"tags": ["ü"]}, "tags"), ({"notes": 3}, "notes"),
        ({"notes": "n" * (64 * 1024 + 1)}, "notes"),
    ]
    for extra, field in bad_specs:
        assert_error(d.post("/api/v1/jobs", json=dict(STEPS, **extra)), 400, field)
        if extra.get("name", "") is not None:
            assert_error(d.patch("/api/v1/runs/%d" % rid, json=extra), 400, field)
    # at the limits is fine
    ok = dict(name="n" * 128, tags=["x" * 64] + ["t%d" % i for i in range(31)],
              notes="ü" * (32 * 1024))
    r = d.patch("/api/v1/runs/%d" % rid, json=ok)
    assert r.status_code == 200, r.text
    assert len(r.json()["tags"]) == 32
    d.patch("/api/v1/runs/%d" % rid, json={"name": "taken"})
    assert_error(d.post("/api/v1/jobs", json=dict(STEPS, name="taken")), 409, "name")
    other = run_job(d, STEPS)
    assert_error(d.patch("/api/v1/runs/%d" % other, json={"name": "taken"}), 409, "name")
    assert d.get("/api/v1/runs/%d" % other).json()["name"] is None
    assert_error(d.patch("/api/v1/runs/%d" % other, json={"priority": 3}), 400, "priority")
    assert_error(d.patch("/api/v1/runs/%d" % other, json={}), 400)
    assert_error(d.patch("/api/v1/runs/%d" % other, data=b"[1]",
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(d.patch("/api/v1/runs/99999", json={"name": "x"}), 404)
    # a refused PATCH changed nothing
    assert d.get("/api/v1/runs/%d" % rid).json()["name"] == "taken"
    assert d.get("/api/v1/healthz").status_code == 200


def test_racing_submits_of_one_new_name_get_one_run_and_409s(daemon):
    """Submits racing for the same new name: the API's check passes for all of them, the store
    keeps the name unique, and every loser is answered 409 naming the field (never a 500)."""
    from concurrent.futures import ThreadPoolExecutor
    d = daemon()
    for round_ in range(3):
        name = "raced-%d" % round_
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: d.post("/api/v1/jobs", json=dict(STEPS, name=name)),
                                    range(8)))
        codes = sorted(r.status_code for r in answers)
        assert codes.count(201) == 1, [(r.status_code, r.text) for r in answers]
        for r in answers:
            if r.status_code != 201:
                assert_error(r, 409, "name")
        winner = next(r for r in answers if r.status_code == 201).json()["id"]
        assert d.get("/api/v1/runs/%d" % winner).json()["name"] == name
    assert d.get("/api/v1/healthz").status_code == 200


# ---- find ----------------------------------------------------------------------------------

def _seed_runs(d):
    """Five runs of mixed kinds, models, states and tags; returns their ids by role."""
    r = {}
    r["diag"] = run_job(d, {"kind": "diagnose", "model": "demo", "texts": TEXTS,
                            "name": "demo diag", "tags": ["scale:s", "batch-1"]})
    r["diag_copy"] = run_job(d, {"kind": "diagnose", "model": "demo-copy", "texts": TEXTS,
                                 "tags": ["scale:m", "batch-1"], "notes": "Copy of the DEMO"})
    r["eval"] = run_job(d, {"kind": "evaluate", "model": "demo", "texts": TEXTS,
                            "diagnose": True, "tags": ["batch-2"]})
    r["eval_short"] = run_job(d, {"kind": "evaluate", "model": "demo", "texts": TEXTS,
                                  "max_length": 8})
    r["failed"] = run_job(d, dict(STEPS, steps=2, fail_at=1, tags=["batch-2"]), state="failed")
    return r


def test_summaries_and_each_filter(demo_daemon):
    d = demo_daemon
    r = _seed_runs(d)
    queued = d.post("/api/v1/queue/pause")
    assert queued.status_code == 200
    never_ran = d.submit(STEPS)["id"]  # queued, never started: not a run
    everything = runs(d)["runs"]
    assert [x["id"] for x in everything] == sorted(r.values(), reverse=True)
    assert never_ran not in [x["id"] for x in everything]
    by_id = {x["id"]: x for x in everything}
    # headline numbers equal what the test computes from the stored head rows and results
    for key in ("diag", "diag_copy", "eval"):
        heads = d.get("/api/v1/runs/%d/heads" % r[key]).json()["heads"]
        s = by_id[r[key]]
        for cls, col in (("healthy", "healthy"), ("bos-sink", "bos_sink"), ("dead", "dead"),
                         ("low-entropy", "low_entropy")):
            assert s[col] == sum(1 for h in heads if h["class"] == cls), (key, col, s)
    for key in ("eval", "eval_short"):
        result = d.get("/api/v1/runs/%d" % r[key]).json()["result"]
        assert by_id[r[key]]["ppl"] == result["ppl"]
    s = by_id[r["diag"]]
    assert (s["kind"], s["state"], s["model"], s["name"]) == ("diagnose", "succeeded", "demo",
                                                              "demo diag")
    assert s["tags"] == ["batch-1", "scale:s"] and s["ppl"] is None
    assert s["duration_s"] >= 0 and s["created_at"].endswith("Z") and s["finished_at"]
    assert "result" not in s and "notes" not in s
    f = by_id[r["failed"]]
    assert (f["state"], f["model"], f["healthy"], f["ppl"]) == ("failed", None, None, None)

    assert ids(d, "?kind=evaluate") == [r["eval_short"], r["eval"]]
    assert ids(d, "?state=failed") == [r["failed"]]
    assert ids(d, "?model=demo") == [r["eval_short"], r["eval"], r["diag"]]
    assert ids(d, "?model=demo-*") == [r["diag_copy"]]
    assert ids(d, "?model=dem*") == [r["eval_short"], r["eval"], r["diag_copy"], r["diag"]]
    assert ids(d, "?model=demo-") == []
    assert ids(d, "?tag=batch-1") == [r["diag_copy"], r["diag"]]
    assert ids(d, "?tag=batch-1&tag=scale:m") == [r["diag_copy"]]
    assert ids(d, "?tag=batch-1&tag=batch-2") == []
    assert ids(d, "?tag=batch-2&tag=batch-2") == [r["failed"], r["eval"]]
    assert ids(d, "?q=copy") == [r["diag_copy"]]              # notes, any case
    assert ids(d, "?q=DIAG") == [r["diag"]]                   # name
    assert ids(d, "?q=emo-c") == [r["diag_copy"]]             # model
    created = {x["id"]: x["created_at"] for x in everything}
    assert ids(d, "?since=" + created[r["eval"]]) == [r["failed"], r["eval_short"], r["eval"]]
    assert ids(d, "?until=" + created[r["diag_copy"]]) == [r["diag_copy"], r["diag"]]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ids(d, "?since=" + later) == []
    assert ids(d, "?schedule=1") == []
    # combined
    assert ids(d, "?kind=evaluate&tag=batch-2&model=demo") == [r["eval"]]
    assert ids(d, "?state=succeeded&tag=batch-2") == [r["eval"]]
    assert ids(d, "?kind=diagnose&model=demo*&tag=batch-1&q=demo&since=" +
               created[r["diag"]] + "&until=" + created[r["diag_copy"]]) == [r["diag_copy"],
                                                                            r["diag"]]
    # orders and paging: the cursor is the last id of a page, in the same order
    assert ids(d, "?order=created") == sorted(r.values())
    ppl_order = ids(d, "?order=ppl")
    ppls = [by_id[i]["ppl"] for i in ppl_order[:2]]
    assert ppls == sorted(ppls) and set(ppl_order[:2]) == {r["eval"], r["eval_short"]}
    assert all(by_id[i]["ppl"] is None for i in ppl_order[2:])
    for order in ("-created", "created", "ppl"):
        seen, before = [], None
        while True:
            q = "?limit=2&order=" + order + ("&before=%d" % before if before else "")
            page = runs(d, q)
            seen += [x["id"] for x in page["runs"]]
            before = page["next_before"]
            if before is None:
                break
        assert seen == ids(d, "?order=" + order), order


def test_find_refusals_name_the_parameter(daemon):
    d = daemon()
    for query, field in [("?colour=red", "colour"), ("?kind=nope", "kind"),
                         ("?state=done", "state"), ("?since=yesterday", "since"),
                         ("?until=2026-13-01", "until"), ("?limit=0", "limit"),
                         ("?limit=x", "limit"), ("?before=-1", "before"),
                         ("?order=name", "order"), ("?tag=a%20b", "tag"), ("?tag=", "tag"),
                         ("?schedule=abc", "schedule"), ("?format=xml", "format"),
                         ("?model=", "model"), ("?q=", "q"),
                         ("?kind=diagnose&kind=evaluate", "kind")]:  # only tag repeats
        assert_error(d.get("/api/v1/runs" + query), 400, field)
    assert_error(d.get("/api/v1/runs/1/heads?checkpont=x"), 400, "checkpont")
    assert_error(d.get("/api/v1/runs/1/curves?format=pdf"), 400, "format")


# ---- schedules over time -------------------------------------------------------------------

def test_schedule_run_history(daemon):
    d = daemon()
    job = dict(STEPS, steps=2, step_ms=700, name="tick", tags=["sched"])
    s = d.post("/api/v1/schedules", json={"name": "often", "cron": "@every 1s", "job": job})
    assert s.status_code == 201, s.text
    sid = s.json()["id"]

    def history():
        h = d.get("/api/v1/schedules/%d/runs" % sid).json()["firings"]
        fired = [f for f in h if not f["skipped"]]
        skipped = [f for f in h if f["skipped"]]
        return h if len(fired) >= 3 and skipped else None
    d.wait_until(history, timeout=30)
    d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False})
    for f in d.get("/api/v1/schedules/%d/runs" % sid).json()["firings"]:
        if f["run"]:
            d.wait_job(f["run"]["id"])
    r = d.get("/api/v1/schedules/%d/runs" % sid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schedule_id"] == sid
    h = body["firings"]
    times = [f["scheduled_for"] for f in h]
    assert times == sorted(times) and len(set(times)) == len(times)
    # the same firings the schedule lists (newest first there)
    listed = d.get("/api/v1/schedules/%d" % sid).json()["firings"]
    assert [(f["scheduled_for"], f["job_id"]) for f in reversed(listed)] == [
        (f["scheduled_for"], f["run"]["id"] if f["run"] else None) for f in h]
    for f in h:
        if f["skipped"]:
            assert f["run"] is None and "still queued or running" in f["reason"], f
        else:
            run = f["run"]
            assert run["schedule_id"] == sid and run["state"] == "succeeded", run
            assert run["name"] == "tick #%d" % run["id"] and run["tags"] == ["sched"]
            assert run["kind"] == "test-steps" and run["duration_s"] > 0
    fired = [f["run"]["id"] for f in h if f["run"]]
    assert ids(d, "?schedule=%d&order=created" % sid) == fired
    assert ids(d, "?schedule=%d&tag=sched&q=tick" % sid) == fired[::-1]
    assert d.get("/api/v1/schedules/%d/runs?limit=1" % sid).json()["firings"] == h[:1]
    assert_error(d.get("/api/v1/schedules/999/runs"), 404)
    assert_error(d.get("/api/v1/schedules/%d/runs?since=1" % sid), 400, "since")


# ---- the OpenAPI document ------------------------------------------------------------------

NEW_ROUTES = [("patch", "/api/v1/runs/{id}"), ("get", "/api/v1/compare"),
              ("get", "/api/v1/sick-bands"), ("get", "/api/v1/schedules/{id}/runs")]


def test_openapi_describes_every_answered_route(daemon):
    d = daemon()
    doc = d.get("/api/v1/openapi.json").json()
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert set(NEW_ROUTES) <= documented
    params = {p["name"] for p in doc["paths"]["/api/v1/runs"]["get"]["parameters"]}
    assert params == {"kind", "state", "model", "tag", "q", "since", "until", "schedule", "limit",
                      "before", "order", "format"}
    for path, names in (("/api/v1/compare", {"a", "b", "drift", "format"}),
                        ("/api/v1/sick-bands", {"runs"}),
                        ("/api/v1/runs/{id}/heads", {"id", "checkpoint", "format"}),
                        ("/api/v1/runs/{id}/curves", {"id", "name", "format"})):
        assert {p["name"] for p in doc["paths"][path]["get"]["parameters"]} == names, path
    for ref in doc["components"]["schemas"]["JobSpec"]["oneOf"]:
        kind = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
        assert {"name", "tags", "notes"} <= set(kind["properties"]), ref
    assert set(doc["components"]["schemas"]["RunPatch"]["properties"]) == {"name", "tags",
                                                                           "notes"}
    compare = {p["name"]: p["required"] for p in doc["paths"]["/api/v1/compare"]["get"]["parameters"]}
    assert compare == {"a": True, "b": True, "drift": False, "format": False}
    # every route the daemon answers is documented: probe each method on every path it serves
    rid = run_job(d, STEPS)
    sched = d.post("/api/v1/schedules", json={"name": "doc", "cron": "@daily", "job": STEPS,
                                              "enabled": False}).json()["id"]
    probes = ["/api/v1/healthz", "/api/v1/version", "/api/v1/openapi.json", "/api/v1/kinds",
              "/api/v1/queue", "/api/v1/queue/pause", "/api/v1/queue/resume", "/api/v1/jobs",
              "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/cancel", "/api/v1/jobs/{id}/log",
              "/api/v1/jobs/{id}/events", "/api/v1/runs", "/api/v1/runs/{id}",
              "/api/v1/runs/{id}/heads", "/api/v1/runs/{id}/curves",
              "/api/v1/runs/{id}/checkpoints", "/api/v1/compare", "/api/v1/sick-bands",
              "/api/v1/corpora", "/api/v1/schedules", "/api/v1/schedules/{id}",
              "/api/v1/schedules/{id}/runs", "/metrics"]
    for path in probes:
        url = path.replace("{id}", str(sched if "schedules" in path else rid))
        for method in ("get", "post", "patch", "delete"):
            if method == "delete" or (method, path) == ("post", "/api/v1/corpora"):
                continue  # not probed: they would change what the other probes read
            r = d.request(method.upper(), url, json={} if method != "get" else None)
            if r.status_code in (404, 405) and (method, path) not in documented:
                continue
            assert (method, path) in documented, (method, path, r.status_code)


def test_runs_stored_before_the_migration_get_summaries(demo_daemon):
    """Migration 003 fills the summaries of runs that existed before it from their spec and
    result: the daemon is stopped, the database taken back to version 2, and started again."""
    d = demo_daemon
    diag = run_job(d, {"kind": "diagnose", "model": "demo", "texts": TEXTS})
    ev = run_job(d, {"kind": "evaluate", "model": "demo-copy", "texts": TEXTS})
    want = {x["id"]: x for x in runs(d)["runs"]}
    d.stop()
    with d.db() as db:
        db.executescript("DROP TABLE run_tags; DROP TABLE run_summaries;"
                         " DROP INDEX jobs_created; DROP INDEX jobs_schedule;"
                         # and migration 004 (its instance id stays: the run files keep theirs)
                         " ALTER TABLE jobs DROP COLUMN run_deleted_at;"
                         " ALTER TABLE jobs DROP COLUMN model_resolved;"
                         " ALTER TABLE jobs DROP COLUMN corpus_resolved;"
                         " PRAGMA user_version=2;")
    d.start()
    got = {x["id"]: x for x in runs(d)["runs"]}
    assert got == want
    assert got[diag]["healthy"] == 27 and got[ev]["ppl"] > 1 and got[ev]["model"] == "demo-copy"


def test_a_run_carries_its_summary(daemon):
    """GET /runs/{id} has the run's summary, the object GET /runs lists (headline numbers
    included; bytes_on_disk is the run's own field), and PATCH answers with it updated."""
    d = daemon()
    rid = run_job(d, dict(STEPS, name="summarised", tags=["one"]))
    listed = [r for r in d.get("/api/v1/runs").json()["runs"] if r["id"] == rid][0]
    run = d.get("/api/v1/runs/%d" % rid).json()
    assert run["bytes_on_disk"] == listed.pop("bytes_on_disk")  # the run's own field
    assert run["summary"] == listed
    assert set(run["summary"]) >= {"healthy", "ppl", "baseline_ppl", "best_ppl", "heads_woken", "improves_baseline"}
    patched = d.patch("/api/v1/runs/%d" % rid, json={"name": "renamed"}).json()
    assert patched["summary"]["name"] == "renamed" and patched["summary"]["tags"] == ["one"]
