"""Shared fixtures for the integration tests: they drive the real `surgeond` binary over HTTP.

The binary is taken from the environment variable SURGEOND (default ``build/test/surgeond``,
what ``make test`` builds; the test build registers the test-only job kind ``test-steps``).
Paths are relative to the repository root, which is also the working directory of the tests.

Fixtures
--------
``daemon`` -- a factory. Each call starts one daemon and returns a :class:`Daemon`::

    def test_something(daemon):
        d = daemon()                                  # no auth, one cpu worker
        d2 = daemon(token="s3cret", args=["--max-body", "4096"])
        job = d.submit({"kind": "test-steps", "steps": 3, "step_ms": 10})
        done = d.wait_job(job["id"])                  # waits for a final state
        assert done["state"] == "succeeded"

  Keyword arguments of the factory:
    token       -- if given, written to a token file and passed as --token-file; the helpers
                   then send ``Authorization: Bearer <token>`` on every request (pass
                   ``auth=False`` to a helper to leave it off).
    args        -- extra command-line flags for ``surgeond serve``.
    devices     -- list of --device values (default: the daemon's default, one "cpu" worker).
    start       -- False to create the object without starting it (call ``.start()``).

  Every daemon the factory made is stopped at teardown (SIGTERM, then SIGKILL); if its log
  holds an AddressSanitizer/LeakSanitizer/UBSan report, the test fails at teardown.

``surgeond_bin`` -- the absolute path of the binary under test.

Daemon attributes
-----------------
  .url          "http://127.0.0.1:<port>"
  .port         the free loopback port it listens on
  .token        the bearer token or None
  .data_dir     temporary --data-dir (its SQLite file is ``.db_path``)
  .model_root   temporary --model-root (put models here, e.g. run
                ``surgeond demo-model --out <model_root>/demo``; see ``.run_cli``)
  .corpus_root  temporary --corpus-root (put text files here)
  .log_path     the daemon's stderr/stdout, printed when a test fails to start it
  .proc         the subprocess.Popen

Daemon methods
--------------
  .get(path, **kw) / .post(path, json=None, data=None, **kw) / .patch(...) / .delete(...)
                requests calls on url + path (path starts with "/"); they return the
                requests.Response and never raise on HTTP status. ``auth=False`` omits the token.
  .submit(spec) POST /api/v1/jobs, asserts 200/201, returns the job dict.
  .job(id)      GET /api/v1/jobs/{id} as a dict.
  .wait_job(id, states=("succeeded", "failed", "cancelled"), timeout=60)
                polls until the job's state is in `states`; returns the job; raises
                AssertionError with the last job JSON on timeout.
  .wait_until(pred, timeout=30, interval=0.05)  polls a callable until truthy.
  .kill9()      SIGKILL the daemon (simulates a crash) and reap it.
  .stop()       SIGTERM and wait (graceful shutdown); returns the exit status.
  .start()      start it again on the same port and directories and wait for /api/v1/healthz.
  .restart()    stop() (or nothing if already dead) then start().
  .db()         a sqlite3 connection to the daemon's database (read it while running or not).
  .run_cli(*args, timeout=120)  run ``surgeond <args>`` (e.g. "demo-model", "--out", path)
                and return the CompletedProcess (text mode, output captured).
"""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

import pytest
import requests

REPO_ROOT = os.path.abspath(os.environ.get("HS_REPO_ROOT") or os.path.join(os.path.dirname(__file__), "..", ".."))
FINAL_STATES = ("succeeded", "failed", "cancelled")
# Test modules import names "from conftest"; whichever folder's conftest pytest registered
# under that name first answers, so both conftests define REPO_ROOT and SCREENSHOT_DIR.
SCREENSHOT_DIR = os.path.join(REPO_ROOT, "build", "web-screenshots")
# What ASan/UBSan/LSan print; a daemon whose log has one fails the test at teardown.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def stop_checked(d):
    """Stops a daemon a module fixture started itself and fails if its log holds a sanitizer
    report (the ``daemon`` fixture does the same for the daemons it makes)."""
    d.stop()
    d.session.close()
    text = d.log_text()
    assert not any(m in text for m in SANITIZER_MARKERS), text


