"""The `inspect` job kind and GET /api/v1/runs/{id}/attention through the real daemon.

- on tiny-h6-f32 (a committed reference model) the served matrices equal transformers'
  output_attentions (tests/reference/generate/attentions.*) within fp16 rounding, the tokens are
  the reference ids, and the per-token BOS mass is the matrix's first column;
- heads given as a rule {"from_run", "classes"} resolve against a diagnosis of the demo model to
  its planted dead heads, whose BOS mass is ~1 on every token;
- bad specs answer 400 naming the field; a text over 512 tokens or a head outside the model fail
  the job with the reason; the route answers 404 for runs without matrices or heads not
  inspected; without both layer and head it lists the inspected heads (none for other runs).
"""
import json
import math
import os
import struct

import pytest

from conftest import REPO_ROOT

REF = os.path.join(REPO_ROOT, "tests", "reference", "generate")


def _safetensors_f32(path):
    """{name: (shape, flat list of floats)} of an F32 safetensors file (no library needed)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        data = raw[8 + n + a: 8 + n + b]
        out[name] = (t["shape"], struct.unpack("<%df" % (len(data) // 4), data))
    return out


def _run(d, spec, state="succeeded"):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == state, done
    return job["id"], done


def _result(d, job_id):
    res = d.get("/api/v1/runs/%d" % job_id).json()["result"]
    return json.loads(res) if isinstance(res, str) else res


def test_matrices_match_transformers(tiny_daemon):
    d = tiny_daemon
    with open(os.path.join(REF, "attentions.json")) as f:
        fx = json.load(f)
    ref = _safetensors_f32(os.path.join(REF, "attentions.safetensors"))
    job_id, _ = _run(d, {"kind": "inspect", "model": "tiny-h6-f32", "text": fx["text"],
                         "heads": fx["heads"]})
    res = _result(d, job_id)
    T = len(fx["ids"])
    assert res["token_ids"] == fx["ids"] and len(res["tokens"]) == T
    assert "".join(res["tokens"]) == fx["text"]
    assert [[h["layer"], h["head"]] for h in res["heads"]] == fx["heads"]
    for h in res["heads"]:
        shape, want = ref["l%d_h%d" % (h["layer"], h["head"])]
        assert shape == [T, T]
        r = d.get("/api/v1/runs/%d/attention?layer=%d&head=%d" % (job_id, h["layer"], h["head"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["T"] == T and len(body["probs"]) == T
        for t, row in enumerate(body["probs"]):
            assert len(row) == t + 1
            for j, p in enumerate(row):
                w = want[t * T + j]
                assert abs(p - w) <= abs(w) * 2 ** -10 + 1e-7, (h, t, j, p, w)
        for t in range(T):
            assert abs(h["bos_mass"][t] - want[t * T]) < 1e-5
            assert 0 <= h["entropy"][t] <= math.log(t + 1) + 1e-6
            assert abs(h["local_mass"][t] - sum(want[t * T + j]
                                                for j in range(max(0, t - 2), t + 1))) < 1e-5


def test_rule_resolves_against_a_diagnosis(tiny_daemon):
    d = tiny_daemon
    text = "The children walked to school along the river and stopped to watch the boats."
    diag_id, _ = _run(d, {"kind": "diagnose", "model": "demo", "texts": [text]})
    job_id, _ = _run(d, {"kind": "inspect", "model": "demo", "text": text,
                         "heads": {"from_run": diag_id, "classes": ["dead"]}})
    res = _result(d, job_id)
    assert sorted((h["layer"], h["head"]) for h in res["heads"]) == [(1, 6), (2, 6), (3, 4)]
    for h in res["heads"]:
        assert min(h["bos_mass"]) > 0.9
    r = d.get("/api/v1/runs/%d/attention?layer=0&head=0" % job_id)
    assert r.status_code == 404 and "did not inspect" in r.text
    r = d.get("/api/v1/runs/%d/attention?layer=1&head=6" % diag_id)
    assert r.status_code == 404 and "no attention" in r.text
    listed = d.get("/api/v1/runs/%d/attention" % job_id).json()
    assert sorted((h["layer"], h["head"]) for h in listed["heads"]) == [(1, 6), (2, 6), (3, 4)]
    assert listed["T"] == len(res["tokens"])
    one_layer = d.get("/api/v1/runs/%d/attention?layer=2" % job_id).json()
    assert [(h["layer"], h["head"]) for h in one_layer["heads"]] == [(2, 6)]
    assert d.get("/api/v1/runs/%d/attention" % diag_id).json()["heads"] == []
    assert d.get("/api/v1/runs/%d/attention?layer=x" % job_id).status_code == 400
    assert d.get("/api/v1/runs/999999/attention?layer=1&head=1").status_code == 404


@pytest.mark.parametrize("patch,field", [
    ({"heads": []}, "heads"),
    ({"heads": [[1]]}, "heads"),
    ({"heads": [[1, -2]]}, "heads"),
    ({"heads": [[0, 0]] * 65}, "heads"),
    ({"heads": "all"}, "heads"),
    ({"heads": {"from_run": 0}}, "heads.from_run"),
    ({"heads": {"from_run": 1, "classes": ["sick"]}}, "heads.classes"),
    ({"heads": {"from_run": 1, "colour": 3}}, "heads"),
    ({"text": ""}, "text"),
    ({"model": "missing"}, "model"),
])
def test_bad_specs_name_the_field(tiny_daemon, patch, field):
    spec = {"kind": "inspect", "model": "demo", "text": "hello there", "heads": [[0, 0]]}
    spec.update(patch)
    r = tiny_daemon.post("/api/v1/jobs", json=spec)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.text


def test_bad_inputs_fail_the_job(tiny_daemon):
    d = tiny_daemon
    _, done = _run(d, {"kind": "inspect", "model": "demo", "text": "hello",
                       "heads": [[0, 0], [9, 0]]}, state="failed")
    assert "heads[1]" in json.dumps(done), done
    long_text = " ".join("word%d" % i for i in range(600))
    _, done = _run(d, {"kind": "inspect", "model": "demo", "text": long_text,
                       "heads": [[0, 0]]}, state="failed")
    assert "512" in json.dumps(done), done
    _, done = _run(d, {"kind": "inspect", "model": "demo", "text": "hello",
                       "heads": {"from_run": 424242}}, state="failed")
    assert "from_run" in json.dumps(done), done
    assert d.get("/api/v1/healthz").status_code == 200
