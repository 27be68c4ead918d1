"""The "precision" spec field ("fp32" | "bf16": the arithmetic of the model's GEMMs) through the
HTTP API of the real daemon, on the demo model of `surgeond demo-model`.

- a bf16 diagnose succeeds, its result says "precision": "bf16", the head classes are those of
  the fp32 run and every head statistic is within BF16_STAT_TOL of it (see below);
- evaluate, generate and inspect accept bf16 and name it in their results;
- after a bf16 job the device is back in fp32: the same fp32 diagnose gives identical rows;
- anything but "fp32"/"bf16" (or a non-string) is a 400 naming the field, on every kind that
  runs a model.

BF16_STAT_TOL: rounding every GEMM input to bf16 changes it by at most 2^-9 (0.2 %) relative.
The demo model's planted heads have sharp, large-magnitude attention scores, and the softmax
turns score errors into changes of attention mass of the order of the score error itself.
Measured on these TEXTS (cpu, oneDNN 2.6): max |Δ bos_mass| 0.0145, max |Δ entropy| 0.0169 nats,
max |Δ local_mass| 0.0003, mean |Δ| below 0.001. The tolerance, 0.05, is about three times the
largest measured difference and still far below the class thresholds' margins on this model
(the classes are required to match exactly).
"""
import json

import pytest

from test_diagnose_api import TEXTS, _bad_request, _result, _succeeded

BF16_STAT_TOL = 0.05


def _cpu_has_bf16(d):
    r = d.run_cli("--version")
    assert r.returncode == 0, r.stderr
    cpu = [line for line in r.stdout.splitlines() if line.strip().startswith("cpu:")]
    assert cpu, r.stdout
    return "bf16" in cpu[0]


def _heads(d, run_id):
    r = d.get("/api/v1/runs/%d/heads" % run_id)
    assert r.status_code == 200, r.text
    return {(h["layer"], h["head"]): h for h in r.json()["heads"]}


def test_bf16_diagnose_close_to_fp32(demo_daemon):
    d = demo_daemon
    if not _cpu_has_bf16(d):
        pytest.skip("this build's cpu backend has no bf16 GEMMs (built without oneDNN)")
    spec = {"kind": "diagnose", "model": "demo", "texts": TEXTS}
    fp32_id, fp32_run = _succeeded(d, spec)
    bf16_id, bf16_run = _succeeded(d, dict(spec, precision="bf16"))
    assert _result(fp32_run)["precision"] == "fp32"
    assert _result(bf16_run)["precision"] == "bf16"
    assert _result(bf16_run)["summary"] == _result(fp32_run)["summary"]
    a, b = _heads(d, fp32_id), _heads(d, bf16_id)
    assert a.keys() == b.keys() and len(a) == 32
    worst = {}
    for key in a:
        assert a[key]["class"] == b[key]["class"], key
        for stat in ("bos_mass", "entropy", "local_mass"):
            diff = abs(a[key][stat] - b[key][stat])
            worst[stat] = max(worst.get(stat, 0.0), diff)
            assert diff <= BF16_STAT_TOL, (key, stat, a[key][stat], b[key][stat])
    # bf16 really ran: rounded GEMM inputs move some statistic
    assert max(worst.values()) > 0.0, worst

    # the device went back to fp32: the same fp32 job gives the same rows
    again_id, again_run = _succeeded(d, dict(spec, precision="fp32"))
    c = _heads(d, again_id)
    for key in a:
        for stat in ("bos_mass", "entropy", "local_mass"):
            assert abs(a[key][stat] - c[key][stat]) <= 1e-12, (key, stat)


def test_bf16_on_the_other_kinds(demo_daemon):
    d = demo_daemon
    if not _cpu_has_bf16(d):
        pytest.skip("this build's cpu backend has no bf16 GEMMs (built without oneDNN)")
    _, fp32 = _succeeded(d, {"kind": "evaluate", "model": "demo", "texts": TEXTS})
    _, bf16 = _succeeded(d, {"kind": "evaluate", "model": "demo", "texts": TEXTS,
                             "precision": "bf16"})
    assert _result(bf16)["precision"] == "bf16"
    # measured 5e-6 relative on these texts; 1e-3 leaves room for other CPUs' kernels
    assert abs(_result(bf16)["ppl"] - _result(fp32)["ppl"]) <= 1e-3 * _result(fp32)["ppl"]
    _, gen = _succeeded(d, {"kind": "generate", "model": "demo", "prompts": ["The children"],
                            "max_new_tokens": 4, "precision": "bf16"})
    assert _result(gen)["precision"] == "bf16"
    _, ins = _succeeded(d, {"kind": "inspect", "model": "demo", "text": "The children walked",
                            "heads": [[0, 0]], "precision": "bf16"})
    assert _result(ins)["precision"] == "bf16"


def test_unknown_precision_is_400_naming_the_field(demo_daemon):
    d = demo_daemon
    specs = [
        {"kind": "diagnose", "model": "demo", "texts": TEXTS},
        {"kind": "evaluate", "model": "demo", "texts": TEXTS},
        {"kind": "generate", "model": "demo", "prompts": ["a"]},
        {"kind": "inspect", "model": "demo", "text": "a b", "heads": [[0, 0]]},
        {"kind": "surgery", "model": "demo", "corpus": "c.txt", "eval_texts": ["a"],
         "targets": {"1": [6]}},
    ]
    for spec in specs:
        for bad in ("fp16", "BF16", "", 16, None, ["bf16"]):
            body = _bad_request(d, dict(spec, precision=bad), "precision")
            if bad == "fp16":
                assert "fp32, bf16" in body["detail"], body
    # the field is in the kinds table and the OpenAPI document with its values
    kinds = d.get("/api/v1/kinds").json()
    text = json.dumps(kinds)
    assert "precision" in text and "bf16" in text
