#!/usr/bin/env python3
"""Benchmark (not a test): a big model on a small machine. Writes a random BLOOM-7b1-shaped
checkpoint (30 layers, 32 heads, hidden 4096, vocabulary 250880, fp16; ~14.1 GB) the way the
hub stores it — `model-0000k-of-0000N.safetensors` shards of at most 10 GB plus
`model.safetensors.index.json` — with config.json and the fixture tokenizer, then runs
`surgeond run` on it and prints one table:

  load time, diagnosis tokens/s on a 512-token text, evaluate (perplexity) tokens/s, one
  surgery step's time (a few heads in 2-3 layers, 512-token chunks, batch 1), and each
  process's peak RSS against the checkpoint's weight bytes.

The writer never holds more than one chunk of a tensor in memory: it writes the safetensors
header and the raw little-endian bytes itself with numpy (format: 8-byte little-endian header
length, the JSON header padded with spaces to a multiple of 8, then the tensors in header
order, row-major). Weights are slices of one pool of N(0, 0.02) values (layernorm weights 1,
biases 0), so writing is disk-bound. The model is written once per shape into --out (default
build/bigmodel/bloom-7b1-random, ignored by git) after checking the free disk space;
--delete removes it after the run. --layers N (and --hidden, --heads, --vocab) cut a smaller
model for quick runs; --write-only stops after writing.

Memory: surgeond keeps an fp16/bf16 checkpoint mapped on the CPU and widens one layer at a time
(docs/architecture.md "Memory"); a surgeond without that loader holds every parameter as fp32
(28 GB at full size), so run the full size only with a build that maps weights. The peak RSS
counts the mapped file pages the process touched.

    make && python3 bench/bigmodel.py --layers 2 --hidden 256 --heads 4   # a quick cut
    python3 bench/bigmodel.py --delete                                     # the full 7b1 shape
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import bench_common as bc

DEFAULT_OUT = os.path.join(bc.REPO, "build", "bigmodel", "bloom-7b1-random")
SHARD_LIMIT = 10 * 1000 ** 3  # transformers' max_shard_size "10GB"
POOL_VALUES = 1 << 24          # the random pool: 32 MiB of fp16
CHUNK_VALUES = 1 << 24         # values per write


# ---------------------------------------------------------------------------------------------
# the checkpoint

def tensor_table(L, C, V):
    """(name, shape, init) in the order transformers saves a BloomModel's state dict; init is
    "normal", "ones" or "zeros"."""
    F = 4 * C
    t = [("word_embeddings.weight", (V, C), "normal"),
         ("word_embeddings_layernorm.weight", (C,), "ones"),
         ("word_embeddings_layernorm.bias", (C,), "zeros")]
    for l in range(L):
        p = f"h.{l}."
        t += [(p + "input_layernorm.weight", (C,), "ones"),
              (p + "input_layernorm.bias", (C,), "zeros"),
              (p + "self_attention.query_key_value.weight", (3 * C, C), "normal"),
              (p + "self_attention.query_key_value.bias", (3 * C,), "zeros"),
              (p + "self_attention.dense.weight", (C, C), "normal"),
              (p + "self_attention.dense.bias", (C,), "zeros"),
              (p + "post_attention_layernorm.weight", (C,), "ones"),
              (p + "post_attention_layernorm.bias", (C,), "zeros"),
              (p + "mlp.dense_h_to_4h.weight", (F, C), "normal"),
              (p + "mlp.dense_h_to_4h.bias", (F,), "zeros"),
              (p + "mlp.dense_4h_to_h.weight", (C, F), "normal"),
              (p + "mlp.dense_4h_to_h.bias", (C,), "zeros")]
    t += [("ln_f.weight", (C,), "ones"), ("ln_f.bias", (C,), "zeros")]
    return t


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def plan_shards(table, elem):
    """Tensors in save order, a new shard whenever the next one would pass SHARD_LIMIT."""
    shards, cur, size = [], [], 0
    for entry in table:
        nbytes = numel(entry[1]) * elem
        if cur and size + nbytes > SHARD_LIMIT:
            shards.append(cur)
            cur, size = [], 0
        cur.append(entry)
        size += nbytes
    shards.append(cur)
    return shards


def to_dtype(values_f32, dtype):
    """fp32 → the storage dtype's little-endian bytes (bf16: round to nearest even)."""
    if dtype == "float16":
        return values_f32.astype("<f2")
    bits = values_f32.astype("<f4").view("<u4")
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype("<u2")


def write_shard(path, entries, dtype, pool, rng):
    """One safetensors file: header (sorted names, as the safetensors writer orders tensors of
    one dtype), then each tensor's bytes written chunk by chunk."""
    elem = 2
    st_dtype = "F16" if dtype == "float16" else "BF16"
    ordered = sorted(entries, key=lambda e: e[0])
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in ordered:
        n = numel(shape) * elem
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    one = to_dtype(np.ones(CHUNK_VALUES, dtype=np.float32), dtype)
    zero = np.zeros(CHUNK_VALUES, dtype="<u2")
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name, shape, init in ordered:
            left = numel(shape)
            while left:
                n = min(left, CHUNK_VALUES)
                if init == "normal":
                    start = int(rng.integers(0, POOL_VALUES - n + 1))
                    f.write(pool[start:start + n].tobytes())
                else:
                    f.write((one if init == "ones" else zero)[:n].tobytes())
                left -= n
        f.flush()
        os.fsync(f.fileno())
    return offset


