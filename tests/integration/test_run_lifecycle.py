"""The lifecycle of stored runs against the real binary: deleting a run, a checkpoint and an
uploaded corpus (and every 409 while something holds them), a kill -9 between a deletion's
commit and its file removal (no row left pointing at missing files, the orphans swept at the
next start), an emptied database never reusing another database's run directories, and the
storage numbers against the files on disk."""
import os
import random
import subprocess

import pytest
import requests

EVAL = ["The committee met on a grey morning to discuss the harbour repairs and the ferry."]


def _corpus_text(n=40, seed=3):
    rng = random.Random(seed)
    words = ["the farmer", "a teacher", "repaired", "painted", "the bridge", "a small boat",
             "before noon", "in the rain", "the market", "visited", "the library", "at dawn"]
    return " ".join(" ".join(rng.choice(words) for _ in range(8)).capitalize() + "."
                    for _ in range(n)) + "\n"


def surgery_spec(**over):
    spec = {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": EVAL,
            "targets": {"3": [4]}, "lr": 3e-3, "batch_size": 2, "grad_accum": 1,
            "max_length": 16, "epochs": 2, "checkpoint_every": 1, "patience": 0, "seed": 1}
    spec.update(over)
    return spec


@pytest.fixture
def lab(daemon):
    d = daemon()
    r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
        f.write(_corpus_text())
    return d


def instance(d):
    with d.db() as db:
        return db.execute("SELECT value FROM daemon_state WHERE key='instance'").fetchone()[0]


def run_dir(d, run_id, inst=None):
    return os.path.join(d.data_dir, "runs", "%d-%s" % (run_id, inst or instance(d)))


def finished_surgery(d, **over):
    job = d.submit(surgery_spec(**over))
    done = d.wait_job(job["id"], timeout=240)
    assert done["state"] == "succeeded", done
    return done


def checkpoint_names(d, run_id):
    r = d.get("/api/v1/runs/%d/checkpoints" % run_id)
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["checkpoints"]]


def row_counts(d, run_id):
    with d.db() as db:
        return {t: db.execute("SELECT count(*) FROM %s WHERE run_id=?" % t, (run_id,)).fetchone()[0]
                for t in ("head_stats", "curves", "checkpoints")}


def assert_error(r, status, needle=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}, body
    if needle:
        assert needle in body["detail"], body


def test_delete_checkpoint_run_and_corpus(lab):
    d = lab
    run = finished_surgery(d)
    rid = run["id"]
    rdir = run_dir(d, rid)
    assert checkpoint_names(d, rid) == ["epoch-1", "epoch-2"]
    assert os.path.isdir(os.path.join(rdir, "checkpoints", "epoch-1"))

    r = d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid)
    assert r.status_code == 200, r.text
    assert r.json() == {"run": rid, "checkpoint": "epoch-1", "deleted": True}
    assert checkpoint_names(d, rid) == ["epoch-2"]
    assert not os.path.exists(os.path.join(rdir, "checkpoints", "epoch-1"))
    assert os.path.isdir(os.path.join(rdir, "checkpoints", "epoch-2"))
    assert d.get("/api/v1/runs/%d/heads?checkpoint=epoch-1" % rid).json() == {"heads": []}
    assert_error(d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid), 404, "epoch-1")
    assert_error(d.delete("/api/v1/runs/%d/checkpoints/nope" % rid), 404)
    assert_error(d.delete("/api/v1/runs/999/checkpoints/epoch-2"), 404, "no run 999")
    assert_error(d.delete("/api/v1/runs/%d/checkpoints/.." % rid), 404)

    r = d.delete("/api/v1/runs/%d" % rid)
    assert r.status_code == 200, r.text
    assert r.json()["run_deleted_at"] is not None and r.json()["result"] is None
    assert not os.path.exists(rdir)
    assert row_counts(d, rid) == {"head_stats": 0, "curves": 0, "checkpoints": 0}
    assert_error(d.get("/api/v1/runs/%d" % rid), 404, "deleted")
    assert_error(d.get("/api/v1/runs/%d/checkpoints" % rid), 404)
    assert rid not in [x["id"] for x in d.get("/api/v1/runs").json()["runs"]]
    job = d.job(rid)  # the job and its history stay
    assert job["state"] == "succeeded" and job["run_deleted_at"]
    events = d.get("/api/v1/jobs/%d/events" % rid).json()["events"]
    reasons = [e["reason"] for e in events]
    assert "checkpoint epoch-1 deleted" in reasons
    assert reasons[-1].startswith("run deleted")
    assert_error(d.delete("/api/v1/runs/%d" % rid), 404, "deleted")
    assert_error(d.delete("/api/v1/runs/4242"), 404)

    r = d.post("/api/v1/corpora?name=notes", data=b"Some words of text.\n")
    assert r.status_code == 201, r.text
    upload = os.path.join(d.data_dir, "corpora", "notes")
    assert os.path.isfile(upload)
    r = d.delete("/api/v1/corpora/notes")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "upload:notes", "deleted": True}
    assert not os.path.exists(upload)
    assert d.get("/api/v1/corpora").json()["corpora"] == []
    assert_error(d.delete("/api/v1/corpora/notes"), 404, "notes")


