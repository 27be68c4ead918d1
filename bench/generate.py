#!/usr/bin/env python3
"""Benchmark (not a test): greedy generation at BLOOM-560m shape (random weights), our
`surgeond run` generate job against transformers' generate(do_sample=False, use_cache=True) fp32,
in the same run, median of --repeats, at each batch size of --batches: prefill tokens/s, decode
tokens/s, the KV cache per sequence, plus the share of the memory-bandwidth bound that our
batch-1 decode reaches.

    python3 bench/generate.py                        # full size: 24 layers, batches 1 and 8
    python3 bench/generate.py --n-layer 2 --prompt-len 64 --new-tokens 16 --repeats 2   # smoke run
    python3 bench/generate.py --skip-ours            # transformers half only

How each side is timed:
- ours: each repeat is a fresh `surgeond run` generate job of `batch` copies of the prompt; the
  result's "timing" gives the prefill seconds (the prompts' forwards and the first token) and
  the decode seconds (every later step), measured inside the engine (model load and
  tokenization excluded).
- transformers: a worker process per batch size loads the model once (fp32, eager), warms up
  with a short generate, then per repeat times a prefill forward (model(ids, use_cache=True))
  and the whole generate(); decode seconds = generate − prefill. min_new_tokens =
  max_new_tokens so neither side stops early at eos.
- KV cache per sequence, against 2 × layers × T × hidden × 4 bytes (fp32 keys and values): ours
  is the "KV cache and activations" the job logs (the cache is allocated up front for
  T = prompt + new tokens; activations are a small part), divided by the batch; transformers'
  is measured: the bytes of the past_key_values tensors after generate (T − 1 positions: the
  last token is never fed back).
- bandwidth bound: one decode step at batch 1 must read every fp32 weight once (the tied
  embedding counts once: it is also the LM head); the bound is weight bytes / this machine's
  read bandwidth, the bandwidth measured by --threads threads at once (the decode's thread
  count), each a numpy sum over its slice of a --bw-gib GiB fp32 array, the best of --bw-runs
  runs (a busy machine makes single runs read low); the one-thread figure is printed beside it,
  as one core alone does not saturate the memory bus here. Share = bound / our
  seconds per decoded token. The KV cache read per step (a few % of the weights at these
  lengths) is printed beside it, not counted in the bound. The bound assumes fp32 weights, as
  --dtype float32 (the default) gives both sides; with --dtype float16 what a decode step of
  ours reads depends on how the engine holds a mapped fp16 model (README "Models and memory").
The load average before and after is printed: these numbers are only comparable at like load.
Both sides generate the same ids when they agree bit for bit on the argmax; the script prints
whether the greedy ids are identical (a random model's near-ties can make them differ).
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

KV_LOG_RE = re.compile(r"KV cache and activations (\d+) bytes")


def cache_tensor_bytes(cache):
    """Bytes of the key and value tensors a transformers cache holds (DynamicCache's layers, or
    the legacy tuple of (key, value) pairs)."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return sum(layer.keys.numel() * layer.keys.element_size() +
                   layer.values.numel() * layer.values.element_size() for layer in layers)
    return sum(t.numel() * t.element_size() for pair in cache for t in pair)


def hf_worker(args):
    import torch
    from transformers import BloomForCausalLM

    torch.set_num_threads(args.threads)
    model = BloomForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    ids = torch.tensor([bc.token_ids(bc.bench_text(args.prompt_len), args.prompt_len)] * args.batch)
    kw = dict(do_sample=False, use_cache=True, max_new_tokens=args.new_tokens,
              min_new_tokens=args.new_tokens, pad_token_id=3)
    prefill, total, out = [], [], None
    with torch.no_grad():
        model.generate(ids, **dict(kw, max_new_tokens=2, min_new_tokens=2))  # warm-up
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model(ids, use_cache=True)
            t1 = time.perf_counter()
            out = model.generate(ids, return_dict_in_generate=True, **kw)
            t2 = time.perf_counter()
            prefill.append(t1 - t0)
            total.append(t2 - t1)
    kv = cache_tensor_bytes(out.past_key_values)
    print(json.dumps({"prefill_s": bc.median(prefill), "generate_s": bc.median(total),
                      "kv_bytes_per_seq": kv / args.batch,
                      "ids": out.sequences[0, ids.shape[1]:].tolist()}))


