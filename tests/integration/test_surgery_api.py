"""The `surgery` job kind through the HTTP API of the real daemon, on the demo model
(`surgeond demo-model`: 4 layers x 8 heads with planted collapsed heads (1,6) (2,6) (3,4) dead and
(3,6) (3,7) BOS-sinks).

- a surgery of the planted heads wakes them: every target is healthy at the last checkpoint
  according to the job, to its stored head rows, and to an independent diagnose job run on the
  checkpoint as model "run:<id>/<name>" (when the diagnose kind is compiled in);
- curves (loss/lr/grad_norm per step, ppl/woken/drift per checkpoint) and checkpoints are listed;
- cancel mid-run keeps the earlier checkpoints and a "cancelled-step-N" one;
- kill -9 mid-run, restart: the requeued job resumes from its newest checkpoint and finishes;
- every bad spec of the issue is a 400 naming the field, or a failed job naming it;
- eval_every_steps / diagnose_every_steps add step-resolution curves (step_ppl, step_woken,
  step_class_<class>) that agree with the checkpoints where they meet, survive a resume without
  duplicates, and are absent by default.
"""
import hashlib
import os
import random
import time

import pytest

PLANTED = {"1": [6], "2": [6], "3": [4, 6, 7]}
EVAL_TEXTS = [
    "The committee met on a grey morning to discuss the harbour repairs and the new ferry timetable.",
    "She planted tomatoes, beans and a row of sunflowers along the southern fence of the garden.",
    "After the storm the fishermen mended their nets and counted the boats that had come back.",
]


def _corpus_text(n_sentences=60, seed=7):
    rng = random.Random(seed)
    subjects = ["the farmer", "a teacher", "my neighbour", "the old captain", "our team", "the children",
                "a young doctor", "the baker", "the engineer", "her brother"]
    verbs = ["repaired", "painted", "visited", "described", "carried", "measured", "opened", "cleaned",
             "watched", "followed"]
    objects = ["the bridge", "a small boat", "the market square", "the library", "an orchard",
               "the station", "a wooden fence", "the lighthouse", "the village school", "a red kite"]
    tails = ["before noon", "in the rain", "with great care", "after dinner", "on Sunday",
             "for the first time", "without a word", "near the river", "at dawn", "once again"]
    out = []
    for _ in range(n_sentences):
        s = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)}."
        out.append(s[0].upper() + s[1:])
    return " ".join(out) + "\n"


@pytest.fixture
def surgery_daemon(daemon):
    d = daemon()
    demo = os.path.join(d.model_root, "demo")
    r = d.run_cli("demo-model", "--out", demo)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
        f.write(_corpus_text())
    with open(os.path.join(d.corpus_root, "tiny.txt"), "w", encoding="utf-8") as f:
        f.write("Too short.\n")
    return d


def _spec(**overrides):
    spec = {
        "kind": "surgery",
        "model": "demo",
        "corpus": "train.txt",
        "eval_texts": EVAL_TEXTS,
        "targets": PLANTED,
        "init": "xavier_uniform",
        "lr": 3e-3,
        "batch_size": 2,
        "grad_accum": 2,
        "max_length": 32,
        "epochs": 2,
        "checkpoint_every": 1,
        "patience": 0,
        "seed": 11,
    }
    spec.update(overrides)
    return spec


def _checkpoints(d, run_id):
    r = d.get(f"/api/v1/runs/{run_id}/checkpoints")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["checkpoints"] if isinstance(body, dict) else body


def _curves(d, run_id, name):
    r = d.get(f"/api/v1/runs/{run_id}/curves", params={"name": name})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["points"] if isinstance(body, dict) else body


def _heads(d, run_id, checkpoint):
    r = d.get(f"/api/v1/runs/{run_id}/heads", params={"checkpoint": checkpoint})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["heads"] if isinstance(body, dict) else body


def _log(d, job_id):
    r = d.get(f"/api/v1/jobs/{job_id}/log")
    assert r.status_code == 200
    try:
        return r.json().get("text", r.text)
    except ValueError:
        return r.text