def test_every_409(lab):
    d = lab
    run = finished_surgery(d)
    rid = run["id"]
    diag = d.submit({"kind": "diagnose", "model": "demo", "texts": EVAL})
    assert d.wait_job(diag["id"])["state"] == "succeeded"
    d.post("/api/v1/corpora?name=words", data=_corpus_text().encode())
    assert d.post("/api/v1/queue/pause").status_code == 200

    # the run's own job queued
    queued = d.submit({"kind": "test-steps", "steps": 1})
    assert_error(d.delete("/api/v1/runs/%d" % queued["id"]), 409, "is queued")
    # a queued job naming a checkpoint holds that checkpoint and the run, not the others
    user = d.submit({"kind": "diagnose", "model": "run:%d/epoch-1" % rid, "texts": EVAL})
    assert_error(d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid), 409,
                 "queued job %d refers to it" % user["id"])
    assert_error(d.delete("/api/v1/runs/%d" % rid), 409, "job %d" % user["id"])
    # targets.from_run holds the diagnosis run
    sur = d.submit(surgery_spec(targets={"from_run": diag["id"], "classes": ["dead"]}))
    assert_error(d.delete("/api/v1/runs/%d" % diag["id"]), 409, "job %d" % sur["id"])
    # a queued job naming an upload holds the corpus
    cj = d.submit(surgery_spec(corpus="upload:words"))
    assert_error(d.delete("/api/v1/corpora/words"), 409, "job %d" % cj["id"])
    for j in (queued, user, sur, cj):
        assert d.post("/api/v1/jobs/%d/cancel" % j["id"]).status_code in (200, 202)

    # enabled schedules hold what their job names; disabled ones do not
    sched = d.post("/api/v1/schedules", json={
        "name": "nightly", "cron": "@yearly",
        "job": {"kind": "surgery", "model": "run:%d/epoch-1" % rid, "corpus": "upload:words",
                "eval_texts": EVAL, "targets": {"3": [4]}, "max_length": 16}})
    assert sched.status_code == 201, sched.text
    sid = sched.json()["id"]
    assert_error(d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid), 409,
                 "enabled schedule %d (nightly)" % sid)
    assert_error(d.delete("/api/v1/corpora/words"), 409, "schedule %d" % sid)
    assert d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False}).status_code == 200
    assert d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid).status_code == 200
    assert d.delete("/api/v1/corpora/words").status_code == 200

    # a running job's run cannot be deleted
    assert d.post("/api/v1/queue/resume").status_code == 200
    long = d.submit({"kind": "test-steps", "steps": 400, "step_ms": 50})
    d.wait_job(long["id"], states="running")
    assert_error(d.delete("/api/v1/runs/%d" % long["id"]), 409, "is running")
    d.post("/api/v1/jobs/%d/cancel" % long["id"])
    assert d.wait_job(long["id"])["state"] == "cancelled"
    assert d.delete("/api/v1/runs/%d" % long["id"]).status_code == 200
    assert d.delete("/api/v1/runs/%d" % rid).status_code == 200


