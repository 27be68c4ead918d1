"""The `diagnose` and `evaluate` job kinds through the HTTP API of the real daemon, on the demo
model written by `surgeond demo-model` (planted heads: (1,6) (2,6) (3,4) dead, (3,6) (3,7)
bos-sink, every other head healthy — see daemon/engine/demo/demo_model.h).

- a diagnose job succeeds; GET /api/v1/runs/{id}/heads carries the planted classes and every
  other head healthy; the result JSON has the issue's format (summary, sick band, dormancy);
- a text_file input gives the same statistics as the same texts inline;
- an evaluate job's ppl is finite and equals `surgeond run` inline on the same spec, and
  exp(sum of per-text NLL / tokens) reproduces it; diagnose=true adds the diagnosis and rows;
- bad inputs: unknown model -> 400 field model; unknown field -> 400; bad thresholds -> 400;
  texts and text_file together -> 400; a model dir with a broken model.safetensors, an empty
  text, a one-token text for evaluate -> failed job with a reason; the daemon keeps serving.
"""
import json
import math
import os
import subprocess

import pytest

PLANTED = {(1, 6): "dead", (2, 6): "dead", (3, 4): "dead", (3, 6): "bos-sink", (3, 7): "bos-sink"}
TEXTS = [
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday "
    "morning. People came from the farms with eggs, milk and vegetables.",
    "When the storm arrived the fishermen pulled their boats onto the beach, tied the ropes "
    "twice and waited in the harbour inn until the rain stopped.",
]


def _succeeded(d, spec, timeout=120):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=timeout)
    assert done["state"] == "succeeded", done
    r = d.get("/api/v1/runs/%d" % job["id"])
    assert r.status_code == 200, r.text
    return job["id"], r.json()


def _result(run):
    res = run.get("result")
    if isinstance(res, str):
        res = json.loads(res)
    assert isinstance(res, dict), run
    return res


def _failed(d, spec, words):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "failed", done
    reason = json.dumps(done)
    for w in words:
        assert w in reason, (w, done)
    assert d.get("/api/v1/healthz").status_code == 200
    return done


def _bad_request(d, spec, field):
    r = d.post("/api/v1/jobs", json=spec)
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body.get("field") == field, body
    assert body.get("detail"), body
    assert d.get("/api/v1/healthz").status_code == 200
    return body


def test_diagnose_demo_model_planted_heads(demo_daemon):
    d = demo_daemon
    run_id, run = _succeeded(d, {"kind": "diagnose", "model": "demo", "texts": TEXTS})
    r = d.get("/api/v1/runs/%d/heads" % run_id)
    assert r.status_code == 200, r.text
    heads = r.json()["heads"]
    assert len(heads) == 32
    for h in heads:
        want = PLANTED.get((h["layer"], h["head"]), "healthy")
        assert h["class"] == want, h
        for key in ("bos_mass", "entropy", "local_mass"):
            assert math.isfinite(h[key]), h
        if want == "dead":
            assert h["bos_mass"] > 0.95
        elif want == "bos-sink":
            assert 0.5 < h["bos_mass"] <= 0.95
    res = _result(run)
    assert set(res) == {"model", "heads", "summary", "sick_band", "mlp_dormancy", "head_bands",
                        "slope_sickness_spearman", "precision"}
    assert res["precision"] == "fp32"
    assert [b["sick_layers"] for b in res["head_bands"]] == res["sick_band"]
    assert res["model"]["name"] == "demo"
    assert res["summary"] == {"healthy": 27, "bos_sink": 2, "dead": 3, "low_entropy": 0}
    assert res["sick_band"] == [0, 0, 0, 0, 1, 0, 3, 1]
    assert [m["dormant"] for m in res["mlp_dormancy"]] == [128, 190, 192, 192]
    by_key = {(h["layer"], h["head"]): h for h in heads}
    for h in res["heads"]:
        row = by_key[(h["layer"], h["head"])]
        assert h["class"] == row["class"]
        assert abs(h["bos_mass"] - row["bos_mass"]) <= 1e-12
        assert h["bos_mass_std"] >= 0.0
        assert ("pattern" in h) == (h["class"] == "healthy")


