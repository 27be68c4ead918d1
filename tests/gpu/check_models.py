#!/usr/bin/env python3
"""GPU check, part 2 (standard library only): the same jobs through `surgeond run` on cuda:0
and on cpu — a tiny model's diagnosis, perplexity, 5 surgery steps and greedy generation must
agree — then benchmarks at BLOOM-560m and 1b7 shapes with random weights: diagnose tokens/s,
surgery step time (seq 512, batch 8, targets heads 9-15 of layers 5-22), decode tokens/s,
achieved TFLOP/s and its share of the bf16 GEMM peak measured in the same run (--bf16-peak,
from gemm_peak_cuda), and a 15-epoch 1b7 surgery on 541k tokens projected from the step time.
Timings come from differences of two runs (N and 1 units of work), so model loading and
start-up cancel out. Each part prints PASS or FAIL and the next one runs regardless; one table
is printed last. Run by tests/gpu/check.sh:
  check_models.py --build-dir DIR [--bf16-peak TFLOPS] [--skip-1b7] [--only tiny|bench]"""
import argparse
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
# hidden size, layers, heads, surgery targets {layer: heads}; "tiny" checks the script itself
SHAPES = {"560m": (1024, 24, 16, {l: list(range(9, 16)) for l in range(5, 23)}),
          "1b7": (2048, 24, 16, {l: list(range(9, 16)) for l in range(5, 23)}),
          "tiny": (64, 2, 4, {1: [1, 2, 3]})}
GPU = "cuda:0"  # --device: cpu runs the script end to end on a machine without a GPU
SURGERY_TOKENS = 541_000  # the corpus of the projected run
SURGERY_EPOCHS = 15
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
    print("  %-44s %s %-14.8g cpu %-14.8g %s %.2e (limit %.0e) %s" %
          (label, GPU, a, b, "rel" if relative else "abs", err, limit, "ok" if ok else "FAIL"))


def tiny_parity(work):
    print("tiny model: %s vs cpu" % GPU)
    texts = [PARAGRAPH * 2, "Heads that collapse onto the first token.", PARAGRAPH]
    spec = {"kind": "diagnose", "model": "demo", "texts": texts, "max_length": 128}
    gpu, _ = run_job(spec, work, GPU)
    cpu, _ = run_job(spec, work, "cpu")
    worst = max(abs(g[k] - c[k]) for g, c in zip(gpu["heads"], cpu["heads"])
                for k in ("bos_mass", "entropy", "local_mass"))
    compare("diagnose: max |head statistic difference|", worst, 0.0, 1e-4)
    same = all(g["class"] == c["class"] for g, c in zip(gpu["heads"], cpu["heads"]))
    print("  diagnose: classes identical: %s" % same)
    if not same:
        failures.append("classes")
    spec = {"kind": "evaluate", "model": "demo", "texts": texts, "max_length": 128}
    gpu, _ = run_job(spec, work, GPU)
    cpu, _ = run_job(spec, work, "cpu")
    compare("evaluate: perplexity", gpu["ppl"], cpu["ppl"], 1e-4, relative=True)
    with open(os.path.join(work, "corpora", "tiny.txt"), "w") as f:
        f.write(PARAGRAPH * 40)
    spec = {"kind": "surgery", "model": "demo", "corpus": "tiny.txt", "eval_texts": texts[:2],
            "targets": {"1": [6], "3": [6, 7]}, "init": "none", "shuffle": False,
            "max_length": 64, "grad_accum": 2, "max_steps": 5, "lr": 1e-3, "clip": 1.0,
            "checkpoint_every": 1000}
    gpu, _ = run_job(spec, work, GPU, details=True)
    cpu, _ = run_job(spec, work, "cpu", details=True)
    gl = [p["value"] for p in gpu["curves"] if p["name"] == "loss"]
    cl = [p["value"] for p in cpu["curves"] if p["name"] == "loss"]
    for i, (g, c) in enumerate(zip(gl, cl)):
        compare("surgery: loss at step %d" % i, g, c, 1e-4, relative=True)
    if len(gl) != len(cl) or not gl:
        failures.append("surgery loss curve length")
    spec = {"kind": "generate", "model": "demo", "prompts": [texts[1], PARAGRAPH[:80]],
            "max_new_tokens": 24, "do_sample": False}
    gpu, _ = run_job(spec, work, GPU)
    cpu, _ = run_job(spec, work, "cpu")
    same = [g["token_ids"] == c["token_ids"] for g, c in
            zip(gpu["completions"], cpu["completions"])]
    print("  generate (greedy, 24 new tokens): token ids identical per prompt: %s" % same)
    for g, c in zip(gpu["completions"], cpu["completions"]):
        first = next((i for i, (a, b) in enumerate(zip(g["token_ids"], c["token_ids"]))
                      if a != b), None)
        if first is not None:  # a near tie of two logits shows up as an early divergence
            print("    prompt %d: first different new token at %d (%d vs %d)" %
                  (g["index"], first, g["token_ids"][first], c["token_ids"][first]))
    if not same or not all(same):
        failures.append("greedy generation differs")