def model_config(L, C, H, V, dtype):
    return {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "vocab_size": V,
            "hidden_size": C, "n_layer": L, "n_head": H, "layer_norm_epsilon": 1e-5,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3, "unk_token_id": 0,
            "apply_residual_connection_post_layernorm": False, "hidden_dropout": 0.0,
            "attention_dropout": 0.0, "initializer_range": 0.02, "pretraining_tp": 1,
            "slow_but_exact": False, "tie_word_embeddings": True, "torch_dtype": dtype,
            "use_cache": True}


def write_model(out, L, C, H, V, dtype):
    """The model directory `out` (written into a sibling temporary directory, then renamed);
    skipped when a complete one of the same shape is there. Returns the tensor bytes."""
    table = tensor_table(L, C, V)
    total = sum(numel(s) for _, s, _ in table) * 2
    shape = {"layers": L, "hidden": C, "heads": H, "vocab": V, "dtype": dtype}
    marker = os.path.join(out, "bench_model.json")
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == shape:
                print(f"model: {os.path.relpath(out, bc.REPO)} already written ({total / 1e9:.2f} GB)")
                return total
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    free = shutil.disk_usage(parent).free
    if free < total + (1 << 30):
        raise bc.BenchError(f"{parent}: {free / 1e9:.1f} GB free, the model needs {total / 1e9:.1f} GB "
                            "(+1 GB to spare)")
    shards = plan_shards(table, 2)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(out) + ".tmp-", dir=parent)
    print(f"writing {len(table)} tensors, {total / 1e9:.2f} GB in {len(shards)} shard(s) "
          f"into {os.path.relpath(out, bc.REPO)} ...", file=sys.stderr)
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    pool = to_dtype(rng.standard_normal(POOL_VALUES, dtype=np.float32) * np.float32(0.02), dtype)
    try:
        weight_map = {}
        n = len(shards)
        for k, entries in enumerate(shards, 1):
            name = "model.safetensors" if n == 1 else f"model-{k:05d}-of-{n:05d}.safetensors"
            write_shard(os.path.join(tmp, name), entries, dtype, pool, rng)
            weight_map.update({e[0]: name for e in entries})
        if n > 1:
            with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2,
                          sort_keys=True)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(model_config(L, C, H, V, dtype), f, indent=2)
        shutil.copyfile(bc.TOKENIZER_JSON, os.path.join(tmp, "tokenizer.json"))
        with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
                       "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                       "padding_side": "left", "clean_up_tokenization_spaces": False}, f)
        with open(os.path.join(tmp, "bench_model.json"), "w") as f:
            json.dump(shape, f)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return total


# ---------------------------------------------------------------------------------------------
# running surgeond

def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_job(spec, model_root, corpus_root, threads, stop_when=None):
    """`surgeond run` on spec in a fresh data dir, its stderr lines stamped with their arrival
    time. stop_when(line) true ends the process (SIGKILL) once that line arrived — a surgery need
    not write its final checkpoint to be timed. Peak RSS: VmHWM polled while it runs, and the
    kernel's ru_maxrss when it exits by itself."""
    work = tempfile.mkdtemp(prefix="hs-bigmodel-", dir=bc.BENCH_DIR)
    spec_path = os.path.join(work, "job.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    argv = [bc.surgeond_path(), "run", "--data-dir", os.path.join(work, "var"), "--model-root",
            model_root, "--corpus-root", corpus_root, spec_path]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines, out, peak = [], [], [0]
    stopped = threading.Event()

    def read_err():
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append((time.perf_counter() - t0, line))
            if stop_when and not stopped.is_set() and stop_when(line):
                peak[0] = max(peak[0], vm_hwm_kb(proc.pid))
                stopped.set()
                proc.send_signal(signal.SIGKILL)

    def poll_rss():
        while proc.poll() is None and not stopped.is_set():
            peak[0] = max(peak[0], vm_hwm_kb(proc.pid))
            time.sleep(0.2)

    threads_ = [threading.Thread(target=read_err), threading.Thread(target=poll_rss),
                threading.Thread(target=lambda: out.append(proc.stdout.read()))]
    for t in threads_:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in threads_:
        t.join()
    shutil.rmtree(work, ignore_errors=True)
    rc = os.waitstatus_to_exitcode(status)
    res = bc.ProcResult(rc, b"".join(out).decode("utf-8", "replace"), lines, wall,
                        max(usage.ru_maxrss, peak[0]))
    if rc != 0 and not stopped.is_set():
        raise bc.BenchError(f"surgeond could not run the {spec['kind']} job (exit {rc}); its stderr "
                            "ends:\n" + res.stderr_text())
    return res