def _binary_path():
    path = os.environ.get("SURGEOND", "build/test/surgeond")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One `surgeond serve` process with its own temporary directories (see module docstring)."""

    def __init__(self, binary, base_dir, token=None, args=(), devices=None):
        self.binary = binary
        self.base_dir = str(base_dir)
        self.data_dir = os.path.join(self.base_dir, "data")
        self.model_root = os.path.join(self.base_dir, "models")
        self.corpus_root = os.path.join(self.base_dir, "corpora")
        for d in (self.data_dir, self.model_root, self.corpus_root):
            os.makedirs(d, exist_ok=True)
        self.db_path = os.path.join(self.data_dir, "surgeon.db")
        self.log_path = os.path.join(self.base_dir, "daemon.log")
        self.token = token
        self.token_file = None
        if token is not None:
            self.token_file = os.path.join(self.base_dir, "token")
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
        self.extra_args = list(args)
        self.devices = list(devices) if devices else []
        self.port = _free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.session = requests.Session()

    # ---- process control -------------------------------------------------------------
    def command(self):
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
               "--data-dir", self.data_dir, "--model-root", self.model_root,
               "--corpus-root", self.corpus_root]
        if self.token_file:
            cmd += ["--token-file", self.token_file]
        for dev in self.devices:
            cmd += ["--device", dev]
        return cmd + self.extra_args

    def start(self, timeout=30):
        assert self.proc is None or self.proc.poll() is not None, "daemon already running"
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=REPO_ROOT, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("surgeond exited with %s at start:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            try:
                r = self.session.get(self.url + "/api/v1/healthz", timeout=1)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("surgeond did not become healthy:\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-8000:]
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout=30):
        if not self.running():
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError("surgeond did not stop on SIGTERM:\n" + self.log_text())

    def restart(self):
        self.stop()
        return self.start()

    # ---- HTTP helpers ----------------------------------------------------------------
    def _headers(self, kw):
        auth = kw.pop("auth", True)
        headers = dict(kw.pop("headers", None) or {})
        if auth and self.token is not None:
            headers.setdefault("Authorization", "Bearer " + self.token)
        kw.setdefault("timeout", 30)
        return headers

    def request(self, method, path, **kw):
        headers = self._headers(kw)
        return self.session.request(method, self.url + path, headers=headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, data=None, **kw):
        return self.request("POST", path, json=json, data=data, **kw)

    def patch(self, path, json=None, data=None, **kw):
        return self.request("PATCH", path, json=json, data=data, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def submit(self, spec):
        r = self.post("/api/v1/jobs", json=spec)
        assert r.status_code in (200, 201), (r.status_code, r.text)
        return r.json()

    def job(self, job_id):
        r = self.get("/api/v1/jobs/%d" % job_id)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def wait_until(self, pred, timeout=30, interval=0.05):
        deadline = time.time() + timeout
        while True:
            value = pred()
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError("condition not met within %ss" % timeout)
            time.sleep(interval)

    def wait_job(self, job_id, states=FINAL_STATES, timeout=60):
        if isinstance(states, str):
            states = (states,)
        deadline = time.time() + timeout
        job = None
        while time.time() < deadline:
            job = self.job(job_id)
            if job["state"] in states:
                return job
            time.sleep(0.05)
        raise AssertionError("job %d not in %s after %ss: %r" % (job_id, states, timeout, job))

    def db(self):
        return sqlite3.connect(self.db_path, timeout=10)

    def run_cli(self, *args, timeout=120):
        return subprocess.run([self.binary] + [str(a) for a in args], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def surgeond_bin():
    path = _binary_path()
    if not os.access(path, os.X_OK):
        pytest.fail("surgeond binary not found at %s (set SURGEOND or run make MODE=test)" % path)
    return path


@pytest.fixture
def daemon(surgeond_bin, tmp_path):
    made = []

    def factory(token=None, args=(), devices=None, start=True):
        base = tmp_path / ("daemon%d" % len(made))
        base.mkdir()
        d = Daemon(surgeond_bin, base, token=token, args=args, devices=devices)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    reports = []
    for d in made:
        try:
            d.stop()
        except AssertionError:
            pass
        d.session.close()
        text = d.log_text()
        if any(marker in text for marker in SANITIZER_MARKERS):
            reports.append(text)
    if reports:
        pytest.fail("surgeond reported sanitizer errors:\n" + reports[0], pytrace=False)


@pytest.fixture
def demo_daemon(daemon):
    """A started daemon whose model root holds the demo model as "demo"."""
    d = daemon()
    r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert r.returncode == 0, r.stdout + r.stderr
    return d


@pytest.fixture
def tiny_daemon(demo_daemon):
    """demo_daemon with the committed reference model tiny-h6-f32 beside "demo" (its shared
    tokenizer.json symlink copied as a file)."""
    shutil.copytree(os.path.join(REPO_ROOT, "tests", "reference", "models", "tiny-h6-f32"),
                    os.path.join(demo_daemon.model_root, "tiny-h6-f32"))
    return demo_daemon


@pytest.fixture(scope="session")
def slurm_cluster():
    """A private single-node Slurm (tests/integration/slurm_cluster.py) for the whole session;
    the tests using it are skipped, with the reason, when not root or Slurm is not installed."""
    import slurm_cluster as sc
    why = sc.missing_reason()
    if why:
        pytest.skip(why)
    cluster = sc.SlurmCluster()
    try:
        cluster.start()
    except Exception:
        text = cluster.log_text()
        cluster.stop()
        raise AssertionError("the Slurm test cluster did not start:\n" + text)
    os.environ["SLURM_CONF"] = cluster.conf  # for the daemons the tests start, and their jobs
    yield cluster
    os.environ.pop("SLURM_CONF", None)
    cluster.stop()


@pytest.fixture
def slurm_daemon(daemon, slurm_cluster):
    """A factory of daemons with ``--executor slurm`` (extra flags as arguments) on the Slurm
    test cluster, each with the demo model under its model root. At teardown the node-side
    runners' logs (data_dir/cluster/*.out, the sanitizer build too) must be clean."""
    made = []

    def make(*extra):
        d = daemon(args=["--executor", "slurm"] + list(extra), start=False)
        r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
        assert r.returncode == 0, r.stdout + r.stderr
        d.start()
        made.append(d)
        return d
    yield make
    # Jobs a test left behind must not hold the node's CPUs in the next test: stop the daemons
    # (so that none resubmits), then cancel what is left on the cluster.
    for d in made:
        try:
            d.stop()
        except AssertionError:
            pass
    slurm_cluster.cancel_all()
    for d in made:
        cluster_dir = os.path.join(d.data_dir, "cluster")
        for name in sorted(os.listdir(cluster_dir)) if os.path.isdir(cluster_dir) else []:
            if name.endswith(".out"):
                with open(os.path.join(cluster_dir, name), errors="replace") as f:
                    text = f.read()
                assert not any(m in text for m in SANITIZER_MARKERS), name + ":\n" + text
