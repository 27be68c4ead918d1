"""Shared plumbing of bench/diagnose.py and bench/surgery.py: the cached random-weight BLOOM model
dir (BLOOM-560m shape by default) under build/bench/, benchmark texts, running `surgeond run` with
per-line stderr timestamps and the child's peak RSS, running a transformers measurement in its
own Python process (so its peak RSS is its own), the sgemm peak probe (the system OpenBLAS that
surgeond links, through ctypes; numpy's and torch's for context) and table printing.
Benchmarks only: nothing here is a test and nothing here is committed output."""

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "build", "bench")
TOKENIZER_JSON = os.path.join(REPO, "tests", "reference", "tokenizer", "tokenizer.json")

BLOOM_560M = {"vocab_size": 250880, "hidden_size": 1024, "n_head": 16, "n_layer": 24}


class BenchError(RuntimeError):
    """A benchmark that cannot run, with a message for the user."""


def surgeond_path() -> str:
    path = os.environ.get("SURGEOND", os.path.join(REPO, "build", "release", "surgeond"))
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    return path


def check_surgeond(path: str) -> None:
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise BenchError(f"surgeond binary not found at {path}: build it with `make` or set SURGEOND=path")


# ---------------------------------------------------------------------------------------------
# the random-weight model directory

def ensure_model(n_layer: int, dtype: str = "float16") -> str:
    """build/bench/bloom-560m-random-L<n_layer>-<dtype>/ with config.json, model.safetensors,
    tokenizer.json (the fixture tokenizer: ids < 4096, enough for timing). Built once."""
    import torch
    from transformers import BloomConfig, BloomForCausalLM

    cfg = dict(BLOOM_560M, n_layer=n_layer)
    name = f"bloom-560m-random-L{n_layer}-{dtype}"
    out = os.path.join(BENCH_DIR, "models", name)
    marker = os.path.join(out, "bench_model.json")
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == {"config": cfg, "dtype": dtype, "seed": 0}:
                return out
    print(f"building {name} under {os.path.relpath(out, REPO)} (once) ...", file=sys.stderr)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=name + ".tmp-", dir=os.path.dirname(out))  # private to this process
    torch.manual_seed(0)
    model = BloomForCausalLM(BloomConfig(layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2,
                                         pad_token_id=3, tie_word_embeddings=True, **cfg))
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(tmp)
    del model
    gen = os.path.join(tmp, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    shutil.copyfile(TOKENIZER_JSON, os.path.join(tmp, "tokenizer.json"))
    with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "padding_side": "left",
                   "clean_up_tokenization_spaces": False}, f)
    with open(os.path.join(tmp, "bench_model.json"), "w") as f:
        json.dump({"config": cfg, "dtype": dtype, "seed": 0}, f)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def prepare_model(skip_ours: bool, n_layer: int):
    """The shared start of both benchmarks: checks surgeond can run (unless only the
    transformers half runs) and returns the cached model directory, or None after printing why
    surgeond cannot run."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    if not skip_ours:
        try:
            check_surgeond(surgeond_path())
        except BenchError as exc:
            print(f"error: {exc}\n(use --skip-ours to run only the transformers half)", file=sys.stderr)
            return None
    return ensure_model(n_layer)


def write_atomic(path: str, text: str) -> None:
    """Writes text so that a concurrent reader sees the old or the new file, never a partial one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def bench_text(n_tokens: int, seed: int = 5) -> str:
    """English-like text that tokenizes (fixture tokenizer) to at least n_tokens ids."""
    sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
    import random

    import fixture_text
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(TOKENIZER_JSON)
    rng = random.Random(seed)
    text = ""
    while len(tok.encode(text, add_special_tokens=False).ids) < n_tokens:
        text += " ".join(fixture_text.english_sentence(rng) for _ in range(20)) + " "
    return text


