#!/usr/bin/env python3
"""Benchmark (not a test): one optimizer step of head surgery on random BLOOM-560m-shape weights,
one 512-token sequence (batch 1, grad_accum 1), targets heads 9–15 of layers 5–22. Ours
(`surgeond run` on a surgery job) against transformers doing what the reference scripts do: every
target layer's query_key_value weight/bias and dense weight trainable, gradient hooks that zero
the non-target rows/columns, full autograd backward, clip_grad_norm_ 1.0, torch.optim.AdamW —
with gradient checkpointing on (the reference setting) and off. Seconds per step (median of
--repeats, after one warm-up step) and peak RSS of each process, plus the sgemm peak at the same
shapes and our achieved FLOP/s.

    python3 bench/surgery.py                                   # full size; needs build/release/surgeond
    python3 bench/surgery.py --n-layer 4 --target-layers 1-2 --seq-len 128 --repeats 2   # smoke run
    python3 bench/surgery.py --skip-ours                       # transformers halves and the probe only

Ours is timed from the arrival times of its per-step progress lines on stderr ("[k/N] step k/N
loss ..."): the median gap between consecutive steps after the first. The model dir (fp16 on disk,
like the bigscience uploads) is built once under build/bench/; the corpus is written there too.
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

STEP_RE = re.compile(r"^\[(\d+)/(\d+)\] step (\d+)/(\d+) ")


def parse_range(text):
    a, _, b = text.partition("-")
    lo, hi = int(a), int(b or a)
    if lo > hi or lo < 0:
        raise argparse.ArgumentTypeError(f"bad range {text!r}")
    return list(range(lo, hi + 1))


def step_flops(n_layer, hidden, vocab, T, layers, heads_per_layer, head_dim, reference):
    """Approximate FLOPs of one training step. Forward: 12·C² GEMM weights and causal attention
    per layer, the LM head. Backward: the LM head's input gradient, then for every layer from the
    top down to the lowest target layer the input gradients (≈ the forward GEMMs) and attention
    backward (≈ 2× its forward); weight gradients only of the target slices (ours) or of the
    whole QKV and dense weights of each target layer (reference). The reference also recomputes
    the forward of the back-propagated layers when checkpointing (not counted here)."""
    C, V = hidden, vocab
    layer_gemm = 2.0 * T * 12 * C * C
    layer_attn = 2.0 * T * T * C
    lm_head = 2.0 * T * C * V
    fwd = n_layer * (layer_gemm + layer_attn) + lm_head
    lowest = min(layers)
    n_bwd = n_layer - lowest
    bwd = lm_head + n_bwd * (layer_gemm + 2 * layer_attn)
    if reference:
        wgrad = len(layers) * 2.0 * T * (3 * C * C + C * C)
    else:
        wgrad = len(layers) * 2.0 * T * heads_per_layer * head_dim * (3 * C + C)
    return fwd + bwd + wgrad


def worker(args):
    import torch
    from transformers import BloomForCausalLM

    torch.set_num_threads(args.threads)
    model = BloomForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    layers, heads = parse_range(args.target_layers), parse_range(args.target_heads)
    if args.mode == "checkpointing":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()  # checkpointing is only active in training mode; dropout is 0 in the config
    d = model.config.hidden_size // model.config.n_head
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for layer in layers:
        attn = model.transformer.h[layer].self_attention
        rows = torch.zeros(attn.query_key_value.weight.shape[0])
        cols = torch.zeros(attn.dense.weight.shape[1])
        for h in heads:
            rows[h * 3 * d:(h + 1) * 3 * d] = 1
            cols[h * d:(h + 1) * d] = 1
        w, b, dw = attn.query_key_value.weight, attn.query_key_value.bias, attn.dense.weight
        for p in (w, b, dw):
            p.requires_grad_(True)
        w.register_hook(lambda g, m=rows: g * m.view(-1, 1))
        b.register_hook(lambda g, m=rows: g * m)
        dw.register_hook(lambda g, m=cols: g * m.view(1, -1))
        params += [w, b, dw]
    opt = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids = torch.tensor([bc.token_ids(bc.bench_text(args.seq_len), args.seq_len)])
    times = []
    for rep in range(args.repeats + 1):  # the first is a warm-up
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        if any(p.grad is None for p in params):
            raise RuntimeError("a trainable tensor got no gradient (checkpointing misconfigured)")
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if rep > 0:
            times.append(time.perf_counter() - t)
    print(json.dumps({"mode": args.mode, "T": ids.shape[1], "times": times, "loss": loss.item()}))
    return 0


def main():
    ap = argparse.ArgumentParser(description="surgery step benchmark: surgeond vs transformers")
    ap.add_argument("--n-layer", type=int, default=24)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--target-layers", default="5-22")
    ap.add_argument("--target-heads", default="9-15")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-ours", action="store_true", help="only transformers and the sgemm probe")
    ap.add_argument("--skip-hf", action="store_true", help="only ours and the sgemm probe")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("checkpointing", "plain"), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    layers, heads = parse_range(args.target_layers), parse_range(args.target_heads)
    if max(layers) >= args.n_layer or max(heads) >= bc.BLOOM_560M["n_head"]:
        ap.error("targets outside the model: adjust --target-layers/--target-heads to --n-layer")
    model_dir = bc.prepare_model(args.skip_ours, args.n_layer)
    if model_dir is None:
        return 2
    C, H, V = bc.BLOOM_560M["hidden_size"], bc.BLOOM_560M["n_head"], bc.BLOOM_560M["vocab_size"]
    T = len(bc.token_ids(bc.bench_text(args.seq_len), args.seq_len))
    print(f"model: random BLOOM-560m shape, {args.n_layer} layers, fp16 on disk; one {T}-token sequence; "
          f"targets heads {heads[0]}-{heads[-1]} of layers {layers[0]}-{layers[-1]}; threads {args.threads}; "
          f"median of {args.repeats} steps after a warm-up step")
    flops_ref = step_flops(args.n_layer, C, V, T, layers, len(heads), C // H, reference=True)
    flops_ours = step_flops(args.n_layer, C, V, T, layers, len(heads), C // H, reference=False)

    rows, base = [], None
    common = ["--model-dir", model_dir, "--seq-len", str(args.seq_len), "--repeats", str(args.repeats),
              "--threads", str(args.threads), "--target-layers", args.target_layers,
              "--target-heads", args.target_heads]
    hf = {}
    if not args.skip_hf:
        for mode in ("checkpointing", "plain"):
            try:
                hf[mode] = bc.run_python_worker(os.path.abspath(__file__), common + ["--mode", mode], args.threads)
            except bc.BenchError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        base = bc.median(hf["checkpointing"]["times"])
        for mode, label in (("checkpointing", "transformers fp32, hooks + gradient checkpointing (reference)"),
                            ("plain", "transformers fp32, hooks, no checkpointing")):
            s = bc.median(hf[mode]["times"])
            rows.append([label, f"{s:.2f}", f"{flops_ref / s / 1e9:.1f}", f"{hf[mode]['maxrss_kb'] / 1024:.0f}",
                         f"{base / s:.2f}"])
    ours_rates = {}
    if not args.skip_ours:
        corpus_dir = os.path.join(bc.BENCH_DIR, "corpora")
        os.makedirs(corpus_dir, exist_ok=True)
        n_steps = args.repeats + 1
        corpus_name = f"surgery_bench_{args.seq_len * (n_steps + 1)}.txt"  # per length: runs may overlap
        bc.write_atomic(os.path.join(corpus_dir, corpus_name), bc.bench_text(args.seq_len * (n_steps + 1)))
        spec = {"kind": "surgery", "model": os.path.basename(model_dir), "corpus": corpus_name,
                "eval_texts": ["Hello world, this is a short evaluation text."],
                "targets": {str(layer): heads for layer in layers}, "batch_size": 1, "grad_accum": 1,
                "max_length": args.seq_len, "max_steps": n_steps, "shuffle": False, "clip": 1.0, "lr": 5e-5}
        try:
            res = bc.run_surgeond_job(spec, os.path.dirname(model_dir), corpus_dir, args.threads)
        except bc.BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        stamps = {}
        for t, line in res.stderr_lines:
            m = STEP_RE.match(line)
            if m:
                stamps[int(m.group(3))] = t
        gaps = [stamps[k] - stamps[k - 1] for k in sorted(stamps) if k - 1 in stamps and k >= 2]
        if not gaps:
            print("error: surgeond printed no consecutive step progress lines to time; stderr ends:\n"
                  + res.stderr_text(), file=sys.stderr)
            return 1
        s = bc.median(gaps)
        rows.append(["surgeond surgery (masked backward)", f"{s:.2f}", f"{flops_ours / s / 1e9:.1f}",
                     f"{res.maxrss_kb / 1024:.0f}", f"{base / s:.2f}" if base else "-"])
        ours_rates["surgeond reported GEMM rate"] = bc.reported_gflops(res)
        ours_rates["surgeond effective rate (its step FLOPs / step time, a lower bound)"] = flops_ours / s / 1e9
        if base:
            print(f"target: ≥ 1.5× the reference (checkpointing) — measured {base / s:.2f}×; "
                  f"vs transformers without checkpointing {bc.median(hf['plain']['times']) / s:.2f}× (must be ≥ 1)")
    bc.print_table(f"surgery, one optimizer step on {T} tokens (median of {args.repeats})",
                   ["path", "s/step", "GFLOP/s (approx.)", "peak RSS MB", "speed-up vs reference"], rows)
    print(f"step FLOPs (approx.): reference {flops_ref / 1e9:.0f} G (+ recomputation when checkpointing), "
          f"ours {flops_ours / 1e9:.0f} G")
    shapes = [(T, 3 * C, C), (T, C, C), (T, 4 * C, C), (T, C, 4 * C), (T, V // 8, C)]
    bc.print_gemm_table(bc.sgemm_probe(shapes, args.threads), ours_rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
