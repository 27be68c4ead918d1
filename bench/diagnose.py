#!/usr/bin/env python3
"""Benchmark (not a test): diagnosis of one 512-token text on random BLOOM-560m-shape weights,
our `surgeond run` diagnose job against transformers fp32 with output_attentions=True (per-head
statistics computed from its attentions), measured in the same run, median of --repeats; plus
the sgemm peak of this machine at the model's GEMM shapes.

    python3 bench/diagnose.py                       # full size (24 layers), needs build/release/surgeond
    SURGEOND=build/x/release/surgeond python3 bench/diagnose.py --repeats 5
    python3 bench/diagnose.py --n-layer 2 --seq-len 128 --repeats 2   # quick smoke run
    python3 bench/diagnose.py --skip-ours           # transformers half and the sgemm probe only

How each side is timed:
- transformers: a worker process loads the model once (fp32, eager), then per repeat times
  BloomModel's forward with output_attentions=True plus the statistics (BOS mass, entropy, local
  mass per head, float32 torch) — no LM head, as a diagnosis needs none. Peak RSS of that process.
- whole process, both sides: a fresh process that loads the model, tokenizes and diagnoses the
  text once (transformers: python start, imports, from_pretrained, one forward with the
  statistics; ours: `surgeond run`), wall time from spawn to exit, page cache warm; and ours
  "ready": from spawn to the stderr line reporting the tokenized text of a 2-token job (process
  start, model load, tokenizer), plus that job's whole wall time.
- ours: each repeat is a fresh `surgeond run` process (load + tokenize + diagnose). Its compute
  time is read from the arrival times of its stderr lines: from the line that reports the
  tokenized texts ("... token(s) after truncation ...") to the final progress line "[n/n] text n
  of n". When those lines are absent, the fallback is the median wall time of the job minus the
  median wall time of the same job on a 2-token text. Peak RSS of the 512-token process.
The model dir (fp16 safetensors, like the bigscience uploads) is built once under build/bench/.
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


def forward_flops(n_layer, hidden, T):
    """FLOPs of the forward without the LM head: GEMMs 2·T·(12·C²) per layer, attention
    scores and context 2·2·T²·C/2 (causal half) per layer."""
    gemm = 2.0 * T * 12 * hidden * hidden * n_layer
    attn = 2.0 * T * T * hidden * n_layer
    return gemm, attn


TOKENIZED_RE = re.compile(r"token\(s\) after truncation")
LAST_TEXT_RE = re.compile(r"^\[(\d+)/(\d+)\] text ")


def compute_from_stderr(res):
    """Seconds between the 'tokenized' line and the last '[n/n] text' progress line, or None."""
    start = end = None
    for t, line in res.stderr_lines:
        if start is None and TOKENIZED_RE.search(line):
            start = t
        m = LAST_TEXT_RE.match(line)
        if m and m.group(1) == m.group(2):
            end = t
    return end - start if start is not None and end is not None and end > start else None


def ready_time(res):
    """Seconds from spawn to the line that reports the tokenized texts: the process started,
    the model loaded (mapped) and its tokenizer read."""
    for t, line in res.stderr_lines:
        if TOKENIZED_RE.search(line):
            return t
    raise bc.BenchError("surgeond printed no 'token(s) after truncation' line")


def worker(args):
    import torch
    from transformers import BloomForCausalLM

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = BloomForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    load_s = time.perf_counter() - t0
    ids = torch.tensor([bc.token_ids(bc.bench_text(args.seq_len), args.seq_len)])
    T = ids.shape[1]
    band = None
    times = []
    with torch.no_grad():
        for rep in range(args.repeats + 1):  # the first is a warm-up
            t = time.perf_counter()
            out = model.transformer(input_ids=ids, output_attentions=True)
            stats = []
            for a in out.attentions:
                a = a[0]
                if band is None:
                    idx = torch.arange(T)
                    band = ((idx.view(1, -1) <= idx.view(-1, 1)) & (idx.view(1, -1) >= idx.view(-1, 1) - 2)).float()
                bos = a[:, :, 0].mean(-1)
                ent = -(torch.where(a > 0, a * torch.log(a.clamp_min(1e-38)), torch.zeros_like(a))).sum(-1).mean(-1)
                loc = (a * band).sum(-1).mean(-1)
                stats.append(torch.stack([bos, ent, loc]))
            torch.stack(stats).sum().item()
            if rep > 0:
                times.append(time.perf_counter() - t)
    print(json.dumps({"T": T, "load_s": load_s, "times": times}))
    return 0


def main():
    ap = argparse.ArgumentParser(description="diagnose benchmark: surgeond vs transformers")
    ap.add_argument("--n-layer", type=int, default=24)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-ours", action="store_true", help="only transformers and the sgemm probe")
    ap.add_argument("--skip-hf", action="store_true", help="only ours and the sgemm probe")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    model_dir = bc.prepare_model(args.skip_ours, args.n_layer)
    if model_dir is None:
        return 2
    hidden = bc.BLOOM_560M["hidden_size"]
    text = bc.bench_text(args.seq_len)
    T = len(bc.token_ids(text, args.seq_len))
    gemm_flops, attn_flops = forward_flops(args.n_layer, hidden, T)
    print(f"model: random BLOOM-560m shape, {args.n_layer} layers, fp16 on disk; text: {T} tokens; "
          f"threads: {args.threads}; repeats: {args.repeats} (median)")

    rows = []
    hf = ours = None
    if not args.skip_hf:
        hf = bc.run_python_worker(os.path.abspath(__file__),
                                  ["--model-dir", model_dir, "--seq-len", str(args.seq_len),
                                   "--repeats", str(args.repeats), "--threads", str(args.threads)], args.threads)
        hf_s = bc.median(hf["times"])
        rows.append(["transformers fp32 (output_attentions)", f"{hf_s:.3f}", f"{T / hf_s:.1f}",
                     f"{(gemm_flops + attn_flops) / hf_s / 1e9:.1f}", f"{hf['maxrss_kb'] / 1024:.0f}", "1.00"])
        whole = [bc.run_python_worker(os.path.abspath(__file__),
                                      ["--model-dir", model_dir, "--seq-len", str(args.seq_len),
                                       "--repeats", "0", "--threads", str(args.threads)], args.threads)
                 for _ in range(args.repeats)]
        hf_whole = bc.median([w["wall_s"] for w in whole])
        rows.append(["transformers, whole process (python+load+run)", f"{hf_whole:.3f}",
                     f"{T / hf_whole:.1f}", "-", f"{max(w['maxrss_kb'] for w in whole) / 1024:.0f}",
                     "1.00 (whole)"])
    ours_gflops = {}
    if not args.skip_ours:
        root = os.path.dirname(model_dir)
        name = os.path.basename(model_dir)
        spec = {"kind": "diagnose", "model": name, "texts": [text], "max_length": args.seq_len}
        tiny = dict(spec, texts=["Hello world"])
        try:
            bc.run_surgeond_job(tiny, root, root, args.threads)  # warm the page cache
            ready = [bc.run_surgeond_job(tiny, root, root, args.threads) for _ in range(args.repeats)]
            full = [bc.run_surgeond_job(spec, root, root, args.threads) for _ in range(args.repeats)]
            marked = [compute_from_stderr(r) for r in full]
            if all(m is not None for m in marked):
                compute, how = bc.median(marked), "stderr marks"
            else:
                base = [bc.run_surgeond_job(tiny, root, root, args.threads) for _ in range(args.repeats)]
                compute = bc.median([r.wall_s for r in full]) - bc.median([r.wall_s for r in base])
                how = "wall − 2-token wall"
        except bc.BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        result = json.loads(full[-1].stdout)
        n_heads = len(result.get("heads", []))
        if n_heads != args.n_layer * bc.BLOOM_560M["n_head"]:
            print(f"error: surgeond's result has {n_heads} heads, expected "
                  f"{args.n_layer * bc.BLOOM_560M['n_head']}", file=sys.stderr)
            return 1
        wall = bc.median([r.wall_s for r in full])
        if compute <= 0:
            print("error: could not separate surgeond's compute time from its start-up (machine too busy?)",
                  file=sys.stderr)
            return 1
        ours = compute
        ratio = f"{hf_s / compute:.2f}" if hf else "-"
        rows.append([f"surgeond diagnose (compute, {how})", f"{compute:.3f}", f"{T / compute:.1f}",
                     f"{(gemm_flops + attn_flops) / compute / 1e9:.1f}",
                     f"{max(r.maxrss_kb for r in full) / 1024:.0f}", ratio])
        rows.append(["surgeond diagnose, whole process (load+run)", f"{wall:.3f}", f"{T / wall:.1f}", "-",
                     f"{max(r.maxrss_kb for r in full) / 1024:.0f}",
                     f"{hf_whole / wall:.2f} (whole)" if hf else "-"])
        ready_s = bc.median([ready_time(r) for r in ready])
        rows.append(["surgeond ready: spawn to model loaded and text tokenized", f"{ready_s:.3f}", "-", "-",
                     "-", "-"])
        tiny_s = bc.median([r.wall_s for r in ready])
        rows.append(["surgeond 2-token diagnose, whole process", f"{tiny_s:.3f}", "-", "-",
                     f"{max(r.maxrss_kb for r in ready) / 1024:.0f}", "-"])
        ours_gflops["surgeond reported GEMM rate"] = bc.reported_gflops(full[-1])
        ours_gflops["surgeond effective rate (all forward FLOPs / compute time, a lower bound)"] = \
            (gemm_flops + attn_flops) / compute / 1e9
    bc.print_table(f"diagnose, one {T}-token text (median of {args.repeats})",
                   ["path", "seconds", "tokens/s", "GFLOP/s", "peak RSS MB", "speed-up vs HF"], rows)
    if hf and ours:
        print(f"target: ≥ 2× transformers' tokens/s — measured {hf_s / ours:.2f}×")
        print(f"target: whole process ≥ 1.5× transformers' whole process — measured {hf_whole / wall:.2f}×; "
              f"model in the page cache ready in {ready_s:.2f} s (target ≤ 0.5 s)")
    shapes = [(T, 3 * hidden, hidden), (T, hidden, hidden), (T, 4 * hidden, hidden), (T, hidden, 4 * hidden)]
    probe = bc.sgemm_probe(shapes, args.threads)
    bc.print_gemm_table(probe, ours_gflops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