def token_ids(text: str, max_length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(TOKENIZER_JSON)
    return tok.encode(text, add_special_tokens=False).ids[:max_length]


# ---------------------------------------------------------------------------------------------
# running surgeond and the transformers workers

class ProcResult:
    def __init__(self, rc, stdout, stderr_lines, wall_s, maxrss_kb):
        self.rc = rc
        self.stdout = stdout
        self.stderr_lines = stderr_lines  # [(seconds since start, line)]
        self.wall_s = wall_s
        self.maxrss_kb = maxrss_kb

    def stderr_text(self, last=30):
        return "\n".join(line for _, line in self.stderr_lines[-last:])


def run_timed(argv, env=None, cwd=None) -> ProcResult:
    """Runs argv; stamps every stderr line with its arrival time; returns the child's own peak
    RSS (os.wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    lines, out_chunks = [], []

    def read_err():
        for raw in proc.stderr:
            lines.append((time.perf_counter() - t0, raw.decode("utf-8", "replace").rstrip("\n")))

    def read_out():
        out_chunks.append(proc.stdout.read())

    threads = [threading.Thread(target=read_err), threading.Thread(target=read_out)]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcResult(proc.returncode, b"".join(out_chunks).decode("utf-8", "replace"), lines, wall,
                      usage.ru_maxrss)


def run_surgeond_job(spec: dict, model_root: str, corpus_root: str, threads: int) -> ProcResult:
    """`surgeond run` on spec in a fresh data dir; raises BenchError with its stderr on failure."""
    binary = surgeond_path()
    check_surgeond(binary)
    work = tempfile.mkdtemp(prefix="hs-bench-", dir=BENCH_DIR)
    try:
        spec_path = os.path.join(work, "job.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        res = run_timed([binary, "run", "--data-dir", os.path.join(work, "var"), "--model-root", model_root,
                         "--corpus-root", corpus_root, spec_path], env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if res.rc != 0:
        raise BenchError(f"surgeond could not run the {spec.get('kind')} job (exit {res.rc}); its stderr ends:\n"
                         + res.stderr_text())
    try:
        json.loads(res.stdout)
    except ValueError:
        raise BenchError("surgeond printed no result JSON on stdout; stderr ends:\n" + res.stderr_text())
    return res


def run_python_worker(script: str, args, threads: int) -> dict:
    """Runs `python3 script --worker ARGS` and returns the JSON of its last stdout line, plus
    its peak RSS."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")
    res = run_timed([sys.executable, script, "--worker"] + list(args), env=env)
    if res.rc != 0:
        raise BenchError(f"transformers worker failed (exit {res.rc}):\n" + res.stderr_text())
    last = [line for line in res.stdout.splitlines() if line.strip()][-1]
    out = json.loads(last)
    out["maxrss_kb"] = res.maxrss_kb
    out["wall_s"] = res.wall_s
    return out


GFLOPS_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*GFLOP/s", re.IGNORECASE)


