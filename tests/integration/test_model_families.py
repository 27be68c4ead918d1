"""Model families through the real daemon: the MPT demo model (DEAD heads planted on a <s>
token) diagnosed, repaired by a surgery and re-diagnosed from its checkpoint, which is an
MptForCausalLM directory (transformers' tensor names, Wqkv in [q | k | v] blocks); a model of a
family that does not use ALiBi, and a config.json declaring millions of layers, end as failed
jobs naming the problem while the daemon keeps serving (no restart, nothing allocated)."""
import json
import os
import shutil
import struct

import pytest

REPO_ROOT = os.path.abspath(os.environ.get("HS_REPO_ROOT")
                            or os.path.join(os.path.dirname(__file__), "..", ".."))

TEXTS = [
    "The children walked to school along the river and stopped to watch the boats.",
    "A small village near the sea had one bakery, two churches and a market every Sunday "
    "morning. People came from the farms with eggs, milk and vegetables.",
]
MPT_PLANTED = {(0, 7), (1, 6), (2, 5), (3, 7)}


@pytest.fixture
def mpt_daemon(daemon):
    d = daemon()
    r = d.run_cli("demo-model", "--family", "mpt", "--out", os.path.join(d.model_root, "mpt"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(0,7) dead" in r.stdout
    return d


def _finish(d, spec, state="succeeded", timeout=180):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=timeout)
    assert done["state"] == state, done
    return job["id"], done


def _dead_heads(d, run_id, checkpoint=None):
    q = "" if checkpoint is None else "?checkpoint=" + checkpoint
    r = d.get("/api/v1/runs/%d/heads%s" % (run_id, q))
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body["heads"] if isinstance(body, dict) else body
    return {(h["layer"], h["head"]) for h in rows if h["class"] == "dead"}


def _safetensors_names(path):
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
    return {k: v for k, v in header.items() if k != "__metadata__"}


def test_mpt_demo_diagnose_surgery_and_checkpoint(mpt_daemon):
    d = mpt_daemon
    diag_id, _ = _finish(d, {"kind": "diagnose", "model": "mpt", "texts": TEXTS,
                             "prepend_bos": True})
    assert _dead_heads(d, diag_id) == MPT_PLANTED
    # without <s> the planted heads have nothing to collapse onto
    plain_id, _ = _finish(d, {"kind": "diagnose", "model": "mpt", "texts": TEXTS})
    assert _dead_heads(d, plain_id) == set()

    corpus = " ".join(TEXTS * 20)
    r = d.post("/api/v1/corpora?name=mpt-corpus", data=corpus.encode(),
               headers={"Content-Type": "application/octet-stream"})
    assert r.status_code in (200, 201), r.text
    surg_id, _ = _finish(d, {"kind": "surgery", "model": "mpt", "corpus": "upload:mpt-corpus",
                             "eval_texts": TEXTS[:1],
                             "targets": {"from_run": diag_id, "classes": ["dead"]},
                             "max_length": 16, "batch_size": 2, "grad_accum": 1, "epochs": 1,
                             "checkpoint_every": 1, "lr": 1e-3})
    r = d.get("/api/v1/runs/%d/checkpoints" % surg_id)
    assert r.status_code == 200, r.text
    ckpts = r.json()
    ckpts = ckpts["checkpoints"] if isinstance(ckpts, dict) else ckpts
    names = [c["name"] for c in ckpts]
    assert names, ckpts
    name = names[-1]

    # the checkpoint is an MptForCausalLM directory with transformers' names and layout
    ckpt_dir = None
    for root, dirs, _ in os.walk(d.data_dir):
        if os.path.basename(root) == name and "config.json" in os.listdir(root):
            ckpt_dir = root
    assert ckpt_dir, "checkpoint directory not found under the data dir"
    cfg = json.load(open(os.path.join(ckpt_dir, "config.json")))
    assert cfg["model_type"] == "mpt" and cfg["architectures"] == ["MptForCausalLM"]
    assert cfg["attn_config"]["alibi"] is True and cfg["no_bias"] is True
    tensors = _safetensors_names(os.path.join(ckpt_dir, "model.safetensors"))
    assert "transformer.blocks.0.attn.Wqkv.weight" in tensors
    assert tensors["transformer.blocks.0.attn.Wqkv.weight"]["shape"] == [192, 64]
    assert not any(k.endswith(".bias") for k in tensors), sorted(tensors)
    assert not any("query_key_value" in k for k in tensors)

    # the repaired model diagnoses as a model of its own
    again_id, _ = _finish(d, {"kind": "diagnose", "model": "run:%d/%s" % (surg_id, name),
                              "texts": TEXTS, "prepend_bos": True})
    r = d.get("/api/v1/runs/%d" % again_id)
    assert r.status_code == 200


def _copy_fixture_model(d, name, new_name):
    src = os.path.join(REPO_ROOT, "tests", "reference", "models", name)
    dst = os.path.join(d.model_root, new_name)
    shutil.copytree(src, dst, symlinks=False)
    return dst


def test_non_alibi_family_is_a_failed_job_naming_it(daemon):
    d = daemon()
    dst = _copy_fixture_model(d, "tiny-h4-f32", "llama-like")
    cfg_path = os.path.join(dst, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["model_type"] = "llama"
    json.dump(cfg, open(cfg_path, "w"))
    _, done = _finish(d, {"kind": "diagnose", "model": "llama-like", "texts": TEXTS},
                      state="failed")
    reason = json.dumps(done)
    assert "llama" in reason and "ALiBi" in reason, done
    assert d.get("/api/v1/healthz").status_code == 200


def test_config_declaring_millions_of_layers_fails_without_allocating(daemon):
    d = daemon()
    dst = _copy_fixture_model(d, "tiny-h4-f32", "huge")
    cfg_path = os.path.join(dst, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["n_layer"] = 5000000
    json.dump(cfg, open(cfg_path, "w"))
    pid = d.proc.pid
    _, done = _finish(d, {"kind": "diagnose", "model": "huge", "texts": TEXTS},
                      state="failed", timeout=60)
    reason = json.dumps(done)
    assert "5000000 layers" in reason, done
    assert d.get("/api/v1/healthz").status_code == 200
    assert d.proc.poll() is None and d.proc.pid == pid  # the same process, never restarted
    # and the next job runs normally
    ok = _copy_fixture_model(d, "tiny-h4-f32", "fine")
    assert os.path.isdir(ok)
    _finish(d, {"kind": "diagnose", "model": "fine", "texts": TEXTS})