def read_bandwidth_bytes_per_s(gib, runs, threads):
    """Best of `runs` streaming reads of a `gib` GiB fp32 array by `threads` threads at once, each
    a numpy sum over its own contiguous slice (numpy releases the GIL inside the sum). The decode
    step reads its weights with all its threads, so the bound must use the bandwidth those
    threads together get: on a 2-core machine one thread reads about half of it."""
    import threading

    import numpy as np

    a = np.ones(int(gib * (1 << 30)) // 4, dtype=np.float32)
    threads = max(1, threads)
    step = -(-a.size // threads)
    slices = [a[i:i + step] for i in range(0, a.size, step)]
    best = float("inf")
    for _ in range(runs):
        workers = [threading.Thread(target=s.sum) for s in slices]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best


def model_shape(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    return cfg["hidden_size"], cfg["n_layer"], cfg["vocab_size"]


def weight_bytes(model_dir):
    """fp32 bytes of every BLOOM parameter (tied embedding once)."""
    C, L, V = model_shape(model_dir)
    params = V * C + 2 * C + L * (12 * C * C + 13 * C) + 2 * C
    return 4 * params


def kv_formula_bytes(model_dir, T):
    """2 (keys, values) × layers × T × hidden × 4 bytes: one sequence's fp32 cache of T positions."""
    C, L, _ = model_shape(model_dir)
    return 2 * L * T * C * 4


def ours(model_root, model_name, args, batch):
    text = bc.bench_text(args.prompt_len)
    ids = bc.token_ids(text, args.prompt_len)
    spec = {"kind": "generate", "model": model_name, "prompts": [bc_decode(ids)] * batch,
            "max_new_tokens": args.new_tokens}
    pre, dec, out, kv, rss = [], [], None, None, 0
    for _ in range(args.repeats):
        res = bc.run_surgeond_job(spec, model_root, model_root, args.threads)
        out = json.loads(res.stdout)
        pre.append(out["timing"]["prefill_seconds"])
        dec.append(out["timing"]["decode_seconds"])
        rss = max(rss, res.maxrss_kb)
        for _, line in res.stderr_lines:
            m = KV_LOG_RE.search(line)
            if m:
                kv = int(m.group(1))
    return {"prefill_s": bc.median(pre), "decode_s": bc.median(dec),
            "decode_tokens": out["timing"]["decode_tokens"], "ids": out["completions"][0]["token_ids"],
            "prompt_tokens": out["completions"][0]["prompt_tokens"],
            "kv_act_bytes_per_seq": kv / batch if kv is not None else None, "maxrss_kb": rss}


def bc_decode(ids):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(bc.TOKENIZER_JSON).decode(ids)


def mib(x):
    return "-" if x is None else f"{x / (1 << 20):.1f}"


def run_batch(args, model_dir, batch):
    """One table of both sides at this batch size; returns (ours, transformers) results."""
    rows, hf, me = [], None, None
    if not args.skip_hf:
        hf = bc.run_python_worker(os.path.abspath(__file__), [
            "--model", model_dir, "--repeats", str(args.repeats), "--threads", str(args.threads),
            "--prompt-len", str(args.prompt_len), "--new-tokens", str(args.new_tokens),
            "--batch", str(batch)], args.threads)
        hf_dec = hf["generate_s"] - hf["prefill_s"]
        rows.append(["transformers", f"{batch * args.prompt_len / hf['prefill_s']:.1f}",
                     f"{batch * (args.new_tokens - 1) / hf_dec:.2f}",
                     f"{1e3 * hf_dec / (args.new_tokens - 1):.1f}",
                     f"{hf['maxrss_kb'] / 1024:.0f}", mib(hf["kv_bytes_per_seq"]) + " (measured, T-1)"])
    if not args.skip_ours:
        me = ours(os.path.dirname(model_dir), os.path.basename(model_dir), args, batch)
        rows.append(["surgeond", f"{batch * me['prompt_tokens'] / me['prefill_s']:.1f}",
                     f"{me['decode_tokens'] / me['decode_s']:.2f}",
                     f"{1e3 * me['decode_s'] * batch / me['decode_tokens']:.1f}",
                     f"{me['maxrss_kb'] / 1024:.0f}", mib(me["kv_act_bytes_per_seq"]) + " (cache+act., logged)"])
    T = args.prompt_len + args.new_tokens
    bc.print_table(f"greedy generation, BLOOM-560m shape, {args.n_layer} layers, batch {batch}, "
                   f"prompt {args.prompt_len}, {args.new_tokens} new tokens, {args.threads} threads, "
                   f"{args.repeats} repeat(s)",
                   ["", "prefill tok/s", "decode tok/s", "ms/step", "peak RSS MiB", "KV MiB/seq"], rows)
    print(f"KV formula 2 x {model_shape(model_dir)[1]} layers x T x {model_shape(model_dir)[0]} x 4 B: "
          f"T={T}: {mib(kv_formula_bytes(model_dir, T))} MiB, T={T - 1}: "
          f"{mib(kv_formula_bytes(model_dir, T - 1))} MiB per sequence")
    if me and hf:
        print("greedy ids identical to transformers:", me["ids"] == hf["ids"])
    return me, hf


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)  # the worker's
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--n-layer", type=int, default=24)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"],
                   help="dtype the random weights are stored in (both sides compute in fp32)")
    p.add_argument("--bw-gib", type=float, default=1.5, help="GiB read by the bandwidth probe")
    p.add_argument("--bw-runs", type=int, default=5, help="bandwidth probe: best of this many reads")
    p.add_argument("--skip-ours", action="store_true")
    p.add_argument("--skip-hf", action="store_true")
    args = p.parse_args()
    if args.worker:
        return hf_worker(args)
    if args.new_tokens < 2:
        p.error("--new-tokens must be at least 2 (decode is every token after the first)")
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    model_dir = bc.prepare_model(args.skip_ours, args.n_layer, args.dtype)
    if model_dir is None:
        return 1
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    results = {}
    for batch in batches:
        try:
            results[batch] = run_batch(args, model_dir, batch)
        except bc.BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    bw = read_bandwidth_bytes_per_s(args.bw_gib, args.bw_runs, args.threads)
    bw_one = read_bandwidth_bytes_per_s(args.bw_gib, args.bw_runs, 1) if args.threads > 1 else bw
    print(f"\nmemory read bandwidth: {bw / 1e9:.1f} GB/s with {args.threads} thread(s), the decode's "
          f"count (numpy sums over {args.bw_gib:g} GiB fp32, best of {args.bw_runs}); "
          f"one thread alone: {bw_one / 1e9:.1f} GB/s")
    wb = weight_bytes(model_dir)
    bound = wb / bw
    print(f"batch-1 decode bound: {wb / 1e9:.2f} GB of fp32 weights per token / bandwidth = "
          f"{bound * 1e3:.1f} ms/token; the KV cache adds "
          f"{kv_formula_bytes(model_dir, args.prompt_len + args.new_tokens // 2) / 1e6:.1f} MB/token "
          f"at the mean length (not counted)")
    me, hf = results.get(1, (None, None))
    for label, side, sec in (("surgeond", me, me and me["decode_s"] / me["decode_tokens"]),
                             ("transformers", hf,
                              hf and (hf["generate_s"] - hf["prefill_s"]) / (args.new_tokens - 1))):
        if side:
            print(f"{label} batch-1 decode {sec * 1e3:.1f} ms/token = {100 * bound / sec:.0f}% of the bound")
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min); wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
