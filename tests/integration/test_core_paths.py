"""No GET answer under /api/v1 shows an absolute server path: model, corpus, checkpoint and
log paths are shown relative to their root. A daemon runs a surgery (checkpoints), a diagnose
on one of its checkpoints, a job that fails on a missing corpus file, an upload and a
schedule; then every GET route is read, job logs and events included, and none may contain
the absolute data dir, model root or corpus root (as given or with symlinks resolved)."""
import json
import os

import pytest

from test_surgery_api import EVAL_TEXTS, PLANTED, _corpus_text


def _absolute_roots(d):
    roots = set()
    for path in (d.data_dir, d.model_root, d.corpus_root, d.base_dir):
        roots.add(os.path.abspath(path))
        roots.add(os.path.realpath(path))
    return sorted(roots, key=len, reverse=True)


def _all_get_answers(d, job_ids, run_ids, schedule_ids):
    paths = ["/api/v1/healthz", "/api/v1/version", "/api/v1/kinds", "/api/v1/openapi.json",
             "/api/v1/jobs", "/api/v1/jobs?limit=100", "/api/v1/queue", "/api/v1/runs",
             "/api/v1/corpora", "/api/v1/schedules"]
    for i in job_ids:
        paths += ["/api/v1/jobs/%d" % i, "/api/v1/jobs/%d/log" % i, "/api/v1/jobs/%d/events" % i]
    for i in run_ids:
        paths += ["/api/v1/runs/%d" % i, "/api/v1/runs/%d/heads" % i,
                  "/api/v1/runs/%d/curves" % i, "/api/v1/runs/%d/checkpoints" % i]
    for i in schedule_ids:
        paths.append("/api/v1/schedules/%d" % i)
    for path in paths:
        r = d.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        yield path, r.text


def test_no_absolute_server_paths_in_get_answers(daemon):
    d = daemon()
    kinds = {k["name"] for k in d.get("/api/v1/kinds").json()["kinds"]}
    if not {"surgery", "diagnose"} <= kinds:
        pytest.skip("the surgery and diagnose kinds are not in this build")
    p = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert p.returncode == 0, p.stderr
    with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
        f.write(_corpus_text())
    r = d.post("/api/v1/corpora?name=extra", data=b"Some uploaded words for the list.\n")
    assert r.status_code == 201, r.text

    surgery = d.submit({"kind": "surgery", "model": "demo", "corpus": "train.txt",
                        "eval_texts": EVAL_TEXTS, "targets": PLANTED, "lr": 3e-3,
                        "batch_size": 2, "grad_accum": 2, "max_length": 32, "epochs": 1,
                        "checkpoint_every": 1, "patience": 0, "seed": 3})
    done = d.wait_job(surgery["id"], timeout=240)
    assert done["state"] == "succeeded", done
    checkpoints = d.get("/api/v1/runs/%d/checkpoints" % surgery["id"]).json()["checkpoints"]
    assert checkpoints, "the surgery stored no checkpoint"
    for c in checkpoints:
        # relative to the data dir, and still naming the checkpoint's directory
        assert not os.path.isabs(c["path"]), c
        assert os.path.isdir(os.path.join(d.data_dir, c["path"])), c
    name = checkpoints[-1]["name"]
    diag = d.submit({"kind": "diagnose", "model": "run:%d/%s" % (surgery["id"], name),
                     "texts": EVAL_TEXTS[:1], "max_length": 32})
    assert d.wait_job(diag["id"], timeout=120)["state"] == "succeeded"

    # a job that fails at run time on a file that vanished after the submit was accepted
    doomed = os.path.join(d.corpus_root, "doomed.txt")
    with open(doomed, "w") as f:
        f.write("one line of text\n")
    d.post("/api/v1/queue/pause")
    failing = d.submit({"kind": "diagnose", "model": "demo", "text_file": "doomed.txt"})
    os.remove(doomed)
    d.post("/api/v1/queue/resume")
    failed = d.wait_job(failing["id"], timeout=120)
    assert failed["state"] == "failed" and "doomed.txt" in failed["error"], failed

    r = d.post("/api/v1/schedules", json={"name": "nightly", "cron": "0 3 * * *",
                                          "job": {"kind": "diagnose", "model": "demo",
                                                  "texts": ["a b c"]}})
    assert r.status_code == 201, r.text

    roots = _absolute_roots(d)
    leaks = []
    job_ids = [surgery["id"], diag["id"], failing["id"]]
    for path, text in _all_get_answers(d, job_ids, job_ids, [r.json()["id"]]):
        for root in roots:
            if root in text:
                leaks.append((path, root))
                break
        for escaped in (json.dumps(root)[1:-1] for root in roots):
            if escaped in text and (path, escaped) not in leaks:
                leaks.append((path, escaped))
                break
    assert not leaks, "absolute server paths in GET answers: %s" % leaks