def test_surgery_wakes_the_planted_heads(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec())
    done = d.wait_job(job["id"], timeout=240)
    assert done["state"] == "succeeded", done
    res = done["result"]
    assert set(res) == {"checkpoints", "final", "targets", "seed", "baseline_ppl",
                        "best_checkpoint", "best_ppl", "heads_woken", "improves_baseline",
                        "corpus", "precision"}
    assert res["precision"] == "fp32"
    with open(os.path.join(d.corpus_root, "train.txt"), "rb") as f:
        assert res["corpus"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert res["corpus"]["name"] == "train.txt" and res["corpus"]["tokens"] > 0
    assert res["seed"] == 11
    assert res["targets"] == PLANTED
    names = [c["name"] for c in res["checkpoints"]]
    assert names == ["epoch-1", "epoch-2"]
    assert res["final"] == res["checkpoints"][-1]["path"]
    final = os.path.join(d.data_dir, res["final"])  # paths are shown relative to the data dir
    assert os.path.isfile(os.path.join(final, "model.safetensors"))
    assert os.path.isfile(os.path.join(final, "config.json"))
    assert os.path.isfile(os.path.join(final, "tokenizer.json"))
    assert sum(1 for c in res["checkpoints"] if c["best"]) == 1
    last = res["checkpoints"][-1]
    assert last["woken"] == 5, res
    assert last["ppl"] > 1.0

    # the stored rows agree: every target healthy at the last checkpoint, collapsed at the start
    heads = {(h["layer"], h["head"]): h for h in _heads(d, job["id"], "epoch-2")}
    start = {(h["layer"], h["head"]): h for h in _heads(d, job["id"], "start")}
    for layer, hs in PLANTED.items():
        for h in hs:
            assert heads[(int(layer), h)]["class"] == "healthy", heads[(int(layer), h)]
            assert start[(int(layer), h)]["class"] in ("dead", "bos-sink"), start[(int(layer), h)]

    listed = _checkpoints(d, job["id"])
    assert [c["name"] for c in listed] == ["epoch-1", "epoch-2"]
    assert [c["best"] for c in listed] == [c["best"] for c in res["checkpoints"]]

    # curves: one loss/lr/grad_norm point per optimizer step, ppl/woken/drift at start + checkpoints
    total = done["progress"]["total"]
    assert total > 0
    for name in ("loss", "lr", "grad_norm"):
        pts = _curves(d, job["id"], name)
        assert sorted(p["step"] for p in pts) == list(range(1, total + 1)), name
    # The logged loss is the mean chunk loss of each step's group, so the short last group of
    # an epoch (one micro-batch instead of grad_accum) is not halved into a dip.
    losses = sorted(p["value"] for p in _curves(d, job["id"], "loss"))
    assert losses[0] > 0.75 * losses[len(losses) // 2], losses[:5]
    for name in ("ppl", "woken", "drift"):
        pts = _curves(d, job["id"], name)
        assert sorted(p["step"] for p in pts) == [0] + [c["step"] for c in res["checkpoints"]], name
    woken = sorted(_curves(d, job["id"], "woken"), key=lambda p: p["step"])
    assert woken[0]["value"] == 0 and woken[-1]["value"] == 5

    # the checkpoint is usable as the model of a later job
    kinds = d.get("/api/v1/kinds").json()
    kinds = kinds.get("kinds", kinds) if isinstance(kinds, dict) else kinds
    kind_names = {k["name"] for k in kinds}
    if "diagnose" in kind_names:
        diag = d.submit({"kind": "diagnose", "model": f"run:{job['id']}/epoch-2", "texts": EVAL_TEXTS})
        diag_done = d.wait_job(diag["id"], timeout=120)
        assert diag_done["state"] == "succeeded", diag_done
        rows = {(h["layer"], h["head"]): h for h in _heads(d, diag["id"], "")}
        for layer, hs in PLANTED.items():
            for h in hs:
                assert rows[(int(layer), h)]["class"] == "healthy"
    again = d.submit(_spec(model=f"run:{job['id']}/epoch-2", init="none", epochs=1, max_steps=2))
    again_done = d.wait_job(again["id"], timeout=120)
    assert again_done["state"] == "succeeded", again_done
    assert again_done["result"]["checkpoints"][-1]["woken"] == 5


def test_cancel_keeps_the_last_checkpoint(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec(epochs=200, checkpoint_every=1))
    d.wait_until(lambda: len(_checkpoints(d, job["id"])) >= 1, timeout=180)
    r = d.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert r.status_code in (200, 202), r.text
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "cancelled", done
    listed = _checkpoints(d, job["id"])
    names = [c["name"] for c in listed]
    assert names[0] == "epoch-1"
    for c in listed:
        assert os.path.isfile(os.path.join(d.data_dir, c["path"], "model.safetensors")), c
    cancelled = [c for c in listed if c["name"].startswith("cancelled-step-")]
    if cancelled:  # absent only when the cancel landed right after an epoch checkpoint
        assert cancelled[0]["step"] == int(cancelled[0]["name"].rsplit("-", 1)[1])
        assert cancelled[0]["step"] == max(c["step"] for c in listed)


def test_kill9_restart_resumes_from_checkpoint(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec(epochs=3, checkpoint_every=1, eval_every_steps=1, diagnose_every_steps=2))
    d.wait_until(lambda: len(_checkpoints(d, job["id"])) >= 1, timeout=180)
    first = _checkpoints(d, job["id"])[0]
    assert first["name"] == "epoch-1"
    d.kill9()
    d.start()
    done = d.wait_job(job["id"], timeout=300)
    assert done["state"] == "succeeded", done
    assert done["attempt"] >= 2
    assert "resumed from checkpoint" in _log(d, job["id"])
    names = [c["name"] for c in done["result"]["checkpoints"]]
    assert names == ["epoch-1", "epoch-2", "epoch-3"]
    assert done["result"]["checkpoints"][-1]["woken"] == 5
    assert done["progress"]["step"] == done["progress"]["total"]
    # Steps redone after the crash replace their first points: one value per step and name.
    total = done["progress"]["total"]
    for name in ("loss", "lr", "grad_norm", "step_ppl"):
        steps = [p["step"] for p in _curves(d, job["id"], name)]
        assert len(steps) == len(set(steps)) == total, (name, steps)
        assert sorted(steps) == list(range(1, total + 1)), (name, steps)
    for name in ("step_woken", "step_class_healthy"):
        steps = sorted(p["step"] for p in _curves(d, job["id"], name))
        assert steps == list(range(2, total + 1, 2)), (name, steps)


BAD_SPECS = [
    ({"targets": {"1": [8]}}, "targets.1"),            # head index >= n_head (8)
    ({"targets": {"4": [0]}}, "targets.4"),            # layer index >= n_layer (4)
    ({"targets": {}}, "targets"),                      # empty target set
    ({"targets": {"1": []}}, "targets.1"),
    ({"targets": [1, 6]}, "targets"),
    ({"lr": 0}, "lr"),
    ({"lr": -1e-3}, "lr"),
    ({"betas": [0.9, 1.0]}, "betas"),
    ({"betas": [0.9]}, "betas"),
    ({"eps": 0}, "eps"),
    ({"clip": 0}, "clip"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"batch_size": 0}, "batch_size"),
    ({"max_length": 1}, "max_length"),
    ({"init": "kaiming"}, "init"),
    ({"corpus": "missing.txt"}, "corpus"),
    ({"corpus": "../etc/passwd"}, "corpus"),
    ({"model": "nope"}, "model"),
    ({"targets": {"from_run": 1, "heads": "3-9"}}, "targets.heads"),
    ({"targets": {"from_run": 0}}, "targets.from_run"),
    ({"unknown_field": 1}, "unknown_field"),
    ({"eval_every_steps": 0}, "eval_every_steps"),
    ({"eval_every_steps": -3}, "eval_every_steps"),
    ({"eval_every_steps": 1.5}, "eval_every_steps"),
    ({"eval_every_steps": "2"}, "eval_every_steps"),
    ({"eval_every_steps": True}, "eval_every_steps"),
    ({"eval_every_steps": 10 ** 10}, "eval_every_steps"),
    ({"diagnose_every_steps": 0}, "diagnose_every_steps"),
    ({"diagnose_every_steps": -1}, "diagnose_every_steps"),
    ({"diagnose_every_steps": 2.25}, "diagnose_every_steps"),
    ({"diagnose_every_steps": [2]}, "diagnose_every_steps"),
    ({"diagnose_every_steps": 1e12}, "diagnose_every_steps"),
]


def test_bad_specs_are_400_naming_the_field(surgery_daemon):
    d = surgery_daemon
    for overrides, field in BAD_SPECS:
        r = d.post("/api/v1/jobs", json=_spec(**overrides))
        assert r.status_code == 400, (overrides, r.text)
        assert r.json()["field"] == field, (overrides, r.json())
    spec = _spec()
    del spec["eval_texts"]
    r = d.post("/api/v1/jobs", json=spec)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "eval_texts"
    assert d.get("/api/v1/jobs").json()["jobs"] == []  # nothing was queued


def test_corpus_shorter_than_one_chunk_fails_naming_it(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec(corpus="tiny.txt"))
    done = d.wait_job(job["id"], timeout=60)
    assert done["state"] == "failed", done
    assert "corpus" in done["error"] and "shorter than one chunk" in done["error"], done["error"]


def test_uploaded_corpus_and_eval_file_are_accepted(surgery_daemon):
    d = surgery_daemon
    r = d.post("/api/v1/corpora", params={"name": "up"}, data=_corpus_text(120).encode(),
               headers={"Content-Type": "text/plain"})
    assert r.status_code in (200, 201), r.text
    with open(os.path.join(d.corpus_root, "evals.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(EVAL_TEXTS) + "\n\n")
    spec = _spec(corpus="upload:up", epochs=1, max_steps=3, eval_file="evals.txt")
    del spec["eval_texts"]
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "succeeded", done
    assert [c["name"] for c in done["result"]["checkpoints"]] == ["final"]
    assert done["result"]["checkpoints"][0]["step"] == 3
    assert done["result"]["checkpoints"][0]["woken"] == 5


def test_from_run_that_is_not_a_diagnosis_fails_naming_it(surgery_daemon):
    d = surgery_daemon
    other = d.submit({"kind": "test-steps", "steps": 1})
    assert d.wait_job(other["id"])["state"] == "succeeded"
    for run_id in (other["id"], 99999):
        job = d.submit(_spec(targets={"from_run": run_id, "classes": ["dead"]}))
        done = d.wait_job(job["id"], timeout=60)
        assert done["state"] == "failed", done
        assert "targets.from_run" in done["error"], done["error"]


def test_second_pass_retrains_what_is_still_collapsed(surgery_daemon):
    d = surgery_daemon
    # init none with a vanishing lr leaves every planted head collapsed after the first pass,
    # so the second pass takes all five again; its steps continue after the first pass's
    job = d.submit(_spec(init="none", lr=1e-9, epochs=1, max_steps=2, second_pass=True,
                         eval_every_steps=1, diagnose_every_steps=2))
    done = d.wait_job(job["id"], timeout=180)
    assert done["state"] == "succeeded", done
    res = done["result"]
    assert res["second_pass_targets"] == PLANTED
    assert [c["name"] for c in res["checkpoints"]] == ["final", "pass2-final"]
    assert [c["step"] for c in res["checkpoints"]] == [2, 4]
    assert [c["woken"] for c in res["checkpoints"]] == [0, 0]
    assert sum(c["best"] for c in res["checkpoints"]) == 1
    assert res["final"].endswith("/pass2-final")
    loss = _curves(d, job["id"], "loss")
    assert sorted(p["step"] for p in loss) == [1, 2, 3, 4]
    # the step evaluations of pass 2 continue after pass 1's too, woken counting its targets
    step_ppl = _points_by_step(d, job["id"], "step_ppl")
    assert sorted(step_ppl) == [1, 2, 3, 4]
    assert [step_ppl[c["step"]] for c in res["checkpoints"]] == [c["ppl"] for c in res["checkpoints"]]
    assert _points_by_step(d, job["id"], "step_woken") == {2: 0, 4: 0}
    listed = [c["name"] for c in _checkpoints(d, job["id"])]
    assert listed == ["final", "pass2-final"]
    # without the field, no second pass and no extra result key
    plain = d.submit(_spec(init="none", lr=1e-9, epochs=1, max_steps=1))
    plain_done = d.wait_job(plain["id"], timeout=120)
    assert plain_done["state"] == "succeeded", plain_done
    assert "second_pass_targets" not in plain_done["result"]


def test_targets_from_a_stored_diagnosis(surgery_daemon):
    d = surgery_daemon
    diag = d.submit({"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS})
    assert d.wait_job(diag["id"], timeout=120)["state"] == "succeeded"
    rule = {"from_run": diag["id"], "classes": ["bos-sink", "dead"], "layers": "1-3", "heads": "4-7"}
    job = d.submit(_spec(targets=rule, epochs=1, max_steps=1))
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "succeeded", done
    assert done["result"]["targets"] == PLANTED
    # only the dead ones of layer 3
    rule = {"from_run": diag["id"], "classes": ["dead"], "layers": "3-3"}
    job = d.submit(_spec(targets=rule, epochs=1, max_steps=1))
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "succeeded", done
    assert done["result"]["targets"] == {"3": [4]}
    # a rule that matches nothing is an empty target set
    rule = {"from_run": diag["id"], "classes": ["low-entropy"]}
    job = d.submit(_spec(targets=rule, epochs=1, max_steps=1))
    done = d.wait_job(job["id"], timeout=60)
    assert done["state"] == "failed", done
    assert "empty target set" in done["error"], done["error"]


STEP_CLASSES = ("healthy", "bos-sink", "dead", "low-entropy")


def _points_by_step(d, run_id, name):
    pts = _curves(d, run_id, name)
    by_step = {p["step"]: p["value"] for p in pts}
    assert len(by_step) == len(pts), (name, pts)  # one point per step
    return by_step


def test_step_trajectory_curves(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec(eval_every_steps=1, diagnose_every_steps=2))
    done = d.wait_job(job["id"], timeout=300)
    assert done["state"] == "succeeded", done
    total = done["progress"]["total"]
    ckpts = done["result"]["checkpoints"]
    assert total >= 4 and [c["name"] for c in ckpts] == ["epoch-1", "epoch-2"]

    step_ppl = _points_by_step(d, job["id"], "step_ppl")
    assert sorted(step_ppl) == list(range(1, total + 1))
    assert all(v > 1.0 for v in step_ppl.values())
    diag_steps = list(range(2, total + 1, 2))
    step_woken = _points_by_step(d, job["id"], "step_woken")
    assert sorted(step_woken) == diag_steps
    assert all(0 <= v <= 5 for v in step_woken.values())
    classes = {c: _points_by_step(d, job["id"], f"step_class_{c}") for c in STEP_CLASSES}
    for step in diag_steps:
        assert sum(classes[c][step] for c in STEP_CLASSES) == 4 * 8, step  # every head once
        assert classes["healthy"][step] >= step_woken[step]

    # where a checkpoint meets a step point, both come from the same evaluation of the same
    # model on the same texts: the same number
    ppl = _points_by_step(d, job["id"], "ppl")
    woken = _points_by_step(d, job["id"], "woken")
    met_diag = 0
    for c in ckpts:
        assert step_ppl[c["step"]] == ppl[c["step"]] == c["ppl"], c
        if c["step"] in step_woken:
            assert step_woken[c["step"]] == woken[c["step"]] == c["woken"], c
            heads = _heads(d, job["id"], c["name"])
            for cls in STEP_CLASSES:
                assert classes[cls][c["step"]] == sum(h["class"] == cls for h in heads), (c, cls)
            met_diag += 1
    assert met_diag >= 1, (ckpts, diag_steps)
    last = ckpts[-1]
    assert last["step"] == total and step_woken[total] == last["woken"] == 5
    # the step points carry their fractional epoch like the per-step ones
    epochs = {p["step"]: p["epoch"] for p in _curves(d, job["id"], "step_ppl")}
    assert epochs[total] == 2.0 and 0.0 < epochs[1] < 1.0


def test_step_trajectory_with_a_final_checkpoint_and_null_fields(surgery_daemon):
    d = surgery_daemon
    # max_steps 3 ends mid-epoch: the `final` checkpoint's evaluation is the step-3 point
    job = d.submit(_spec(epochs=1, max_steps=3, eval_every_steps=3, diagnose_every_steps=1))
    done = d.wait_job(job["id"], timeout=180)
    assert done["state"] == "succeeded", done
    final = done["result"]["checkpoints"][-1]
    assert final["name"] == "final" and final["step"] == 3
    step_ppl = _points_by_step(d, job["id"], "step_ppl")
    assert step_ppl == {3: final["ppl"]}
    step_woken = _points_by_step(d, job["id"], "step_woken")
    assert sorted(step_woken) == [1, 2, 3] and step_woken[3] == final["woken"]
    # null means off, like leaving the field out
    off = d.submit(_spec(epochs=1, max_steps=2, eval_every_steps=None, diagnose_every_steps=None))
    assert d.wait_job(off["id"], timeout=120)["state"] == "succeeded"
    names = {p["name"] for p in _curves(d, off["id"], None)}
    assert "loss" in names and not any(n.startswith("step_") for n in names), names


def test_step_trajectory_is_off_by_default(surgery_daemon):
    d = surgery_daemon
    job = d.submit(_spec(epochs=1))
    done = d.wait_job(job["id"], timeout=180)
    assert done["state"] == "succeeded", done
    names = {p["name"] for p in _curves(d, job["id"], None)}
    assert {"loss", "lr", "grad_norm", "ppl", "woken", "drift"} <= names
    assert not any(n.startswith("step_") for n in names), names
