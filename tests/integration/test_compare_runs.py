"""Comparing head tables through the real daemon on the demo model: two diagnoses, and a
surgery's diagnosis before training ("start") against its last checkpoint. Every count of the
answer (transition matrix, woken, newly sick, drifters in and out of the target zone, class
changes per head index) is recomputed here from the two stored head tables; the per-head CSV
read back equals the JSON; every refusal names its side. Also the sick-bands view over two
model shapes and the honest outcome of a surgery."""
import csv
import io
import math
import os
import shutil

import pytest

from test_surgery_api import EVAL_TEXTS, PLANTED, _corpus_text
from test_runs_find import assert_csv_equals_json, assert_error, csv_rows, run_job

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLASSES = ["healthy", "bos-sink", "dead", "low-entropy"]
METRICS = ("bos_mass", "entropy", "local_mass")


@pytest.fixture
def lab(daemon):
    d = daemon()
    r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.copytree(os.path.join(REPO_ROOT, "tests", "reference", "models", "tiny-h6-f32"),
                    os.path.join(d.model_root, "tiny-h6"))
    with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
        f.write(_corpus_text())
    return d


def heads(d, run, checkpoint=""):
    r = d.get("/api/v1/runs/%d/heads" % run, params={"checkpoint": checkpoint})
    assert r.status_code == 200, r.text
    return {(h["layer"], h["head"]): h for h in r.json()["heads"]}


def expected_comparison(a, b, drift, zone):
    """What the comparison must say, computed from the two head tables."""
    assert set(a) == set(b)
    n_head = max(h for _, h in a) + 1
    trans = {x: {y: 0 for y in CLASSES} for x in CLASSES}
    woken, sick, in_zone, out_zone = [], [], [], []
    changes = [0] * n_head
    for key in sorted(a):
        ca, cb = a[key]["class"], b[key]["class"]
        trans[ca][cb] += 1
        changes[key[1]] += ca != cb
        if ca != "healthy" and cb == "healthy":
            woken.append(key)
        if ca == "healthy" and cb != "healthy":
            sick.append(key)
        delta = b[key]["bos_mass"] - a[key]["bos_mass"]
        if ca == cb == "healthy" and abs(delta) > drift:
            (in_zone if key in zone else out_zone).append(key)
    return trans, woken, sick, in_zone, out_zone, changes


def check_comparison(d, a_side, b_side, a, b, drift=None, zone=()):
    params = {"a": a_side, "b": b_side}
    if drift is not None:
        params["drift"] = drift
    r = d.get("/api/v1/compare", params=params)
    assert r.status_code == 200, r.text
    got = r.json()
    trans, woken, sick, in_zone, out_zone, changes = expected_comparison(
        a, b, 0.05 if drift is None else drift, set(zone))
    assert got["transitions"] == trans
    assert [(x["layer"], x["head"]) for x in got["woken"]] == woken
    assert [(x["layer"], x["head"]) for x in got["newly_sick"]] == sick
    assert [(x["layer"], x["head"]) for x in got["drifters"]["in_zone"]] == in_zone
    assert [(x["layer"], x["head"]) for x in got["drifters"]["out_of_zone"]] == out_zone
    assert got["class_changes_per_head"] == changes
    assert len(got["heads"]) == len(a)
    for row in got["heads"]:
        key = (row["layer"], row["head"])
        for m in METRICS:
            assert row[m + "_a"] == a[key][m] and row[m + "_b"] == b[key][m]
            assert row[m + "_delta"] == pytest.approx(b[key][m] - a[key][m], abs=1e-15)
        assert (row["class_a"], row["class_b"]) == (a[key]["class"], b[key]["class"])
    # the CSV of the per-head table holds the same values
    r = d.get("/api/v1/compare", params=dict(params, format="csv"))
    rows = csv_rows(r)
    assert list(rows[0].keys())[:2] == ["layer", "head"]
    assert_csv_equals_json(rows, got["heads"])
    return got


def test_compare_two_diagnoses(lab):
    d = lab
    one = run_job(d, {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS})
    two = run_job(d, {"kind": "evaluate", "model": "demo", "texts": EVAL_TEXTS[:2],
                      "diagnose": True, "max_length": 12})
    a, b = heads(d, one), heads(d, two)
    got = check_comparison(d, str(one), str(two), a, b)
    assert got["a"] == {"run": one, "checkpoint": None, "kind": "diagnose", "model": "demo",
                        "layers": 4, "heads": 8, "ppl": None}
    assert got["b"]["kind"] == "evaluate" and got["b"]["ppl"] > 1
    assert got["perplexity"] == {"a": None, "b": got["b"]["ppl"], "delta": None}
    # a threshold of 0 makes every healthy-on-both head with any change a drifter
    got0 = check_comparison(d, str(one), str(two), a, b, drift=0)
    assert len(got0["drifters"]["out_of_zone"]) >= len(got["drifters"]["out_of_zone"])
    assert got0["drifters"]["in_zone"] == []


