#!/usr/bin/env python3
"""Benchmark (not a test): what going through Slurm costs a job, on a private single-node Slurm
started here (tests/integration/slurm_cluster.py: needs root, slurm-wlm and munge).

For a tiny diagnose job on the demo model (`surgeond demo-model`, two short texts):
- overhead: submit → succeeded wall time of one job at a time, median of --repeats, with the
  local executor (one CPU worker) and with `--executor slurm` (sbatch, node start, the runner
  reporting over HTTP, the executor's 1-s poll);
- throughput: --jobs jobs submitted at once, 16 in flight (--max-cluster-jobs 16), jobs per
  minute from the first submit to the last success; through Slurm both as separate jobs (one
  sbatch each) and as one sweep (job arrays). The local executor runs them on its one worker.

    python3 bench/slurm.py                          # build/release/surgeond
    SURGEOND=build/test/surgeond python3 bench/slurm.py --repeats 3 --jobs 16

Prints a table; the numbers depend on the machine's load and core count (the node has as many
CPUs as this machine, each job takes one).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import slurm_cluster  # noqa: E402

TEXTS = ["The children walked to school along the river and stopped to watch the boats.",
         "A small village near the sea had one bakery, two churches and a market every Sunday."]
JOB = {"kind": "diagnose", "model": "demo", "texts": TEXTS}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, binary, base, args):
        self.base = base
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        for sub in ("data", "models", "corpora"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        subprocess.run([binary, "demo-model", "--out", os.path.join(base, "models", "demo")],
                       check=True, capture_output=True)
        self.log = open(os.path.join(base, "daemon.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data-dir",
             os.path.join(base, "data"), "--model-root", os.path.join(base, "models"),
             "--corpus-root", os.path.join(base, "corpora")] + args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.call("GET", "/api/v1/healthz") is not None:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("surgeond did not start; see " + self.log.name)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def wait(self, ids, timeout=600):
        left, deadline = set(ids), time.time() + timeout
        while left and time.time() < deadline:
            for i in list(left):
                state = self.call("GET", "/api/v1/jobs/%d" % i)["state"]
                if state in ("failed", "cancelled"):
                    raise RuntimeError("job %d %s; see %s" % (i, state, self.log.name))
                if state == "succeeded":
                    left.discard(i)
            time.sleep(0.02)
        if left:
            raise RuntimeError("jobs %s did not finish" % sorted(left))
        return time.time()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def one_at_a_time(d, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.time()
        job = d.call("POST", "/api/v1/jobs", JOB)
        times.append(d.wait([job["id"]]) - t0)
    return statistics.median(times)


def throughput(d, n, sweep):
    t0 = time.time()
    if sweep:
        s = d.call("POST", "/api/v1/sweeps", {"job": JOB, "grid": {"max_length": list(range(8, 8 + n))}})
        ids = [j["id"] for j in s["jobs"]]
    else:
        ids = [d.call("POST", "/api/v1/jobs", dict(JOB, max_length=8 + i))["id"] for i in range(n)]
    return n * 60.0 / (d.wait(ids) - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=32)
    args = ap.parse_args()
    binary = os.environ.get("SURGEOND", os.path.join(REPO, "build", "release", "surgeond"))
    binary = os.path.abspath(binary)
    why = slurm_cluster.missing_reason()
    if why or not os.access(binary, os.X_OK):
        sys.exit("bench/slurm.py: " + (why or "no surgeond at %s (make, or SURGEOND=path)" % binary))
    cluster = slurm_cluster.SlurmCluster().start()
    os.environ["SLURM_CONF"] = cluster.conf
    base = tempfile.mkdtemp(prefix="hs-bench-slurm-")
    rows = []
    try:
        for name, extra in (("local", []), ("slurm", ["--executor", "slurm", "--max-cluster-jobs", "16"])):
            d = Daemon(binary, os.path.join(base, name), extra)
            try:
                one_at_a_time(d, 1)  # warm up: first load, first Slurm start
                median = one_at_a_time(d, args.repeats)
                jobs = throughput(d, args.jobs, sweep=False)
                arr = throughput(d, args.jobs, sweep=True) if name == "slurm" else None
            finally:
                d.stop()
            rows.append((name, median, jobs, arr))
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("diagnose on the demo model, %d CPUs, load %.2f; %d jobs for throughput"
          % (os.cpu_count(), os.getloadavg()[0], args.jobs))
    print("| executor | submit→succeeded, median of %d (s) | jobs/min, separate jobs | jobs/min, one sweep (arrays) |"
          % args.repeats)
    print("|---|---|---|---|")
    for name, median, jobs, arr in rows:
        print("| %s | %.2f | %.1f | %s |" % (name, median, jobs, "%.1f" % arr if arr else "—"))
    local = rows[0][1]
    print("Slurm overhead per job: %.2f s (median, one at a time)" % (rows[1][1] - local))


if __name__ == "__main__":
    main()
