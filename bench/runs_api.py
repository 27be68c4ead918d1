#!/usr/bin/env python3
"""Finding and comparing runs at scale: 10,000 stored runs (mixed kinds and states, 24 x 16 head
rows each, names, tags, headline numbers) inserted straight into a fresh database through
sqlite3, then a filtered page of 50 summaries (several filter mixes, JSON and CSV) and a compare
of two 30 x 32 diagnoses, each timed over HTTP against the real daemon. Target: <= 50 ms each.
Prints a table; asserts nothing.

    make && python3 bench/runs_api.py            # SURGEOND=path picks the binary
    python3 bench/runs_api.py --runs 2000        # a quicker smoke run
"""
import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ["diagnose", "evaluate", "surgery", "test-steps"]
MODELS = ["bloom-560m", "bloom-1b1", "bloom-1b7", "bloom-3b", "mpt-7b", "demo"]
CLASSES = ["healthy"] * 6 + ["bos-sink", "dead", "low-entropy"]


def surgeond_path():
    path = os.environ.get("SURGEOND", os.path.join(REPO, "build", "release", "surgeond"))
    return path if os.path.isabs(path) else os.path.join(REPO, path)


class Daemon:
    def __init__(self, binary, base):
        self.binary, self.base = binary, base
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        for sub in ("data", "models", "corpora"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        self.proc = None

    def start(self):
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
               "--data-dir", os.path.join(self.base, "data"),
               "--model-root", os.path.join(self.base, "models"),
               "--corpus-root", os.path.join(self.base, "corpora")]
        self.log = open(os.path.join(self.base, "daemon.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                self.get("/api/v1/healthz")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("surgeond did not start; see %s" % os.path.join(self.base, "daemon.log"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path)) as r:
            return r.status, r.read()


def db_path(base):
    for root, _, files in os.walk(os.path.join(base, "data")):
        for f in files:
            if f.endswith(".db") or f.endswith(".sqlite"):
                return os.path.join(root, f)
    raise SystemExit("no database under the data dir")


def head_rows(rng, run_id, n_layer, n_head):
    for l in range(n_layer):
        for h in range(n_head):
            cls = rng.choice(CLASSES)
            bos = rng.random() * (0.3 if cls == "healthy" else 1.0)
            yield (run_id, "", l, h, bos, rng.random() * 4, rng.random(), cls)


def fill(path, n_runs, seed=1):
    """n_runs runs plus two 30 x 32 diagnoses; returns the ids of those two."""
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    t0 = 1_780_000_000_000
    jobs, summaries, tags, heads = [], [], [], []
    for i in range(1, n_runs + 1):
        kind = KINDS[i % len(KINDS)]
        state = "succeeded" if i % 10 else rng.choice(["failed", "cancelled"])
        created = t0 + i * 60_000
        model = rng.choice(MODELS)
        jobs.append((i, kind, json.dumps({"kind": kind, "model": model}), state, created,
                     created + 1000, created + 1000 + rng.randrange(100_000), created + 200_000,
                     json.dumps({"ok": True}) if state == "succeeded" else None))
        ok = state == "succeeded"
        counts = [rng.randrange(300, 384), rng.randrange(20), rng.randrange(20), rng.randrange(5)]
        ppl = 10 + rng.random() * 40 if ok and kind in ("evaluate", "surgery") else None
        base = ppl + rng.random() * 5 - 1 if ppl and kind == "surgery" else None
        summaries.append((i, "run-%05d" % i if i % 3 == 0 else None,
                          "baseline sweep %d" % (i % 7) if i % 5 == 0 else None, model,
                          *(counts if ok and kind in ("diagnose", "evaluate") else [None] * 4),
                          ppl, base, "epoch-%d" % rng.randrange(1, 5) if base else None,
                          rng.randrange(10) if base else None,
                          (ppl < base) if base else None))
        for t in rng.sample(["sweep:%d" % k for k in range(10)] + ["lr-3e-4", "lr-1e-3", "ablation",
                                                                  "v1.2", "nightly"], 3):
            tags.append((i, t))
        heads.extend(head_rows(rng, i, 24, 16))
        if len(heads) > 400_000:
            flush(db, jobs, summaries, tags, heads)
    flush(db, jobs, summaries, tags, heads)
    big = []
    for k in range(2):
        rid = n_runs + 1 + k
        created = t0 + rid * 60_000
        jobs.append((rid, "diagnose", json.dumps({"kind": "diagnose", "model": "bloom-7b1"}),
                     "succeeded", created, created + 1, created + 2, created + 2, "{}"))
        summaries.append((rid, None, None, "bloom-7b1", 900, 20, 30, 10, None, None, None, None,
                          None))
        heads.extend(head_rows(rng, rid, 30, 32))
        big.append(rid)
    flush(db, jobs, summaries, tags, heads)
    db.close()
    return big


def flush(db, jobs, summaries, tags, heads):
    with db:
        db.executemany("INSERT INTO jobs (id, kind, spec, state, created_at, started_at,"
                       " finished_at, updated_at, result) VALUES (?,?,?,?,?,?,?,?,?)", jobs)
        db.executemany("INSERT INTO run_summaries (run_id, name, notes, model, n_healthy,"
                       " n_bos_sink, n_dead, n_low_entropy, ppl, baseline_ppl, best_checkpoint,"
                       " heads_woken, improves_baseline) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       summaries)
        db.executemany("INSERT INTO run_tags (run_id, tag) VALUES (?,?)", tags)
        db.executemany("INSERT INTO head_stats (run_id, checkpoint, layer, head, bos_mass,"
                       " entropy, local_mass, class) VALUES (?,?,?,?,?,?,?,?)", heads)
    for x in (jobs, summaries, tags, heads):
        x.clear()


def timed(d, path, repeats):
    d.get(path)  # warm the statement cache and the page cache
    times, size = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        status, body = d.get(path)
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit("%s answered %d" % (path, status))
        size = len(body)
    return statistics.median(times), max(times), size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    binary = surgeond_path()
    if not os.access(binary, os.X_OK):
        raise SystemExit("surgeond not found at %s: run make or set SURGEOND" % binary)
    with tempfile.TemporaryDirectory(prefix="hs-runs-bench-") as base:
        d = Daemon(binary, base)
        d.start()  # creates the database and applies every migration
        d.stop()
        t = time.perf_counter()
        a, b = fill(db_path(base), args.runs)
        print("inserted %d runs (%d head rows) in %.1f s" % (
            args.runs + 2, args.runs * 384 + 2 * 960, time.perf_counter() - t))
        d.start()
        cases = [
            ("page of 50, no filter", "/api/v1/runs?limit=50"),
            ("kind + state + tag", "/api/v1/runs?kind=evaluate&state=succeeded&tag=sweep:3&limit=50"),
            ("model prefix + two tags", "/api/v1/runs?model=bloom-1*&tag=ablation&tag=nightly&limit=50"),
            ("q substring + since", "/api/v1/runs?q=sweep%203&since=2026-05-29T00:00:00.000Z&limit=50"),
            ("order=ppl, kind=surgery", "/api/v1/runs?kind=surgery&order=ppl&limit=50"),
            ("order=ppl, 5th page", "/api/v1/runs?order=ppl&limit=50&before=%d" % (args.runs // 2)),
            ("format=csv, tag", "/api/v1/runs?tag=v1.2&limit=50&format=csv"),
            ("compare 30x32 diagnoses", "/api/v1/compare?a=%d&b=%d" % (a, b)),
            ("compare 30x32, format=csv", "/api/v1/compare?a=%d&b=%d&format=csv" % (a, b)),
        ]
        print("\n| request | median ms | max ms | bytes | <= 50 ms |")
        print("|---|---:|---:|---:|:---:|")
        for label, path in cases:
            med, worst, size = timed(d, path, args.repeats)
            print("| %s | %.2f | %.2f | %d | %s |" % (label, med, worst, size,
                                                    "yes" if med <= 50 else "NO"))
        d.stop()


if __name__ == "__main__":
    sys.exit(main())
