#!/usr/bin/env python3
"""Benchmark (not a test): greedy generation at BLOOM-560m shape (random weights), our
`surgeond run` generate job against transformers' generate(do_sample=False, use_cache=True) fp32,
in the same run, median of --repeats: prefill tokens/s and decode tokens/s at batch 1 (and at
--batch), plus the share of the memory-bandwidth bound our batch-1 decode reaches.

    python3 bench/generate.py                        # full size (24 layers), build/release/surgeond
    python3 bench/generate.py --n-layer 2 --prompt-len 64 --new-tokens 16 --repeats 2   # smoke run
    python3 bench/generate.py --skip-ours            # transformers half only

How each side is timed:
- ours: each repeat is a fresh `surgeond run` generate job; the result's "timing" gives the
  prefill seconds (the prompt's forward and the first token) and the decode seconds (every
  later step), measured inside the engine (model load and tokenization excluded).
- transformers: a worker loads the model once (fp32, eager) and per repeat times a prefill
  forward (model(ids, use_cache=True)) and the whole generate(); decode seconds = generate −
  prefill. min_new_tokens = max_new_tokens so neither side stops early at eos.
- bandwidth bound: one decode step at batch 1 must read every fp32 parameter once (the tied
  embedding counts once: it is also the LM head) plus the KV cache so far; the bound is
  (those bytes) / (this machine's read bandwidth), the bandwidth measured here with a numpy
  sum over a 1 GiB array (median of 5). Share = bound / our seconds per decoded token.
Both sides generate the same ids when they agree bit for bit on the argmax; the script prints
whether the greedy ids are identical (a random model's near-ties can make them differ).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


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
        model.generate(ids, **kw)  # warm-up
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model(ids, use_cache=True)
            t1 = time.perf_counter()
            out = model.generate(ids, **kw)
            t2 = time.perf_counter()
            prefill.append(t1 - t0)
            total.append(t2 - t1)
    print(json.dumps({"prefill_s": bc.median(prefill), "generate_s": bc.median(total),
                      "ids": out[0, ids.shape[1]:].tolist()}))


def read_bandwidth_bytes_per_s():
    import numpy as np

    a = np.ones(1 << 28, dtype=np.float32)  # 1 GiB
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        a.sum()
        times.append(time.perf_counter() - t0)
    return a.nbytes / bc.median(times)


def decode_bytes(model_dir, prompt_len, new_tokens):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    C, L, V = cfg["hidden_size"], cfg["n_layer"], cfg["vocab_size"]
    params = V * C + 2 * C + L * (12 * C * C + 13 * C) + 2 * C
    mean_len = prompt_len + new_tokens / 2
    kv = 2 * L * mean_len * C
    return 4 * (params + kv)


def ours(model_root, model_name, args):
    text = bc.bench_text(args.prompt_len)
    ids = bc.token_ids(text, args.prompt_len)
    spec = {"kind": "generate", "model": model_name, "prompts": [bc_decode(ids)] * args.batch,
            "max_new_tokens": args.new_tokens}
    pre, dec, out = [], [], None
    for _ in range(args.repeats):
        res = bc.run_surgeond_job(spec, model_root, model_root, args.threads)
        out = json.loads(res.stdout)
        pre.append(out["timing"]["prefill_seconds"])
        dec.append(out["timing"]["decode_seconds"])
    return {"prefill_s": bc.median(pre), "decode_s": bc.median(dec),
            "decode_tokens": out["timing"]["decode_tokens"], "ids": out["completions"][0]["token_ids"],
            "prompt_tokens": out["completions"][0]["prompt_tokens"]}


def bc_decode(ids):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(bc.TOKENIZER_JSON).decode(ids)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--n-layer", type=int, default=24)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--skip-ours", action="store_true")
    p.add_argument("--skip-hf", action="store_true")
    args = p.parse_args()
    if args.worker:
        return hf_worker(args)
    model_dir = bc.prepare_model(args.skip_ours, args.n_layer)
    if model_dir is None:
        return 1
    rows, hf, me = [], None, None
    if not args.skip_hf:
        hf = bc.run_python_worker(os.path.abspath(__file__), [
            "--model", model_dir, "--repeats", str(args.repeats), "--threads", str(args.threads),
            "--prompt-len", str(args.prompt_len), "--new-tokens", str(args.new_tokens),
            "--batch", str(args.batch)], args.threads)
        hf_dec = hf["generate_s"] - hf["prefill_s"]
        rows.append(["transformers", f"{args.batch * args.prompt_len / hf['prefill_s']:.1f}",
                     f"{args.batch * (args.new_tokens - 1) / hf_dec:.2f}", f"{hf['maxrss_kb'] / 1024:.0f}"])
    if not args.skip_ours:
        try:
            me = ours(os.path.dirname(model_dir), os.path.basename(model_dir), args)
        except bc.BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        rows.append(["surgeond", f"{args.batch * me['prompt_tokens'] / me['prefill_s']:.1f}",
                     f"{me['decode_tokens'] / me['decode_s']:.2f}", "-"])
    bc.print_table(f"greedy generation, BLOOM-560m shape, {args.n_layer} layers, batch {args.batch}, "
                   f"prompt {args.prompt_len}, {args.new_tokens} new tokens, {args.threads} threads",
                   ["", "prefill tok/s", "decode tok/s", "peak RSS MiB"], rows)
    if me and args.batch == 1:
        bw = read_bandwidth_bytes_per_s()
        per_token = me["decode_s"] / me["decode_tokens"]
        bound = decode_bytes(model_dir, args.prompt_len, args.new_tokens) / bw
        print(f"memory read bandwidth {bw / 1e9:.1f} GB/s; batch-1 decode bound {bound * 1e3:.2f} ms/token; "
              f"ours {per_token * 1e3:.2f} ms/token = {100 * bound / per_token:.0f}% of the bound")
    if me and hf:
        print("greedy ids identical to transformers:", me["ids"] == hf["ids"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