def reported_gflops(res: ProcResult):
    """A GEMM rate surgeond reports, if any: "gemm_gflops" in the result JSON, else the last
    'N GFLOP/s' on stderr. None when it reports none."""
    try:
        result = json.loads(res.stdout)
    except ValueError:
        result = {}

    def find(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if "gflop" in k.lower() and isinstance(v, (int, float)):
                    return float(v)
                r = find(v)
                if r is not None:
                    return r
        return None

    found = find(result)
    if found is not None:
        return found
    for _, line in reversed(res.stderr_lines):
        m = GFLOPS_RE.search(line)
        if m:
            return float(m.group(1))
    return None


# ---------------------------------------------------------------------------------------------
# sgemm peak probe

def _openblas_of_surgeond():
    """The libopenblas path the surgeond binary resolves (ldd), or None."""
    try:
        out = subprocess.run(["ldd", surgeond_path()], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        m = re.match(r"\s*libopenblas[^ ]*\s*=>\s*(\S+)", line)
        if m:
            return m.group(1)
    return None


def _load_system_openblas():
    for name in (_openblas_of_surgeond(), ctypes.util.find_library("openblas"), "libopenblas.so.0",
                 "libopenblas.so"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.cblas_sgemm  # noqa: B018 (attribute lookup raises if absent)
            return lib, name
        except (OSError, AttributeError):
            continue
    return None, None


def _best_time(fn, min_time=0.3, max_reps=50):
    fn()  # warm up
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_time or len(times) < 3) and len(times) < max_reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sgemm_probe(shapes, threads: int):
    """GFLOP/s of C[M,N] = A[M,K]·B[N,K]ᵀ (the Linear layout) at each (M, N, K) for the system
    OpenBLAS (what surgeond links), numpy's BLAS and torch. Returns {library: {shape: gflops}}."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    results = {}
    lib, libname = _load_system_openblas()
    if lib is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
        if hasattr(lib, "openblas_set_num_threads"):
            lib.openblas_set_num_threads(ctypes.c_int(threads))
        fptr = ctypes.POINTER(ctypes.c_float)
        lib.cblas_sgemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                    ctypes.c_int, ctypes.c_float, fptr, ctypes.c_int, fptr, ctypes.c_int,
                                    ctypes.c_float, fptr, ctypes.c_int]
        lib.cblas_sgemm.restype = None
        res = {}
        for (M, N, K) in shapes:
            a = np.random.rand(M, K).astype(np.float32)
            b = np.random.rand(N, K).astype(np.float32)
            c = np.zeros((M, N), dtype=np.float32)

            def call():
                lib.cblas_sgemm(101, 111, 112, M, N, K, 1.0, a.ctypes.data_as(fptr), K, b.ctypes.data_as(fptr),
                                K, 0.0, c.ctypes.data_as(fptr), N)
            res[(M, N, K)] = 2.0 * M * N * K / _best_time(call) / 1e9
        config = ""
        if hasattr(lib, "openblas_get_config"):
            lib.openblas_get_config.restype = ctypes.c_char_p
            config = " " + lib.openblas_get_config().decode(errors="replace").split()[1]
        results[f"OpenBLAS{config} ({libname})"] = res
    res = {}
    for (M, N, K) in shapes:
        a = np.random.rand(M, K).astype(np.float32)
        b = np.random.rand(N, K).astype(np.float32)
        res[(M, N, K)] = 2.0 * M * N * K / _best_time(lambda: a @ b.T) / 1e9
    results["numpy"] = res
    res = {}
    with torch.no_grad():
        for (M, N, K) in shapes:
            a = torch.rand(M, K)
            b = torch.rand(N, K)
            res[(M, N, K)] = 2.0 * M * N * K / _best_time(lambda: torch.nn.functional.linear(a, b)) / 1e9
    results["torch"] = res
    return results


# ---------------------------------------------------------------------------------------------
# printing

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def print_table(title, header, rows):
    cols = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in cols[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def print_gemm_table(probe, ours_gflops_by_label):
    shapes = sorted({s for res in probe.values() for s in res})
    header = ["M×N×K"] + list(probe)
    rows = [[f"{m}×{n}×{k}"] + [f"{probe[lib][(m, n, k)]:.1f}" for lib in probe] for (m, n, k) in shapes]
    rows.append(["peak"] + [f"{max(probe[lib].values()):.1f}" for lib in probe])
    print_table("sgemm probe (GFLOP/s, this process, same shapes as the model's GEMMs)", header, rows)
    ref_lib = next((lib for lib in probe if lib.startswith("OpenBLAS")), "numpy")
    peak = max(probe[ref_lib].values())
    for label, value in ours_gflops_by_label.items():
        if value is None:
            print(f"{label}: not reported")
        else:
            print(f"{label}: {value:.1f} GFLOP/s = {100.0 * value / peak:.0f}% of the {ref_lib} peak {peak:.1f}")