def test_kill9_between_commit_and_files(lab, monkeypatch):
    d = lab
    run = finished_surgery(d)
    rid = run["id"]
    rdir = run_dir(d, rid)
    d.stop()
    monkeypatch.setenv("HS_TEST_CRASH_AFTER_DELETE_COMMIT", "1")
    d.start()
    with pytest.raises(requests.RequestException):
        d.delete("/api/v1/runs/%d/checkpoints/epoch-1" % rid)
    d.proc.wait(timeout=30)
    # the row is gone, the files are still there: an orphan, not a dangling row
    with d.db() as db:
        assert db.execute("SELECT name FROM checkpoints WHERE run_id=?", (rid,)).fetchall() == [
            ("epoch-2",)]
    assert os.path.isdir(os.path.join(rdir, "checkpoints", "epoch-1"))
    d.start()
    with pytest.raises(requests.RequestException):
        d.delete("/api/v1/runs/%d" % rid)
    d.proc.wait(timeout=30)
    assert row_counts(d, rid) == {"head_stats": 0, "curves": 0, "checkpoints": 0}
    assert os.path.isdir(rdir)
    monkeypatch.delenv("HS_TEST_CRASH_AFTER_DELETE_COMMIT")
    d.start()
    assert not os.path.exists(rdir), "the start-up sweep left the deleted run's files"
    assert "swept 1 orphan run directory" in d.log_text()


def test_crash_sweep_of_checkpoint_only(lab, monkeypatch):
    d = lab
    rid = finished_surgery(d)["id"]
    rdir = run_dir(d, rid)
    d.stop()
    monkeypatch.setenv("HS_TEST_CRASH_AFTER_DELETE_COMMIT", "1")
    d.start()
    with pytest.raises(requests.RequestException):
        d.delete("/api/v1/runs/%d/checkpoints/epoch-2" % rid)
    d.proc.wait(timeout=30)
    monkeypatch.delenv("HS_TEST_CRASH_AFTER_DELETE_COMMIT")
    d.start()
    assert sorted(os.listdir(os.path.join(rdir, "checkpoints"))) == ["epoch-1"]
    assert checkpoint_names(d, rid) == ["epoch-1"]


def test_emptied_database_never_reuses_old_files(lab):
    d = lab
    old = instance(d)
    rid = finished_surgery(d)["id"]
    old_dir = run_dir(d, rid, old)
    assert os.path.isdir(os.path.join(old_dir, "checkpoints", "epoch-1"))
    d.stop()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(d.db_path + suffix):
            os.remove(d.db_path + suffix)
    d.start()
    new = instance(d)
    assert new != old
    # the same id again, in a new database: the old checkpoint is neither loaded nor listed
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "run:%d/epoch-1" % rid,
                                     "texts": EVAL})
    assert r.status_code == 400, r.text
    job = d.submit({"kind": "test-steps", "steps": 1})
    assert job["id"] == rid
    assert d.wait_job(job["id"])["state"] == "succeeded"
    assert d.get("/api/v1/runs/%d/checkpoints" % rid).json() == {"checkpoints": []}
    assert os.path.isdir(run_dir(d, rid, new))
    # the old files are left alone (another database's), also by deleting the new run
    assert d.delete("/api/v1/runs/%d" % rid).status_code == 200
    d.restart()
    assert os.path.isdir(os.path.join(old_dir, "checkpoints", "epoch-1"))