def test_diagnose_text_file_equals_inline_texts(demo_daemon):
    d = demo_daemon
    with open(os.path.join(d.corpus_root, "texts.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS[:2]) + "\n\n")
    _, a = _succeeded(d, {"kind": "diagnose", "model": "demo", "text_file": "texts.txt",
                          "max_length": 64, "thresholds": {"sink_bos": 0.6}})
    _, b = _succeeded(d, {"kind": "diagnose", "model": "demo", "texts": TEXTS[:2],
                          "max_length": 64, "thresholds": {"sink_bos": 0.6}})
    ha, hb = _result(a)["heads"], _result(b)["heads"]
    assert len(ha) == len(hb) == 32
    for x, y in zip(ha, hb):
        assert x["class"] == y["class"]
        assert abs(x["bos_mass"] - y["bos_mass"]) <= 1e-12
        assert abs(x["entropy_std"] - y["entropy_std"]) <= 1e-12


def test_evaluate_matches_inline_run(demo_daemon, tmp_path):
    d = demo_daemon
    spec = {"kind": "evaluate", "model": "demo", "texts": TEXTS, "max_length": 48}
    run_id, run = _succeeded(d, spec)
    res = _result(run)
    assert math.isfinite(res["ppl"]) and res["ppl"] > 1.0
    assert len(res["texts"]) == 3
    total = sum(t["nll"] for t in res["texts"])
    assert res["tokens"] == sum(t["tokens"] for t in res["texts"])
    assert abs(math.exp(total / res["tokens"]) - res["ppl"]) <= 1e-9 * res["ppl"]
    for t in res["texts"]:
        assert abs(math.exp(t["nll"] / t["tokens"]) - t["ppl"]) <= 1e-9 * t["ppl"]
    assert "diagnosis" not in res
    assert d.get("/api/v1/runs/%d/heads" % run_id).json()["heads"] == []

    spec_file = tmp_path / "job.json"
    spec_file.write_text(json.dumps(spec))
    p = subprocess.run([d.binary, "run", "--model-root", d.model_root, "--corpus-root",
                        d.corpus_root, "--data-dir", str(tmp_path / "inline"), str(spec_file)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    inline = json.loads(p.stdout)
    assert abs(inline["ppl"] - res["ppl"]) <= 1e-9 * res["ppl"]
    assert inline["tokens"] == res["tokens"]

    run_id, run = _succeeded(d, dict(spec, diagnose=True))
    res2 = _result(run)
    assert abs(res2["ppl"] - res["ppl"]) <= 1e-9 * res["ppl"]
    assert res2["diagnosis"]["summary"]["dead"] == 3
    heads = d.get("/api/v1/runs/%d/heads" % run_id).json()["heads"]
    assert {(h["layer"], h["head"]): h["class"] for h in heads if h["class"] != "healthy"} == PLANTED


def test_bad_specs_are_400_naming_the_field(demo_daemon):
    d = demo_daemon
    _bad_request(d, {"kind": "diagnose", "model": "no-such-model", "texts": ["a b c"]}, "model")
    _bad_request(d, {"kind": "evaluate", "model": "../demo", "texts": ["a b c"]}, "model")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["a b"], "colour": 1}, "colour")
    _bad_request(d, {"kind": "diagnose", "model": "demo"}, "texts")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"], "text_file": "t.txt"},
                 "text_file")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "text_file": "missing.txt"}, "text_file")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": []}, "texts")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"], "max_length": 1},
                 "max_length")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"],
                     "thresholds": {"dead": 0.9}}, "thresholds")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"],
                     "thresholds": {"dead_bos": 1.5}}, "thresholds")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"],
                     "thresholds": {"low_entropy": 0}}, "thresholds")
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": ["x"],
                     "thresholds": {"sink_bos": 0.97}}, "thresholds")
    _bad_request(d, {"kind": "evaluate", "model": "demo", "texts": ["x"], "prepend_bos": True},
                 "prepend_bos")
    _bad_request(d, {"kind": "evaluate", "model": "demo", "texts": ["x"], "diagnose": "yes"},
                 "diagnose")


def test_bad_inputs_fail_the_job_with_a_reason(demo_daemon):
    d = demo_daemon
    broken = os.path.join(d.model_root, "broken")
    os.makedirs(broken)
    for name in ("config.json", "tokenizer.json"):
        with open(os.path.join(d.model_root, "demo", name), "rb") as src:
            data = src.read()
        with open(os.path.join(broken, name), "wb") as dst:
            dst.write(data)
    with open(os.path.join(broken, "model.safetensors"), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    _failed(d, {"kind": "diagnose", "model": "broken", "texts": TEXTS[:1]}, ["model.safetensors"])
    # an empty or whitespace-only text is refused at submit, naming the field
    _bad_request(d, {"kind": "diagnose", "model": "demo", "texts": [TEXTS[0], ""]}, "texts")
    _failed(d, {"kind": "evaluate", "model": "demo", "texts": [TEXTS[0], "a"]}, ["text 1", "token"])
    # one token is enough for the statistics: the same text diagnoses fine
    _succeeded(d, {"kind": "diagnose", "model": "demo", "texts": ["a"]})
    # and the daemon still serves real work afterwards
    _, run = _succeeded(d, {"kind": "evaluate", "model": "demo", "texts": TEXTS[:1]})
    assert math.isfinite(_result(run)["ppl"])
