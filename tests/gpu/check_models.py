#!/usr/bin/env python3
"""GPU check, part 2 (standard library only): the same jobs through `surgeond run` on cuda:0
and on cpu — a tiny model's diagnosis, perplexity and 5 surgery steps must agree — then
benchmarks at BLOOM-560m and 1b7 shapes with random weights: diagnose tokens/s and surgery
step time (seq 512, batch 8, targets heads 9-15 of layers 5-22), with achieved TFLOP/s.
Timings come from differences of two runs (N and 1 units of work), so model loading and
start-up cancel out. Prints one table last. Run by tests/gpu/check.sh."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SURGEOND = os.path.join(ROOT, "build", "release", "surgeond")
MAKE_MODEL = os.path.join(ROOT, "build", "release", "gpu", "make_random_model")
SHAPES = {"560m": (1024, 24, 16), "1b7": (2048, 24, 16)}
PARAGRAPH = ("The lab keeps a notebook of every run: which heads collapsed, how the loss moved, "
             "and what the perplexity was after each checkpoint. Surgery re-initialises the heads "
             "that attend only to the first token and trains them again on ordinary text. ")
failures = []
rows = []


def run_job(spec, work, device, details=False):
    path = os.path.join(work, "job-%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump(spec, f)
    cmd = [SURGEOND, "run", "--data-dir", os.path.join(work, "data"), "--model-root",
           os.path.join(work, "models"), "--corpus-root", os.path.join(work, "corpora"),
           "--device", device] + (["--details"] if details else []) + [path]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s on %s failed: %s" % (spec["kind"], device, p.stderr[-2000:]))
    return json.loads(p.stdout), dt


def compare(label, a, b, limit, relative=False):
    err = abs(a - b) / max(abs(b), 1e-30) if relative else abs(a - b)
    ok = err <= limit
    if not ok:
        failures.append(label)
    print("  %-44s cuda %-14.8g cpu %-14.8g %s %.2e (limit %.0e) %s" %
          (label, a, b, "rel" if relative else "abs", err, limit, "ok" if ok else "FAIL"))


def tiny_parity(work):
    print("tiny model: cuda:0 vs cpu")
    subprocess.run([SURGEOND, "demo-model", "--out", os.path.join(work, "models", "demo")],
                   check=True, capture_output=True)
    texts = [PARAGRAPH * 2, "Heads that collapse onto the first token.", PARAGRAPH]
    spec = {"kind": "diagnose", "model": "demo", "texts": texts, "max_length": 128}
    gpu, _ = run_job(spec, work, "cuda:0")
    cpu, _ = run_job(spec, work, "cpu")
    worst = max(abs(g[k] - c[k]) for g, c in zip(gpu["heads"], cpu["heads"])
                for k in ("bos_mass", "entropy", "local_mass"))
    compare("diagnose: max |head statistic difference|", worst, 0.0, 1e-4)
    same = all(g["class"] == c["class"] for g, c in zip(gpu["heads"], cpu["heads"]))
    print("  diagnose: classes identical: %s" % same)
    if not same:
        failures.append("classes")
    spec = {"kind": "evaluate", "model": "demo", "texts": texts, "max_length": 128}
    gpu, _ = run_job(spec, work, "cuda:0")
    cpu, _ = run_job(spec, work, "cpu")
    compare("evaluate: perplexity", gpu["ppl"], cpu["ppl"], 1e-4, relative=True)
    with open(os.path.join(work, "corpora", "tiny.txt"), "w") as f:
        f.write(PARAGRAPH * 40)
    spec = {"kind": "surgery", "model": "demo", "corpus": "tiny.txt", "eval_texts": texts[:2],
            "targets": {"1": [6], "3": [6, 7]}, "init": "none", "shuffle": False,
            "max_length": 64, "grad_accum": 2, "max_steps": 5, "lr": 1e-3, "clip": 1.0,
            "checkpoint_every": 1000}
    gpu, _ = run_job(spec, work, "cuda:0", details=True)
    cpu, _ = run_job(spec, work, "cpu", details=True)
    gl = [p["value"] for p in gpu["curves"] if p["name"] == "loss"]
    cl = [p["value"] for p in cpu["curves"] if p["name"] == "loss"]
    for i, (g, c) in enumerate(zip(gl, cl)):
        compare("surgery: loss at step %d" % i, g, c, 1e-4, relative=True)
    if len(gl) != len(cl) or not gl:
        failures.append("surgery loss curve length")


def bench_shape(work, name):
    C, L, H = SHAPES[name]
    model_dir = os.path.join(work, "models", name)
    subprocess.run([MAKE_MODEL, name, model_dir, os.path.join(work, "models", "demo")], check=True,
                   capture_output=True)
    long_text = PARAGRAPH * 40
    one = {"kind": "diagnose", "model": name, "texts": [long_text], "max_length": 512}
    many = dict(one, texts=[long_text] * 9)
    run_job(one, work, "cuda:0")  # warm-up: file cache, CUDA context
    _, t1 = run_job(one, work, "cuda:0")
    _, t9 = run_job(many, work, "cuda:0")
    per_text = max((t9 - t1) / 8, 1e-9)
    tokens_s = 512 / per_text
    flops_tok = L * (24 * C * C + 2 * 512 * C)  # GEMMs 2*12C^2, causal scores+context ~ 4*T/2*C
    rows.append((name, "diagnose", "%.0f tokens/s" % tokens_s, flops_tok * tokens_s / 1e12))
    with open(os.path.join(work, "corpora", "bench.txt"), "w") as f:
        f.write(PARAGRAPH * 2000)
    targets = {str(l): list(range(9, 16)) for l in range(5, 23)}
    base = {"kind": "surgery", "model": name, "corpus": "bench.txt", "eval_texts": [PARAGRAPH],
            "targets": targets, "max_length": 512, "batch_size": 8, "grad_accum": 1,
            "checkpoint_every": 1000, "init": "xavier_uniform", "shuffle": False}
    _, s1 = run_job(dict(base, max_steps=1), work, "cuda:0")
    _, s4 = run_job(dict(base, max_steps=4), work, "cuda:0")
    step = max((s4 - s1) / 3, 1e-9)
    V, T, B = 250880, 512, 8
    fwd = L * (24 * C * C + 2 * T * C) + 2 * V * C
    bwd = (L - 5) * (24 * C * C + 4 * T * C) + 2 * V * C  # dX only above layer 5, LM-head dx
    rows.append((name, "surgery step (8x512)", "%.3f s/step" % step, (fwd + bwd) * B * T / step / 1e12))
    shutil.rmtree(model_dir, ignore_errors=True)


def main():
    work = tempfile.mkdtemp(prefix="hs-gpu-")
    for d in ("data", "models", "corpora"):
        os.makedirs(os.path.join(work, d))
    try:
        tiny_parity(work)
        for name in ("560m", "1b7"):
            if name == "1b7" and "--skip-1b7" in sys.argv:
                continue
            bench_shape(work, name)
    except Exception as e:  # report and keep the table of what ran
        failures.append(str(e))
        print("ERROR:", e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| shape | work | speed | achieved TFLOP/s (fp32, estimated FLOPs) |")
    print("|---|---|---|---|")
    for name, what, speed, tflops in rows:
        print("| %s | %s | %s | %.1f |" % (name, what, speed, tflops))
    print("failures: %s" % (", ".join(failures) if failures else "none"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
