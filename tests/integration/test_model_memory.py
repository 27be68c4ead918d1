"""Memory before models load, and the workers' model cache, through the real daemon:

- a job whose model cannot fit (config.json declaring a hidden size of 2^20 over a real small
  checkpoint; or, in the test build, HS_TEST_AVAILABLE_MEMORY pretending a small machine)
  fails at once with the bytes it needs and the bytes available, before anything loads; the
  daemon keeps serving and runs the next job;
- GET /api/v1/queue lists what each worker's model cache holds (name, path under the data dir,
  resident bytes, last use) and its limit; a surgery's checkpoint shows by its path under the
  data dir, never an absolute one; two jobs on two models leave both cached under a large
  --model-cache-bytes, only the last one under a limit smaller than two models.
"""
import json
import os
import re
import shutil

TEXT = ("The children walked to school along the river and stopped to watch the boats on the "
        "water before the bell rang.")
DEMO_RESIDENT = 931840  # the demo model's parameters as fp32


def _write_demo(d, name, family="bloom"):
    r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, name), "--family", family)
    assert r.returncode == 0, r.stdout + r.stderr


def _diagnose(d, model):
    job = d.submit({"kind": "diagnose", "model": model, "texts": [TEXT]})
    return d.wait_job(job["id"], timeout=120)


def _cache(d):
    r = d.get("/api/v1/queue")
    assert r.status_code == 200, r.text
    workers = r.json()["workers"]
    assert len(workers) == 1, workers
    return workers[0]["model_cache"]


def _numbers_in(reason):
    """The byte counts a refusal names: '<n> bytes'."""
    return [int(n) for n in re.findall(r"(\d+) bytes", reason)]


def test_model_too_large_for_memory_fails_before_loading(daemon):
    d = daemon()
    _write_demo(d, "demo")
    huge = os.path.join(d.model_root, "huge")
    shutil.copytree(os.path.join(d.model_root, "demo"), huge)
    with open(os.path.join(huge, "config.json")) as f:
        cfg = json.load(f)
    cfg["hidden_size"] = 1 << 20
    with open(os.path.join(huge, "config.json"), "w") as f:
        json.dump(cfg, f)

    done = _diagnose(d, "huge")
    assert done["state"] == "failed", done
    reason = json.dumps(done)
    assert "the job needs" in reason and "are available" in reason, reason
    needs, have = _numbers_in(reason)[:2]
    assert needs > 4 * 3 * (1 << 40) * 4  # the 4 layers' query_key_value weights as fp32
    assert 0 < have < needs
    assert "GiB" in reason or "TiB" in reason or "PiB" in reason
    # the daemon keeps serving and the next job on a model that fits runs
    assert d.get("/api/v1/healthz").status_code == 200
    assert _diagnose(d, "demo")["state"] == "succeeded"


def test_small_machine_refuses_with_both_numbers(daemon, monkeypatch):
    monkeypatch.setenv("HS_TEST_AVAILABLE_MEMORY", "600000")  # less than the demo model
    d = daemon()
    _write_demo(d, "demo")
    done = _diagnose(d, "demo")
    assert done["state"] == "failed", done
    reason = json.dumps(done)
    assert "the job needs" in reason, reason
    numbers = _numbers_in(reason)
    assert numbers[0] > DEMO_RESIDENT  # the estimate: weights and the forward's buffers
    assert 600000 in numbers  # what is available: nothing cached to evict
    assert _cache(d)["models"] == []
    job = d.submit({"kind": "test-steps", "steps": 2, "step_ms": 1})
    assert d.wait_job(job["id"])["state"] == "succeeded"


def test_queue_lists_cached_models(daemon):
    d = daemon(args=["--model-cache-bytes", "64M"])
    _write_demo(d, "demo")
    _write_demo(d, "demo-mpt", family="mpt")
    cache = _cache(d)
    assert cache["limit_bytes"] == 64 * 1024 * 1024
    assert cache["used_bytes"] == 0 and cache["models"] == []

    assert _diagnose(d, "demo")["state"] == "succeeded"
    assert _diagnose(d, "demo-mpt")["state"] == "succeeded"
    cache = _cache(d)
    names = [m["name"] for m in cache["models"]]
    assert names == ["demo-mpt", "demo"], cache  # most recently used first
    for m in cache["models"]:
        assert m["path"] is None  # the model root is not under the data dir here
        assert not os.path.isabs(m["name"])
        assert m["resident_bytes"] > 0
        assert m["last_used"].endswith("Z")
    assert cache["used_bytes"] == sum(m["resident_bytes"] for m in cache["models"])
    assert cache["models"][1]["resident_bytes"] == DEMO_RESIDENT

    # a job on the first model again takes it from the cache: it becomes the most recent
    assert _diagnose(d, "demo")["state"] == "succeeded"
    assert [m["name"] for m in _cache(d)["models"]] == ["demo", "demo-mpt"]


def test_small_model_cache_keeps_only_the_last_model(daemon):
    d = daemon(args=["--model-cache-bytes", str(DEMO_RESIDENT + DEMO_RESIDENT // 2)])
    _write_demo(d, "a")
    _write_demo(d, "b")
    assert _diagnose(d, "a")["state"] == "succeeded"
    assert [m["name"] for m in _cache(d)["models"]] == ["a"]
    assert _diagnose(d, "b")["state"] == "succeeded"
    cache = _cache(d)
    assert [m["name"] for m in cache["models"]] == ["b"], cache
    assert cache["used_bytes"] == DEMO_RESIDENT <= cache["limit_bytes"]


def test_model_cache_bytes_flag_is_checked(daemon):
    d = daemon(args=["--model-cache-bytes", "lots"], start=False)
    r = d.run_cli("serve", "--model-cache-bytes", "lots", "--data-dir", d.data_dir)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--model-cache-bytes" in r.stderr


def test_checkpoint_in_cache_is_listed_relative_to_the_data_dir(daemon):
    d = daemon(args=["--model-cache-bytes", "64M"])
    _write_demo(d, "demo")
    with open(os.path.join(d.corpus_root, "train.txt"), "w") as f:
        f.write((TEXT + "\n") * 40)
    job = d.submit({"kind": "surgery", "model": "demo", "corpus": "train.txt",
                    "eval_texts": [TEXT], "targets": {"1": [6]}, "max_length": 32,
                    "epochs": 1, "checkpoint_every": 1, "patience": 0})
    done = d.wait_job(job["id"], timeout=240)
    assert done["state"] == "succeeded", done
    assert _cache(d)["models"] == []  # the surgery changed the model in place: dropped
    names = [c["name"] for c in d.get("/api/v1/runs/%d/checkpoints" % job["id"]).json()["checkpoints"]]
    ckpt = [n for n in names if n not in ("best", "final", "latest")][-1]
    diag = _diagnose(d, "run:%d/%s" % (job["id"], ckpt))
    assert diag["state"] == "succeeded", json.dumps(diag)
    models = _cache(d)["models"]
    assert len(models) == 1 and models[0]["name"] is None, models
    assert models[0]["path"].startswith("runs/") and models[0]["path"].endswith("/" + ckpt)
    assert d.data_dir not in json.dumps(_cache(d))