def test_compare_surgery_start_against_last_checkpoint(lab):
    d = lab
    spec = {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": EVAL_TEXTS,
            "targets": PLANTED, "init": "xavier_uniform", "lr": 3e-3, "batch_size": 2,
            "grad_accum": 2, "max_length": 32, "epochs": 2, "checkpoint_every": 1,
            "patience": 0, "seed": 11, "name": "wake planted", "tags": ["surgery"]}
    sid = run_job(d, spec, timeout=300)
    result = d.get("/api/v1/runs/%d" % sid).json()["result"]
    last = result["checkpoints"][-1]["name"]
    zone = [(int(l), h) for l, hs in PLANTED.items() for h in hs]
    a, b = heads(d, sid, "start"), heads(d, sid, last)
    got = check_comparison(d, "%d/start" % sid, "%d/%s" % (sid, last), a, b, zone=zone)
    assert sorted((x["layer"], x["head"]) for x in got["woken"]) == sorted(zone)
    assert got["a"]["checkpoint"] == "start" and got["b"]["checkpoint"] == last
    baseline = [p for p in d.get("/api/v1/runs/%d/curves?name=ppl" % sid).json()["points"]
                if p["step"] == 0][0]["value"]
    assert got["perplexity"]["a"] == baseline
    assert got["perplexity"]["b"] == result["checkpoints"][-1]["ppl"]
    assert got["perplexity"]["delta"] == pytest.approx(got["perplexity"]["b"] - baseline)
    # a drift threshold of 0 puts changed healthy target heads in the zone
    check_comparison(d, "%d/start" % sid, "%d/%s" % (sid, last), a, b, drift=0, zone=zone)

    # honest outcome: baseline, best checkpoint named, improves_baseline by the numbers
    best = [c for c in result["checkpoints"] if c["best"]][0]
    assert result["baseline_ppl"] == baseline
    assert result["best_checkpoint"] == best["name"] and result["best_ppl"] == best["ppl"]
    assert result["heads_woken"] == best["woken"]
    assert result["improves_baseline"] == (best["ppl"] < baseline)
    s = [x for x in d.get("/api/v1/runs?kind=surgery").json()["runs"] if x["id"] == sid][0]
    assert (s["baseline_ppl"], s["best_ppl"], s["best_checkpoint"], s["heads_woken"],
            s["improves_baseline"]) == (baseline, best["ppl"], best["name"], best["woken"],
                                        best["ppl"] < baseline)
    assert s["name"] == "wake planted" and s["ppl"] is None

    # refusals name the side
    diag = run_job(d, {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS})
    tiny = run_job(d, {"kind": "diagnose", "model": "tiny-h6", "texts": EVAL_TEXTS})
    body = assert_error(d.get("/api/v1/compare?a=%d&b=%d" % (diag, tiny)), 400)
    assert "4 layers x 8 heads" in body["detail"] and "x 6 heads" in body["detail"], body
    assert_error(d.get("/api/v1/compare?a=%d&b=%d" % (sid, diag)), 400, "a")  # no own heads
    steps = run_job(d, {"kind": "test-steps", "steps": 1})
    assert_error(d.get("/api/v1/compare?a=%d&b=%d" % (diag, steps)), 400, "b")
    assert_error(d.get("/api/v1/compare?a=99999&b=%d" % diag), 404, "a")
    assert_error(d.get("/api/v1/compare?a=%d&b=%d/epoch-99" % (diag, sid)), 404, "b")
    assert_error(d.get("/api/v1/compare?a=%d&b=%d/" % (diag, sid)), 400, "b")
    assert_error(d.get("/api/v1/compare?a=x&b=%d" % diag), 400, "a")
    assert_error(d.get("/api/v1/compare?b=%d" % diag), 400, "a")
    assert_error(d.get("/api/v1/compare?a=%d&b=%d&drift=2" % (diag, diag)), 400, "drift")
    assert_error(d.get("/api/v1/compare?a=%d&b=%d&c=1" % (diag, diag)), 400, "c")