def stamp(res, pattern, last=False):
    """Arrival time of the first (or last) stderr line matching pattern, or None."""
    found = None
    for t, line in res.stderr_lines:
        if re.search(pattern, line):
            if not last:
                return t
            found = t
    return found


def gap(a, b):
    return b - a if a is not None and b is not None and b > a else None


def fmt(v, spec="{:.2f}"):
    return "-" if v is None else spec.format(v)


def main():
    ap = argparse.ArgumentParser(description="a random BLOOM-7b1-shaped checkpoint through surgeond")
    ap.add_argument("--out", default=DEFAULT_OUT, help="model directory (default %(default)s)")
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=250880)
    ap.add_argument("--dtype", choices=("float16", "bfloat16"), default="float16")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--write-only", action="store_true", help="write the model and stop")
    ap.add_argument("--delete", action="store_true", help="remove the model directory afterwards")
    args = ap.parse_args()
    if args.hidden % args.heads or args.layers < 1:
        ap.error("--hidden must be a multiple of --heads and --layers at least 1")
    out = os.path.abspath(args.out)
    os.makedirs(bc.BENCH_DIR, exist_ok=True)
    try:
        weight_bytes = write_model(out, args.layers, args.hidden, args.heads, args.vocab, args.dtype)
        if args.write_only:
            return 0
        bc.check_surgeond(bc.surgeond_path())
        return run_bench(args, out, weight_bytes)
    except bc.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.delete:
            shutil.rmtree(out, ignore_errors=True)


def run_bench(args, out, weight_bytes):
    model_root, name, T = os.path.dirname(out), os.path.basename(out), args.seq_len
    text = bc.bench_text(T + 64)
    rows = []

    def row(what, res, load_s, rate, unit):
        rss = res.maxrss_kb * 1024
        rows.append([what, fmt(load_s), fmt(rate, "{:.1f}") + unit, f"{res.wall_s:.1f}",
                     f"{rss / 2**30:.2f}", f"{rss / weight_bytes:.2f}"])

    # diagnosis: load from the estimate line to the tokenized line, compute to the last text
    res = run_job({"kind": "diagnose", "model": name, "texts": [text], "max_length": T},
                  model_root, model_root, args.threads)
    load = gap(stamp(res, r"memory estimate"), stamp(res, r"token\(s\) after truncation"))
    compute = gap(stamp(res, r"token\(s\) after truncation"), stamp(res, r"^\[1/1\] text", last=True))
    row("diagnose (512 tokens)", res, load, T / compute if compute else None, " tok/s")
    estimate = next((line for _, line in res.stderr_lines if "memory estimate" in line), "")

    res = run_job({"kind": "evaluate", "model": name, "texts": [text], "max_length": T},
                  model_root, model_root, args.threads)
    load = gap(stamp(res, r"memory estimate"), stamp(res, r"token\(s\)"))
    compute = gap(stamp(res, r"token\(s\)"), stamp(res, r"perplexity"))
    row("evaluate (perplexity)", res, load, (T - 1) / compute if compute else None, " tok/s")

    # one surgery step: the gap between the progress lines of steps 1 and 2, then stop
    corpus = os.path.join(bc.BENCH_DIR, f"bigmodel_corpus_{T}.txt")
    bc.write_atomic(corpus, bc.bench_text(T * 4))
    L, H = args.layers, args.heads
    layers = sorted({L // 3, (2 * L) // 3, L - 1}) if L >= 3 else list(range(L))
    targets = {str(l): list(range(min(3, H))) for l in layers}
    step_re = re.compile(r"^\[(\d+)/\d+\] step (\d+)/")
    res = run_job({"kind": "surgery", "model": name, "corpus": os.path.basename(corpus),
                   "eval_texts": ["Hello world, this is a short evaluation text."],
                   "targets": targets, "batch_size": 1, "grad_accum": 1, "max_length": T,
                   "max_steps": 3, "shuffle": False},
                  model_root, bc.BENCH_DIR, args.threads,
                  stop_when=lambda line: bool(step_re.match(line)) and step_re.match(line).group(2) == "2")
    load = gap(stamp(res, r"memory estimate"), stamp(res, r"surgery of \d+ heads"))
    step = gap(stamp(res, r"^\[1/\d+\] step 1/"), stamp(res, r"^\[2/\d+\] step 2/"))
    row(f"surgery step ({sum(len(v) for v in targets.values())} heads in layers "
        f"{','.join(map(str, layers))})", res, load, step, " s/step")

    bc.print_table(f"BLOOM-shaped random model: {args.layers} layers × {args.heads} heads, hidden "
                   f"{args.hidden}, vocab {args.vocab}, {args.dtype}, {weight_bytes / 1e9:.2f} GB of "
                   f"weights; {args.threads} thread(s)",
                   ["job", "load s", "rate", "process s", "peak RSS GiB", "RSS / weights"], rows)
    if estimate:
        print("diagnose " + estimate.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
