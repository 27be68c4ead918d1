#!/usr/bin/env bash
# Soak test (not run in CI): N clients submit, poll and cancel jobs against a daemon this script
# starts on loopback with a temporary data dir, while the daemon is killed with SIGKILL and
# restarted every K seconds. At the end every acknowledged submit is looked up: prints jobs
# acknowledged, lost (must be 0), duplicated (must be 0), request latency p50/p99 and the
# daemon's RSS over time; exits 1 when a job was lost or duplicated.
#
#   bash bench/soak.sh                       # 80 clients, 10 minutes, kill -9 every minute
#   bash bench/soak.sh --short               # 20 clients, 2 minutes
#   bash bench/soak.sh --clients 40 --duration 300 --kill-every 30
#
# SURGEOND=path selects the binary (default build/release/surgeond, else build/test/surgeond).
# A test build runs "test-steps" jobs; a release build runs small diagnose jobs on the demo
# model. Every request has a timeout and every loop a bound; nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

clients=80 duration=600 kill_every=60
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --kill-every) kill_every=$2; shift 2 ;;
    --short) clients=20; duration=120; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
bin=${SURGEOND:-}
if [ -z "$bin" ]; then
  if [ -x build/release/surgeond ]; then bin=build/release/surgeond; else bin=build/test/surgeond; fi
fi
[ -x "$bin" ] || { echo "soak.sh: no surgeond at $bin (run make)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/surgeond-soak.XXXXXX")
trap 'rm -rf "$work"' EXIT

# not exec: the EXIT trap removes the temporary directory afterwards
python3 - "$bin" "$work" "$clients" "$duration" "$kill_every" <<'PY'
import json, os, signal, socket, sqlite3, subprocess, sys, threading, time, random
import urllib.request, urllib.error

binary, work, clients, duration, kill_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    float(sys.argv[4]), float(sys.argv[5])
data, models = os.path.join(work, "data"), os.path.join(work, "models")
os.makedirs(data); os.makedirs(models)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
base = "http://127.0.0.1:%d" % port
log = open(os.path.join(work, "daemon.log"), "ab")

def request(method, path, body=None, timeout=10):
    data_ = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data_, method=method)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    return status, json.loads(text or b"null") if text[:1] in (b"{", b"[") else None, \
        time.monotonic() - t0

proc = None
def start():
    global proc
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir",
                             data, "--model-root", models], stdout=log, stderr=log)
    for _ in range(600):  # up to a minute
        try:
            if request("GET", "/api/v1/healthz", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit("soak: surgeond exited at start (see %s/daemon.log)" % work)
        time.sleep(0.1)
    sys.exit("soak: surgeond did not become healthy")

start()
test_build = request("GET", "/api/v1/version")[1].get("test_build")
if test_build:
    spec = {"kind": "test-steps", "steps": 3, "step_ms": 20}
else:
    subprocess.run([binary, "demo-model", "--out", os.path.join(models, "demo")], check=True,
                   stdout=subprocess.DEVNULL)
    spec = {"kind": "diagnose", "model": "demo", "max_length": 16,
            "texts": ["The children walked to school along the river."]}

lock = threading.Lock()
acked = {}           # client_id -> job id acknowledged
acked_twice = []     # a client_id acknowledged with two different ids
latencies, errors = [], {"http": 0, "conn": 0}
deadline = time.monotonic() + duration
stop = threading.Event()

def call(method, path, body=None):
    try:
        status, obj, dt = request(method, path, body)
    except (OSError, ValueError):
        with lock:
            errors["conn"] += 1
        return None, None
    with lock:
        latencies.append(dt)
        if status >= 500:
            errors["http"] += 1
    return status, obj

def client(n):
    rng = random.Random(n)
    for i in range(1000000):  # bounded; ends at the deadline
        if time.monotonic() >= deadline:
            return
        cid = "soak-%d-%d" % (n, i)
        job_id = None
        for _ in range(20):  # retry the same client_id while the daemon restarts
            if time.monotonic() >= deadline:
                break
            status, obj = call("POST", "/api/v1/jobs", dict(spec, client_id=cid))
            if status in (200, 201):
                job_id = obj["id"]
                break
            time.sleep(0.2)
        if job_id is None:
            continue
        with lock:
            if cid in acked and acked[cid] != job_id:
                acked_twice.append((cid, acked[cid], job_id))
            acked[cid] = job_id
        for _ in range(rng.randint(1, 5)):
            call("GET", "/api/v1/jobs/%d" % job_id)
            time.sleep(0.05)
        if rng.random() < 0.3:
            call("POST", "/api/v1/jobs/%d/cancel" % job_id)

rss = []  # (seconds since start, MiB)
def monitor():
    t0 = time.monotonic()
    next_kill = t0 + kill_every
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss.append((time.monotonic() - t0, int(line.split()[1]) / 1024))
        except OSError:
            pass
        if time.monotonic() >= next_kill:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            start()
            next_kill += kill_every
        time.sleep(1)

threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
mon = threading.Thread(target=monitor, daemon=True)
mon.start()
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=duration + 120)
stop.set()
mon.join(timeout=120)

# Verify with a cleanly restarted daemon and the database itself.
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=60)
start()
lost = []
for cid, job_id in sorted(acked.items()):
    status, obj = call("GET", "/api/v1/jobs/%d" % job_id)
    if status != 200 or obj.get("client_id") != cid:
        lost.append((cid, job_id, status))
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=60)
db = sqlite3.connect(os.path.join(data, "surgeon.db"))
dups = db.execute("SELECT client_id, COUNT(*) FROM jobs WHERE client_id IS NOT NULL"
                  " GROUP BY client_id HAVING COUNT(*) > 1").fetchall()
states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
db.close()

lat = sorted(latencies)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
print("soak: %d clients, %.0f s, kill -9 every %.0f s, %s" % (clients, duration, kill_every,
      "test-steps jobs" if test_build else "diagnose jobs"))
print("jobs acknowledged: %d" % len(acked))
print("jobs lost:         %d" % len(lost))
print("jobs duplicated:   %d" % (len(dups) + len(acked_twice)))
print("jobs by state:     %s" % json.dumps(states, sort_keys=True))
print("requests:          %d answered, %d answered 5xx, %d connection errors (restarts)"
      % (len(lat), errors["http"], errors["conn"]))
print("latency ms:        p50 %.1f  p99 %.1f  max %.1f" % (pct(0.5), pct(0.99),
      lat[-1] * 1000 if lat else float("nan")))
step = max(1, len(rss) // 12)
print("RSS MiB over time: " + "  ".join("%ds:%.0f" % (t, m) for t, m in rss[::step]))
for item in lost[:10]:
    print("  lost: client_id %s job %d (GET answered %s)" % item)
for item in dups[:10]:
    print("  duplicated: client_id %s stored %d times" % item)
sys.exit(1 if lost or dups or acked_twice else 0)
PY