def _file_bytes(top):
    total = 0
    for root, _dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            if os.path.isfile(p) and not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def test_storage_matches_the_files(lab):
    d = lab
    rid = finished_surgery(d)["id"]
    d.post("/api/v1/corpora?name=notes", data=b"x" * 1234)
    r = d.get("/api/v1/storage")
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(s) == {"runs", "checkpoints", "corpora", "uploads", "logs", "database", "free"}
    runs = os.path.join(d.data_dir, "runs")
    ckpts = sum(_file_bytes(os.path.join(runs, x, "checkpoints")) for x in os.listdir(runs))
    assert s["checkpoints"] == ckpts > 0
    assert s["runs"] == _file_bytes(runs) - ckpts
    assert s["uploads"] == _file_bytes(os.path.join(d.data_dir, "corpora")) == 1234
    assert s["corpora"] == _file_bytes(d.corpus_root) > 0
    assert s["logs"] == _file_bytes(os.path.join(d.data_dir, "logs")) > 0
    assert s["database"] >= os.path.getsize(d.db_path) > 0
    st = os.statvfs(d.data_dir)
    assert 0 < s["free"] <= st.f_blocks * st.f_frsize
    run = d.get("/api/v1/runs/%d" % rid).json()
    assert run["bytes_on_disk"] == _file_bytes(run_dir(d, rid)) > 0
    listed = d.get("/api/v1/runs").json()["runs"]
    assert [x["bytes_on_disk"] for x in listed if x["id"] == rid] == [run["bytes_on_disk"]]
    metrics = d.get("/metrics").text
    assert 'hs_storage_bytes{what="checkpoints"} %d\n' % ckpts in metrics
    assert "hs_storage_free_bytes " in metrics
    # du agrees: its apparent size of the run directory, less the directories' own sizes
    out = subprocess.run(["du", "-s", "-b", run_dir(d, rid)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    dirs = sum(os.lstat(os.path.join(root, x)).st_size
               for root, names, _ in os.walk(run_dir(d, rid)) for x in names)
    dirs += os.lstat(run_dir(d, rid)).st_size
    assert int(out.stdout.split()[0]) - dirs == run["bytes_on_disk"]


def _listed(d, rid):
    r = d.get("/api/v1/runs/%d/checkpoints" % rid)
    assert r.status_code == 200, r.text
    return r.json()["checkpoints"]


@pytest.mark.parametrize("keep", ["all", "best_and_final", 2])
def test_retention_modes(lab, keep):
    d = lab
    run = finished_surgery(d, epochs=4, keep_checkpoints=keep)
    rid = run["id"]
    names = ["epoch-%d" % i for i in range(1, 5)]
    listed = _listed(d, rid)
    best = [c["name"] for c in listed if c["best"]]
    assert len(best) == 1, listed
    if keep == "all":
        want = set(names)
    elif keep == "best_and_final":
        want = {best[0], "epoch-4"}
    else:
        want = set(names[-keep:]) | {best[0]}
    assert {c["name"] for c in listed} == want
    assert all(c["missing"] is False for c in listed)
    on_disk = set(os.listdir(os.path.join(run_dir(d, rid), "checkpoints")))
    assert on_disk == want
    assert {c["name"] for c in run["result"]["checkpoints"]} == want
    with d.db() as db:
        heads = {r[0] for r in db.execute(
            "SELECT DISTINCT checkpoint FROM head_stats WHERE run_id=? AND checkpoint<>'start'",
            (rid,))}
    assert heads == want


def test_retention_refused_values(lab):
    d = lab
    for bad in (0, -1, 1.5, "some", [], {"n": 1}, True):
        r = d.post("/api/v1/jobs", json=surgery_spec(keep_checkpoints=bad))
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["field"] == "keep_checkpoints", r.json()


def test_missing_checkpoint_files(lab):
    d = lab
    rid = finished_surgery(d)["id"]
    import shutil
    shutil.rmtree(os.path.join(run_dir(d, rid), "checkpoints", "epoch-1"))
    listed = {c["name"]: c["missing"] for c in _listed(d, rid)}
    assert listed == {"epoch-1": True, "epoch-2": False}
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "run:%d/epoch-1" % rid,
                                     "texts": EVAL})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "model"
    assert "files are missing" in r.json()["detail"], r.json()


def test_archive_and_file_download(lab, tmp_path):
    import io
    import tarfile
    d = lab
    rid = finished_surgery(d)["id"]
    ckpt = os.path.join(run_dir(d, rid), "checkpoints", "epoch-2")
    r = d.get("/api/v1/runs/%d/checkpoints/epoch-2/archive" % rid)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert all(m.name == "epoch-2" or m.name.startswith("epoch-2/") for m in tar)
        tar.extractall(tmp_path, filter="data")
    out = tmp_path / "epoch-2"
    assert sorted(os.listdir(out)) == sorted(os.listdir(ckpt))
    for name in os.listdir(ckpt):
        with open(os.path.join(ckpt, name), "rb") as a, open(out / name, "rb") as b:
            assert a.read() == b.read(), name
    assert_error(d.get("/api/v1/runs/%d/checkpoints/nope/archive" % rid), 404)
    assert_error(d.get("/api/v1/runs/999/checkpoints/epoch-2/archive"), 404)

    with open(os.path.join(ckpt, "model.safetensors"), "rb") as f:
        weights = f.read()
    base = "/api/v1/runs/%d/checkpoints/epoch-2/files/model.safetensors" % rid
    r = d.get(base)
    assert r.status_code == 200 and r.content == weights
    assert r.headers["Accept-Ranges"] == "bytes"
    r = d.get(base, headers={"Range": "bytes=10-99"})
    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == "bytes 10-99/%d" % len(weights)
    assert r.content == weights[10:100]
    r = d.get(base, headers={"Range": "bytes=-7"})
    assert r.status_code == 206 and r.content == weights[-7:]
    r = d.get(base, headers={"Range": "bytes=%d-" % (len(weights) - 3)})
    assert r.status_code == 206 and r.content == weights[-3:]
    r = d.get(base, headers={"Range": "bytes=%d-" % len(weights)})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */%d" % len(weights)
    r = d.get(base, headers={"Range": "bytes=0-1,5-6"})  # several ranges: the whole file
    assert r.status_code == 200 and r.content == weights
    assert_error(d.get("/api/v1/runs/%d/checkpoints/epoch-2/files/nope.bin" % rid), 404)
    assert d.get("/api/v1/runs/%d/checkpoints/epoch-2/files/.." % rid).status_code == 404


