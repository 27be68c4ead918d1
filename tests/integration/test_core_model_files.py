"""Model files stay inside the model root: not only the model directory is resolved, every
file the loader or a surgery opens is (config.json, tokenizer.json, tokenizer_config.json,
special_tokens_map.json, model.safetensors, the shard index and each shard it names). A
symlink among them that leads outside the root is refused with a 400 naming the file at
submit, and fails the job naming the file when it appears after the submit; a symlink that
stays inside the root is fine."""
import os
import shutil

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARDED = os.path.join(REPO_ROOT, "tests", "reference", "models", "tiny-h6-sharded")


def _diagnose(model):
    return {"kind": "diagnose", "model": model, "texts": ["The boats came back."],
            "max_length": 16}


def _move_outside(d, model_dir, name):
    """Moves model_dir/name out of the model root and leaves a symlink to it."""
    outside = os.path.join(d.base_dir, "outside", os.path.basename(model_dir))
    os.makedirs(outside, exist_ok=True)
    target = os.path.join(outside, name)
    shutil.move(os.path.join(model_dir, name), target)
    os.symlink(target, os.path.join(model_dir, name))


def _assert_refused(d, model, file_name):
    r = d.post("/api/v1/jobs", json=_diagnose(model))
    assert r.status_code == 400, (model, file_name, r.status_code, r.text)
    body = r.json()
    assert body["field"] == "model", body
    assert file_name in body["detail"] and "outside" in body["detail"], body


@pytest.fixture
def model_daemon(daemon):
    d = daemon()
    if "diagnose" not in {k["name"] for k in d.get("/api/v1/kinds").json()["kinds"]}:
        pytest.skip("the diagnose kind is not in this build")
    p = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
    assert p.returncode == 0, p.stderr
    return d


def test_symlinked_model_files_outside_the_root_are_refused(model_daemon):
    d = model_daemon
    demo = os.path.join(d.model_root, "demo")
    for name in sorted(os.listdir(demo)):
        copy = os.path.join(d.model_root, "via-" + name.replace(".", "-"))
        shutil.copytree(demo, copy)
        _move_outside(d, copy, name)
        _assert_refused(d, os.path.basename(copy), name)
    sharded = os.path.join(d.model_root, "sharded")
    shutil.copytree(SHARDED, sharded)
    r = d.post("/api/v1/jobs", json=_diagnose("sharded"))
    assert r.status_code == 201, r.text  # intact, it is accepted
    d.post("/api/v1/jobs/%d/cancel" % r.json()["id"])
    _move_outside(d, sharded, "model-00002-of-00002.safetensors")
    _assert_refused(d, "sharded", "model-00002-of-00002.safetensors")
    # the untouched model and a symlink that stays inside the root are fine
    shared = os.path.join(d.model_root, "shared")
    os.makedirs(shared)
    inside = os.path.join(d.model_root, "inside")
    shutil.copytree(demo, inside)
    shutil.move(os.path.join(inside, "tokenizer.json"), os.path.join(shared, "tokenizer.json"))
    os.symlink(os.path.join(shared, "tokenizer.json"), os.path.join(inside, "tokenizer.json"))
    for model in ("demo", "inside"):
        job = d.submit(_diagnose(model))
        assert d.wait_job(job["id"], timeout=120)["state"] == "succeeded", model


def test_symlink_planted_after_submit_fails_the_job(model_daemon):
    d = model_daemon
    late = os.path.join(d.model_root, "late")
    shutil.copytree(os.path.join(d.model_root, "demo"), late)
    assert d.post("/api/v1/queue/pause").status_code == 200
    job = d.submit(_diagnose("late"))
    _move_outside(d, late, "config.json")
    assert d.post("/api/v1/queue/resume").status_code == 200
    done = d.wait_job(job["id"], timeout=120)
    assert done["state"] == "failed", done
    assert "config.json" in done["error"] and "outside" in done["error"], done