def test_heads_and_curves_csv_equal_json(lab):
    d = lab
    rid = run_job(d, {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS,
                      "name": 'comma, "quote"', "tags": ["a", "b"]})
    js = d.get("/api/v1/runs/%d/heads" % rid).json()["heads"]
    assert_csv_equals_json(csv_rows(d.get("/api/v1/runs/%d/heads?format=csv" % rid)), js)
    steps = run_job(d, {"kind": "test-steps", "steps": 3})
    js = d.get("/api/v1/runs/%d/curves" % steps).json()["points"]
    assert js
    assert_csv_equals_json(csv_rows(d.get("/api/v1/runs/%d/curves?format=csv" % steps)), js)
    js = d.get("/api/v1/runs").json()["runs"]
    rows = csv_rows(d.get("/api/v1/runs?format=csv"))
    assert_csv_equals_json(rows, js)
    assert rows[1]["name"] == 'comma, "quote"' and rows[1]["tags"] == "a b"


def test_sick_bands_across_two_shapes(lab):
    d = lab
    demo = run_job(d, {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS})
    tiny = run_job(d, {"kind": "evaluate", "model": "tiny-h6", "texts": EVAL_TEXTS,
                       "diagnose": True})
    r = d.get("/api/v1/sick-bands?runs=%d,%d" % (demo, tiny))
    assert r.status_code == 200, r.text
    got = r.json()["runs"]
    assert [(x["run"], x["model"], x["layers"], x["heads"]) for x in got] == [
        (demo, "demo", 4, 8), (tiny, "tiny-h6", got[1]["layers"], 6)]
    for entry, run in zip(got, (demo, tiny)):
        rows = heads(d, run)
        n_head = entry["heads"]
        sick = [sum(1 for (l, h), x in rows.items() if h == i and x["class"] != "healthy")
                for i in range(n_head)]
        assert [b["head"] for b in entry["head_bands"]] == list(range(n_head))
        assert [b["sick_layers"] for b in entry["head_bands"]] == sick
        slopes = [b["slope"] for b in entry["head_bands"]]
        assert slopes == pytest.approx(bloom_slopes(n_head), rel=1e-6)
        want = spearman(slopes, sick)
        if want is None:
            assert entry["slope_sickness_spearman"] is None
        else:
            assert entry["slope_sickness_spearman"] == pytest.approx(want, abs=1e-12)
        result = d.get("/api/v1/runs/%d" % run).json()["result"]
        diag = result.get("diagnosis", result)
        assert diag["head_bands"] == entry["head_bands"]
    assert_error(d.get("/api/v1/sick-bands?runs=%d,99999" % demo), 404, "runs")
    steps = run_job(d, {"kind": "test-steps", "steps": 1})
    assert_error(d.get("/api/v1/sick-bands?runs=%d" % steps), 400, "runs")
    assert_error(d.get("/api/v1/sick-bands?runs=1,,2"), 400, "runs")
    assert_error(d.get("/api/v1/sick-bands"), 400, "runs")


def spearman(x, y):
    def ranks(v):
        return [sum(1 for w in v if w < a) + (sum(1 for w in v if w == a) + 1) / 2 for a in v]
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def bloom_slopes(n):
    """BLOOM's ALiBi slopes: powers of 2^(-8/p) for the largest power of two p <= n, then odd
    powers of 2^(-4/p) for the rest."""
    p = 1 << (n.bit_length() - 1)
    out = [(2 ** (-8 / p)) ** (i + 1) for i in range(p)]
    out += [(2 ** (-4 / p)) ** (2 * i + 1) for i in range(n - p)]
    return out


def test_surgery_worse_than_the_untouched_model_says_so(lab):
    """Re-initialising healthy heads (their output columns zeroed) and training them with a
    negligible learning rate leaves the model worse at every checkpoint: the result still names
    the best checkpoint, and improves_baseline is false."""
    d = lab
    spec = {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": EVAL_TEXTS,
            "targets": {"0": list(range(8)), "1": [0, 1, 2, 3]}, "init": "xavier_uniform",
            "lr": 1e-9, "batch_size": 2, "grad_accum": 1, "max_length": 32, "epochs": 2,
            "checkpoint_every": 1, "patience": 0, "seed": 3}
    sid = run_job(d, spec, timeout=300)
    result = d.get("/api/v1/runs/%d" % sid).json()["result"]
    baseline = [p for p in d.get("/api/v1/runs/%d/curves?name=ppl" % sid).json()["points"]
                if p["step"] == 0][0]["value"]
    ppls = [c["ppl"] for c in result["checkpoints"]]
    assert len(ppls) == 2 and all(p > baseline for p in ppls), (ppls, baseline)
    best = min(result["checkpoints"], key=lambda c: c["ppl"])
    assert result["baseline_ppl"] == baseline
    assert (result["best_checkpoint"], result["best_ppl"]) == (best["name"], best["ppl"])
    assert result["improves_baseline"] is False
    s = d.get("/api/v1/runs?kind=surgery").json()["runs"][0]
    assert (s["id"], s["best_checkpoint"], s["improves_baseline"]) == (sid, best["name"], False)
