#!/usr/bin/env python3
"""Benchmark (not a test): a whole diagnosis of one 512-token text on random BLOOM-560m-shape
weights (the model of bench/diagnose.py), `surgeond run` with "precision": "fp32" against
"bf16" in the same run: compute time and tokens/s of each (median of --repeats), and how far
bf16's numbers are from fp32's — NMSE (Σ(bf16 − fp32)² / Σ fp32²) and the largest absolute
difference of the per-head statistics, whether any head changes class, and the relative
difference of an evaluate job's perplexity (its NLL goes through the LM head's bf16 GEMMs).

    make && python3 bench/bf16.py                  # full size, needs build/release/surgeond
    python3 bench/bf16.py --n-layer 2 --seq-len 128 --repeats 1   # quick smoke run

The GEMM-level speed-ups (matmul at the 560m shapes, an LM head chunk, lm_head_nll) are in
bench/kernels.c's `bf16` mode.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402
from diagnose import compute_from_stderr, forward_flops  # noqa: E402

STATS = ("bos_mass", "entropy", "local_mass")


def nmse(got, ref):
    num = sum((g - r) ** 2 for g, r in zip(got, ref))
    den = sum(r * r for r in ref)
    return num / den if den > 0 else num


def main():
    ap = argparse.ArgumentParser(description="bf16 vs fp32 GEMMs: whole diagnosis and perplexity")
    ap.add_argument("--n-layer", type=int, default=24)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    model_dir = bc.prepare_model(False, args.n_layer)
    if model_dir is None:
        return 2
    root, name = os.path.dirname(model_dir), os.path.basename(model_dir)
    text = bc.bench_text(args.seq_len)
    T = len(bc.token_ids(text, args.seq_len))
    gemm_flops, attn_flops = forward_flops(args.n_layer, bc.BLOOM_560M["hidden_size"], T)
    print(f"model: random BLOOM-560m shape, {args.n_layer} layers, fp16 on disk; text: {T} tokens; "
          f"threads: {args.threads}; repeats: {args.repeats} (median)")

    spec = {"kind": "diagnose", "model": name, "texts": [text], "max_length": args.seq_len}
    heads, rows, seconds = {}, [], {}
    try:
        bc.run_surgeond_job(dict(spec, texts=["Hello world"]), root, root, args.threads)  # page cache
        for precision in ("fp32", "bf16"):
            runs = [bc.run_surgeond_job(dict(spec, precision=precision), root, root, args.threads)
                    for _ in range(args.repeats)]
            marks = [compute_from_stderr(r) for r in runs]
            if any(m is None for m in marks):
                raise bc.BenchError("surgeond's stderr lacks the progress lines that time the compute")
            result = json.loads(runs[-1].stdout)
            if result.get("precision") != precision:
                raise bc.BenchError(f"the result says precision {result.get('precision')!r}")
            heads[precision] = result["heads"]
            seconds[precision] = bc.median(marks)
            s = seconds[precision]
            rows.append([f"diagnose {precision} (compute)", f"{s:.3f}", f"{T / s:.1f}",
                         f"{(gemm_flops + attn_flops) / s / 1e9:.1f}",
                         f"{max(r.maxrss_kb for r in runs) / 1024:.0f}",
                         f"{seconds['fp32'] / s:.2f}"])
        ppl = {}
        for precision in ("fp32", "bf16"):
            ev = bc.run_surgeond_job({"kind": "evaluate", "model": name, "texts": [text],
                                      "max_length": args.seq_len, "precision": precision},
                                     root, root, args.threads)
            ppl[precision] = json.loads(ev.stdout)["ppl"]
    except bc.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    bc.print_table(f"diagnose, one {T}-token text, fp32 vs bf16 GEMMs",
                   ["path", "seconds", "tokens/s", "GFLOP/s", "peak RSS MB", "speed-up vs fp32"], rows)
    a, b = heads["fp32"], heads["bf16"]
    diff_rows = []
    for stat in STATS:
        ref = [h[stat] for h in a]
        got = [h[stat] for h in b]
        diff_rows.append([stat, f"{nmse(got, ref):.2e}",
                          f"{max(abs(g - r) for g, r in zip(got, ref)):.2e}"])
    changed = sum(1 for x, y in zip(a, b) if x["class"] != y["class"])
    bc.print_table("bf16 head statistics against fp32", ["statistic", "NMSE", "max |Δ|"], diff_rows)
    print(f"heads whose class changed: {changed} of {len(a)}")
    rel = abs(ppl["bf16"] - ppl["fp32"]) / ppl["fp32"]
    print(f"evaluate ppl: fp32 {ppl['fp32']:.6g}, bf16 {ppl['bf16']:.6g} (relative difference {rel:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