def bench_shape(work, name, peak):
    C, L, H, target_heads = SHAPES[name]
    model_dir = os.path.join(work, "models", name)
    # bf16 files (the loader widens them to fp32): half the bytes to write and read
    subprocess.run([MAKE_MODEL, name, model_dir, os.path.join(work, "models", "demo"), "bf16"],
                   check=True, capture_output=True)
    V, T, B = 250880, 512, 8
    long_text = PARAGRAPH * 40
    one = {"kind": "diagnose", "model": name, "texts": [long_text], "max_length": T}
    many = dict(one, texts=[long_text] * 9)
    run_job(one, work, GPU)  # warm-up: file cache, CUDA context
    _, t1 = run_job(one, work, GPU)
    _, t9 = run_job(many, work, GPU)
    per_text = max((t9 - t1) / 8, 1e-9)
    tokens_s = T / per_text
    flops_tok = L * (24 * C * C + 2 * T * C)  # GEMMs 2*12C^2, causal scores+context ~ 4*T/2*C
    add_row(name, "diagnose (1x512)", "%.0f tokens/s" % tokens_s, flops_tok * tokens_s / 1e12,
            peak)
    with open(os.path.join(work, "corpora", "bench.txt"), "w") as f:
        f.write(PARAGRAPH * 2000)
    targets = {str(l): heads for l, heads in target_heads.items()}
    lo = min(target_heads)
    base = {"kind": "surgery", "model": name, "corpus": "bench.txt", "eval_texts": [PARAGRAPH],
            "targets": targets, "max_length": T, "batch_size": B, "grad_accum": 1,
            "checkpoint_every": 1000, "init": "xavier_uniform", "shuffle": False}
    _, s1 = run_job(dict(base, max_steps=1), work, GPU)
    _, s4 = run_job(dict(base, max_steps=4), work, GPU)
    step = max((s4 - s1) / 3, 1e-9)
    fwd = L * (24 * C * C + 2 * T * C) + 2 * V * C
    bwd = (L - lo) * (24 * C * C + 4 * T * C) + 2 * V * C  # dX only above layer lo, LM-head dx
    add_row(name, "surgery step (8x512)", "%.3f s/step" % step,
            (fwd + bwd) * B * T / step / 1e12, peak)
    if name in ("1b7", "tiny"):
        steps = SURGERY_EPOCHS * -(-SURGERY_TOKENS // (B * T))
        add_row(name, "%d-epoch surgery, %dk tokens (projected)" % (SURGERY_EPOCHS,
                                                                   SURGERY_TOKENS // 1000),
                "%d steps, %.1f h" % (steps, steps * step / 3600), None, peak)
    gen = {"kind": "generate", "model": name, "prompts": [PARAGRAPH[:200]] * 8,
           "do_sample": False}
    r1, g1 = run_job(dict(gen, max_new_tokens=8), work, GPU)
    r2, g2 = run_job(dict(gen, max_new_tokens=72), work, GPU)
    # new tokens as reported (a sequence may stop early at an end-of-text token)
    tokens = max(r2["new_tokens"] - r1["new_tokens"], 1)
    tokens_s = tokens / max(g2 - g1, 1e-9)
    flops_token = L * (24 * C * C) + 2 * V * C  # GEMMs and the LM head per new token
    add_row(name, "decode (8 sequences, greedy)", "%.0f tokens/s" % tokens_s,
            flops_token * tokens_s / 1e12, peak)
    shutil.rmtree(model_dir, ignore_errors=True)


def add_row(name, what, speed, tflops, peak):
    share = "%.0f%%" % (100 * tflops / peak) if tflops is not None and peak else "-"
    rows.append((name, what, speed, "%.1f" % tflops if tflops is not None else "-", share))
    # at once, too: a run cut short by a time limit still shows what it measured
    print("row: | %s | %s | %s | %s | %s |" % rows[-1], flush=True)


def section(label, fn, *args):
    before = len(failures)
    try:
        fn(*args)
    except Exception as e:  # report and go on with the next part
        failures.append("%s: %s" % (label, e))
        print("ERROR in %s: %s" % (label, e))
    print("%s: %s" % ("PASS" if len(failures) == before else "FAIL", label))


def main():
    global SURGEOND, MAKE_MODEL, GPU
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--bf16-peak", type=float, default=0.0,
                    help="TFLOP/s of the bf16 cuBLASLt peak to divide achieved TFLOP/s by")
    ap.add_argument("--skip-1b7", action="store_true")
    ap.add_argument("--shapes", default="560m,1b7", help="comma-separated: 560m, 1b7, tiny")
    ap.add_argument("--only", choices=("tiny", "bench"))
    ap.add_argument("--device", default=GPU,
                    help="the device under test (default cuda:0; cpu checks the script itself)")
    args = ap.parse_args()
    GPU = args.device
    SURGEOND = os.path.join(args.build_dir, "surgeond")
    MAKE_MODEL = os.path.join(args.build_dir, "gpu", "make_random_model")
    work = tempfile.mkdtemp(prefix="hs-gpu-")
    for d in ("data", "models", "corpora"):
        os.makedirs(os.path.join(work, d))
    try:
        subprocess.run([SURGEOND, "demo-model", "--out", os.path.join(work, "models", "demo")],
                       check=True, capture_output=True)
        if args.only in (None, "tiny"):
            section("tiny model %s vs cpu" % GPU, tiny_parity, work)
        if args.only in (None, "bench"):
            for name in args.shapes.split(","):
                if name == "1b7" and args.skip_1b7:
                    continue
                section("benchmark %s" % name, bench_shape, work, name, args.bf16_peak)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| shape | work | speed | achieved TFLOP/s (estimated FLOPs) | share of bf16 peak "
          "(%.0f TFLOP/s) |" % args.bf16_peak)
    print("|---|---|---|---|---|")
    for row in rows:
        print("| %s | %s | %s | %s | %s |" % row)
    print("model jobs run with fp32 GEMMs (job specs have no precision field yet)")
    print("failures: %s" % (", ".join(failures) if failures else "none"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