def test_archive_loads_in_transformers(lab, tmp_path):
    transformers = pytest.importorskip("transformers")
    import io
    import tarfile
    d = lab
    rid = finished_surgery(d)["id"]
    r = d.get("/api/v1/runs/%d/checkpoints/epoch-1/archive" % rid)
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        tar.extractall(tmp_path, filter="data")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "epoch-1"))
    assert model.config.n_layer == 4


def test_model_aliases(lab):
    d = lab
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "run:latest/final",
                                     "texts": EVAL})
    assert r.status_code == 400 and "no surgery run has succeeded" in r.json()["detail"], r.text
    rid = finished_surgery(d)["id"]
    best = [c["name"] for c in _listed(d, rid) if c["best"]][0]

    def diagnose_on(model):
        job = d.submit({"kind": "diagnose", "model": model, "texts": EVAL})
        done = d.wait_job(job["id"])
        assert done["state"] == "succeeded", done
        assert done["spec"]["model"] == model  # the spec stays as submitted
        return done["model_resolved"]

    assert diagnose_on("run:%d/best" % rid) == "run:%d/%s" % (rid, best)
    assert diagnose_on("run:%d/final" % rid) == "run:%d/epoch-2" % rid
    assert diagnose_on("run:%d/latest" % rid) == "run:%d/epoch-2" % rid
    assert diagnose_on("run:latest/epoch-1") == "run:%d/epoch-1" % rid
    assert diagnose_on("run:latest/best") == "run:%d/%s" % (rid, best)
    assert diagnose_on("demo") == "demo"
    diag = d.submit({"kind": "diagnose", "model": "demo", "texts": EVAL})
    d.wait_job(diag["id"])
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "run:%d/best" % diag["id"],
                                     "texts": EVAL})
    assert r.status_code == 400 and r.json()["field"] == "model", r.text
    assert "no best checkpoint" in r.json()["detail"]

    # resolved when the job starts, not at submit: a surgery that finishes in between wins
    assert d.post("/api/v1/queue/pause").status_code == 200
    waiting = d.submit({"kind": "diagnose", "model": "run:latest/final", "texts": EVAL})
    newer = d.submit(surgery_spec(priority=5))
    assert d.post("/api/v1/queue/resume").status_code == 200
    assert d.wait_job(newer["id"], timeout=240)["state"] == "succeeded"
    done = d.wait_job(waiting["id"])
    assert done["state"] == "succeeded", done
    assert done["model_resolved"] == "run:%d/epoch-2" % newer["id"]
    # run:latest:<tag>/...: the newest succeeded surgery with that tag
    r = d.patch("/api/v1/runs/%d" % rid, json={"tags": ["keep"]})
    assert r.status_code == 200, r.text
    assert diagnose_on("run:latest:keep/final") == "run:%d/epoch-2" % rid
    assert diagnose_on("run:latest/final") == "run:%d/epoch-2" % newer["id"]
    r = d.post("/api/v1/jobs", json={"kind": "diagnose", "model": "run:latest:nope/final",
                                     "texts": EVAL})
    assert r.status_code == 400 and "tagged \"nope\"" in r.json()["detail"], r.text
    # an alias holds its run against deletion while a job waits on it
    assert d.post("/api/v1/queue/pause").status_code == 200
    held = d.submit({"kind": "diagnose", "model": "run:%d/best" % rid, "texts": EVAL})
    assert_error(d.delete("/api/v1/runs/%d" % rid), 409, "job %d" % held["id"])


def test_corpus_versions_and_replace_rules(lab):
    import hashlib
    d = lab
    text_a = _corpus_text(seed=11).encode()
    text_b = _corpus_text(seed=12).encode()
    text_c = _corpus_text(seed=13).encode()
    sha = {t: hashlib.sha256(t).hexdigest() for t in (text_a, text_b, text_c)}
    r = d.post("/api/v1/corpora?name=c", data=text_a)
    assert r.status_code == 201 and r.json()["sha256"] == sha[text_a], r.text
    r = d.post("/api/v1/corpora?name=c", data=text_a)  # the same content again
    assert r.status_code == 200 and r.json()["sha256"] == sha[text_a], r.text
    r = d.post("/api/v1/corpora?name=c", data=text_b)
    assert_error(r, 409, sha[text_a])
    assert r.json()["field"] == "name"
    with open(os.path.join(d.data_dir, "corpora", "c"), "rb") as f:
        assert f.read() == text_a  # nothing changed
    assert_error(d.post("/api/v1/corpora?name=c&replace=maybe", data=text_b), 400)
    r = d.post("/api/v1/corpora?name=c&replace=true", data=text_b)
    assert r.status_code == 201 and r.json()["replaced"] is True, r.text
    assert_error(d.post("/api/v1/corpora?name=blank", data=b" \n\t \n"), 400, "whitespace")

    job = finished_surgery(d, corpus="upload:c")
    assert job["corpus_resolved"] == "upload:c@" + sha[text_b]
    assert job["result"]["corpus"]["name"] == "upload:c"
    assert job["result"]["corpus"]["sha256"] == sha[text_b]
    assert job["result"]["corpus"]["tokens"] > 0
    assert job["spec"]["corpus"] == "upload:c"

    # replaced again and then deleted: the content the run used stays resolvable
    assert d.post("/api/v1/corpora?name=c&replace=true", data=text_c).status_code == 201
    blobs = os.path.join(d.data_dir, "corpus-blobs")
    assert d.delete("/api/v1/corpora/c").status_code == 200
    assert os.path.isfile(os.path.join(blobs, sha[text_b]))
    assert not os.path.exists(os.path.join(blobs, sha[text_c]))  # no run used it
    again = d.submit(surgery_spec(corpus="upload:c@" + sha[text_b], epochs=1))
    assert d.wait_job(again["id"], timeout=240)["state"] == "succeeded"
    r = d.post("/api/v1/jobs", json=surgery_spec(corpus="upload:c@" + sha[text_c]))
    assert r.status_code == 400 and r.json()["field"] == "corpus", r.text
    r = d.post("/api/v1/jobs", json=surgery_spec(corpus="upload:c@1234"))
    assert r.status_code == 400 and r.json()["field"] == "corpus", r.text


def test_blank_texts_are_refused_at_submit(lab):
    d = lab
    with open(os.path.join(d.corpus_root, "blank.txt"), "w") as f:
        f.write("  \n\n\t\n")
    cases = [
        ({"kind": "diagnose", "model": "demo", "texts": ["A fine text.", "  \t "]}, "texts"),
        ({"kind": "evaluate", "model": "demo", "texts": [""]}, "texts"),
        ({"kind": "diagnose", "model": "demo", "text_file": "blank.txt"}, "text_file"),
        (surgery_spec(eval_texts=["\n "]), "eval_texts"),
        (surgery_spec(corpus="blank.txt"), "corpus"),
        (surgery_spec(eval_texts=None, eval_file="blank.txt"), "eval_file"),
    ]
    for spec, field in cases:
        spec = {k: v for k, v in spec.items() if v is not None}
        r = d.post("/api/v1/jobs", json=spec)
        assert r.status_code == 400, (spec, r.text)
        assert r.json()["field"] == field, (spec, r.json())


WINDOW_FIXTURE = os.path.join(os.path.dirname(__file__), "..", "reference", "window_ppl",
                              "tiny-h6-f32.json")


def test_whole_text_perplexity_matches_transformers(daemon):
    """evaluate and a surgery's evaluation (its perplexity before training, curve point 0) give
    the same sliding-window perplexity of a text longer than max_length as the transformers
    fixture, for several (max_length, stride)."""
    import json
    import shutil
    with open(WINDOW_FIXTURE) as f:
        fx = json.load(f)
    d = daemon()
    src = os.path.join(os.path.dirname(WINDOW_FIXTURE), "..", "models", fx["model"])
    shutil.copytree(src, os.path.join(d.model_root, "tiny"))
    with open(os.path.join(d.corpus_root, "train.txt"), "w") as f:
        f.write((fx["text"] + "\n") * 4)
    for case in fx["cases"]:
        ml, stride = case["max_length"], case["stride"]
        ev = d.submit({"kind": "evaluate", "model": "tiny", "texts": [fx["text"]],
                       "max_length": ml, "stride": stride})
        res = d.wait_job(ev["id"])
        assert res["state"] == "succeeded", res
        ppl = res["result"]["ppl"]
        assert res["result"]["tokens"] == case["tokens"], (case, res["result"])
        assert abs(ppl - case["ppl"]) <= 1e-5 * case["ppl"], (case, ppl)
        sur = d.submit({"kind": "surgery", "model": "tiny", "corpus": "train.txt",
                        "eval_texts": [fx["text"]], "targets": {"1": [3]}, "max_length": ml,
                        "stride": stride, "epochs": 1, "checkpoint_every": 1, "batch_size": 1,
                        "grad_accum": 1, "lr": 1e-4, "patience": 0})
        done = d.wait_job(sur["id"], timeout=240)
        assert done["state"] == "succeeded", done
        pts = d.get("/api/v1/runs/%d/curves?name=ppl" % sur["id"]).json()["points"]
        before = [p["value"] for p in pts if p["step"] == 0]
        assert len(before) == 1
        assert abs(before[0] - ppl) <= 1e-9 * ppl, (before, ppl)  # one function, same number
    r = d.post("/api/v1/jobs", json={"kind": "evaluate", "model": "tiny", "texts": ["a b c"],
                                     "max_length": 16, "stride": 17})
    assert r.status_code == 400 and r.json()["field"] == "stride", r.text


def test_patch_schedule_with_a_partial_body(daemon):
    d = daemon()
    job = {"kind": "test-steps", "steps": 2}
    s = d.post("/api/v1/schedules", json={"name": "n1", "cron": "@daily", "job": job,
                                          "timezone": "+02:00", "enabled": False}).json()
    url = "/api/v1/schedules/%d" % s["id"]
    for body, changed in (({"name": "n2"}, {"name": "n2"}),
                          ({"enabled": True}, {"enabled": True}),
                          ({"cron": "@hourly"}, {"cron": "@hourly"}),
                          ({"timezone": "UTC"}, {"timezone": "UTC"}),
                          ({"job": {"kind": "test-steps", "steps": 3}},
                           {"job": {"kind": "test-steps", "steps": 3}})):
        before = d.get(url).json()
        r = d.patch(url, json=body)
        assert r.status_code == 200, (body, r.text)
        after = r.json()
        for key in ("name", "cron", "job", "enabled", "timezone"):
            assert after[key] == changed.get(key, before[key]), (body, key, after)
    r = d.patch(url, json={"cron": "not a cron"})
    assert r.status_code == 400 and r.json()["field"] == "cron"
    assert d.get(url).json()["cron"] == "@hourly"  # a refused patch changes nothing


def test_run_directories_from_before_instance_ids_are_adopted(lab):
    d = lab
    rid = finished_surgery(d)["id"]
    old = run_dir(d, rid)
    legacy = os.path.join(d.data_dir, "runs", str(rid))
    d.stop()
    # the layout and schema of a database from before migration 004
    os.rename(old, legacy)
    with d.db() as db:
        db.execute("UPDATE checkpoints SET path = replace(path, ?, ?)", (old, legacy))
        db.executescript("ALTER TABLE jobs DROP COLUMN run_deleted_at;"
                         " ALTER TABLE jobs DROP COLUMN model_resolved;"
                         " ALTER TABLE jobs DROP COLUMN corpus_resolved;"
                         " DELETE FROM daemon_state WHERE key IN ('instance', 'adopt_legacy_runs');"
                         " PRAGMA user_version=3;")
    d.start()
    new = run_dir(d, rid)
    assert new != old and os.path.isdir(os.path.join(new, "checkpoints", "epoch-1"))
    assert not os.path.exists(legacy)
    listed = _listed(d, rid)
    assert [c["missing"] for c in listed] == [False, False]
    assert all(os.path.join(d.data_dir, c["path"]).startswith(new) for c in listed), listed
    job = d.submit({"kind": "diagnose", "model": "run:%d/epoch-1" % rid, "texts": EVAL})
    assert d.wait_job(job["id"])["state"] == "succeeded"
    with d.db() as db:
        assert db.execute("SELECT count(*) FROM daemon_state WHERE key='adopt_legacy_runs'"
                          ).fetchone()[0] == 0
