"""The `generate` job kind through the HTTP API of the real daemon.

- greedy completions of tiny-h6-f32 (a committed reference model) equal transformers'
  generate(do_sample=False, use_cache=True) ids from tests/reference/generate/, prompts given
  as text and tokenized by the daemon;
- on the demo model: the same seed gives the same sampled texts; logprobs come one per token;
  a stop string cuts the text before it; prompts from an uploaded prompt_file;
- bad inputs answer 400 naming the field; a cache that cannot fit fails the job at once with
  the bytes it needs (test builds read a pretend available memory from
  HS_TEST_AVAILABLE_MEMORY); the daemon keeps serving.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import REPO_ROOT

FIXTURE = os.path.join(REPO_ROOT, "tests", "reference", "generate", "tiny-h6-f32.json")


def _result(d, spec, timeout=120):
    job = d.submit(spec)
    done = d.wait_job(job["id"], timeout=timeout)
    assert done["state"] == "succeeded", done
    run = d.get("/api/v1/runs/%d" % job["id"]).json()
    res = run["result"]
    return json.loads(res) if isinstance(res, str) else res


def test_greedy_matches_transformers(tiny_daemon):
    with open(FIXTURE) as f:
        fx = json.load(f)
    prompts = fx["prompts"][:8]
    res = _result(tiny_daemon, {"kind": "generate", "model": "tiny-h6-f32",
                               "prompts": [p["text"] for p in prompts],
                               "max_new_tokens": fx["max_new_tokens"]})
    assert len(res["completions"]) == len(prompts)
    for want, got in zip(prompts, res["completions"]):
        assert got["prompt_tokens"] == len(want["ids"])
        assert got["token_ids"] == want["generated"]
        assert got["finish_reason"] == want["finish"]
        assert isinstance(got["text"], str) and "logprobs" not in got
    assert res["new_tokens"] == sum(len(p["generated"]) for p in prompts)


def test_sampling_is_seeded_and_logprobs(tiny_daemon):
    spec = {"kind": "generate", "model": "demo", "prompts": ["The children walked", "A small"],
            "max_new_tokens": 20, "do_sample": True, "temperature": 0.9, "top_p": 0.9,
            "top_k": 0, "seed": 11, "logprobs": True}
    a = _result(tiny_daemon, spec)
    b = _result(tiny_daemon, spec)
    assert [c["token_ids"] for c in a["completions"]] == [c["token_ids"] for c in b["completions"]]
    assert [c["text"] for c in a["completions"]] == [c["text"] for c in b["completions"]]
    for c in a["completions"]:
        assert len(c["logprobs"]) == len(c["token_ids"])
        assert all(lp <= 0 for lp in c["logprobs"])


def test_stop_string_and_prompt_file(tiny_daemon):
    d = tiny_daemon
    base = _result(d, {"kind": "generate", "model": "tiny-h6-f32",
                       "prompts": ["The children walked to school"], "max_new_tokens": 40})
    text = base["completions"][0]["text"]
    assert len(text) > 20
    stop = text[len(text) // 2: len(text) // 2 + 4]
    cut = _result(d, {"kind": "generate", "model": "tiny-h6-f32",
                      "prompts": ["The children walked to school"], "max_new_tokens": 40,
                      "stop": [stop, "never appears \u2603"]})
    c = cut["completions"][0]
    assert c["finish_reason"] == "stop"
    assert c["text"] == text[: text.index(stop)]
    r = d.post("/api/v1/corpora?name=prompts", data="first prompt\n\nsecond prompt\nthird\n")
    assert r.status_code in (200, 201), r.text
    res = _result(d, {"kind": "generate", "model": "demo", "prompt_file": "upload:prompts",
                      "max_new_tokens": 3})
    assert [c["index"] for c in res["completions"]] == [0, 1, 2]
    assert all(len(c["token_ids"]) <= 3 for c in res["completions"])


@pytest.mark.parametrize("patch,field", [
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": 4097}, "max_new_tokens"),
    ({"prompts": ["x"] * 257}, "prompts"),
    ({"prompts": []}, "prompts"),
    ({"prompts": [3]}, "prompts"),
    ({"prompts": ["a", ""]}, "prompts"),
    ({"temperature": 0}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"repetition_penalty": 0}, "repetition_penalty"),
    ({"stop": [""]}, "stop"),
    ({"prompt_file": "upload:nothing"}, "prompt_file"),
    ({"model": "no-such-model"}, "model"),
    ({"do_sample": "yes"}, "do_sample"),
    ({"beams": 4}, "beams"),
])
def test_bad_specs_name_the_field(tiny_daemon, patch, field):
    spec = {"kind": "generate", "model": "demo", "prompts": ["hello"]}
    spec.update(patch)
    r = tiny_daemon.post("/api/v1/jobs", json=spec)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.text
    assert tiny_daemon.get("/api/v1/healthz").status_code == 200


def test_kinds_lists_generate(tiny_daemon):
    kinds = tiny_daemon.get("/api/v1/kinds").json()
    kinds = kinds.get("kinds", kinds) if isinstance(kinds, dict) else kinds
    gen = [k for k in kinds if k["name"] == "generate"]
    assert gen, kinds


def test_cache_that_cannot_fit_fails_at_once(tiny_daemon, surgeond_bin, tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"kind": "generate", "model": "demo", "prompts": ["a", "b"],
                                "max_new_tokens": 4096}))
    env = dict(os.environ, HS_TEST_AVAILABLE_MEMORY="6000000")
    r = subprocess.run([surgeond_bin, "run", "--data-dir", str(tmp_path / "dd"), "--model-root",
                        tiny_daemon.model_root, str(spec)], capture_output=True, text=True,
                       env=env, timeout=120, cwd=REPO_ROOT)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "KV cache" in r.stderr and "bytes" in r.stderr and "6000000" in r.stderr, r.stderr


def _needed_bytes(stderr):
    """The byte count of a refusal's 'the job needs <size> (<n> bytes: ...'."""
    m = re.search(r"the job needs [^(]*\((\d+) bytes", stderr)
    assert m, stderr
    return int(m.group(1))


def test_surgery_estimate_counts_the_samples_kv_cache(tiny_daemon, surgeond_bin, tmp_path):
    """A surgery's memory estimate adds the KV cache of its sample completions, which are
    generated while the training buffers are held: on a machine too small for either, the
    refusal with samples needs exactly the cache's bytes more (prompts bounded by their bytes,
    2 sequences × (11 + 512) positions, 11 rows) and names the cache."""
    d = tiny_daemon
    with open(os.path.join(d.corpus_root, "train.txt"), "w") as f:
        f.write("some text for training the heads " * 20)
    base = {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": ["a b c"],
            "targets": {"1": [6]}}
    needs = []
    for extra in ({}, {"samples": {"prompts": ["hello there", "a"], "max_new_tokens": 512}}):
        spec = tmp_path / "job.json"
        spec.write_text(json.dumps(dict(base, **extra)))
        env = dict(os.environ, HS_TEST_AVAILABLE_MEMORY="1000")
        r = subprocess.run([surgeond_bin, "run", "--data-dir", str(tmp_path / "dd"),
                            "--model-root", d.model_root, "--corpus-root", d.corpus_root,
                            str(spec)], capture_output=True, text=True, env=env, timeout=120,
                           cwd=REPO_ROOT)
        assert r.returncode == 1, r.stdout + r.stderr
        needs.append(_needed_bytes(r.stderr))
        assert ("KV cache" in r.stderr) == bool(extra), r.stderr
    with open(os.path.join(d.model_root, "demo", "config.json")) as f:
        cfg = json.load(f)
    L, H, C, V = cfg["n_layer"], cfg["n_head"], cfg["hidden_size"], cfg["vocab_size"]
    B, T, rows = 2, len("hello there") + 512, len("hello there")
    kv = 2 * L * B * T * C * 4 + rows * ((7 * C + 4 * C) * 4 + 4) + B * (2 * C + V) * 4
    assert needs[1] - needs[0] == kv


def test_surgery_samples_follow_the_weights(tiny_daemon):
    """samples of the untouched model equal a generate job on it; a checkpoint's samples equal
    a generate job on that checkpoint loaded as a model; both are written beside them."""
    d = tiny_daemon
    corpus = " ".join("The children walked to school along the river number %d." % i
                      for i in range(80))
    with open(os.path.join(d.corpus_root, "train.txt"), "w") as f:
        f.write(corpus)
    samples = {"prompts": ["The children walked", "A small village"], "max_new_tokens": 8,
               "temperature": 0.8, "top_p": 0.9, "seed": 4}
    job = d.submit({"kind": "surgery", "model": "demo", "corpus": "train.txt",
                    "eval_texts": ["The children walked to school along the river."],
                    "targets": {"1": [6], "3": [4]}, "lr": 3e-3, "max_length": 32,
                    "batch_size": 2, "grad_accum": 1, "epochs": 1, "checkpoint_every": 1,
                    "samples": samples})
    done = d.wait_job(job["id"], timeout=300)
    assert done["state"] == "succeeded", done
    res = _result_of(d, job["id"])
    names = [c["name"] for c in res["checkpoints"]]
    assert set(res["samples"]) == {"start", *names}
    gen = {"kind": "generate", "prompts": samples["prompts"], "max_new_tokens": 8,
           "do_sample": True, "temperature": 0.8, "top_p": 0.9, "top_k": 0, "seed": 4}
    start = _result(d, dict(gen, model="demo"))
    assert [c["text"] for c in start["completions"]] == res["samples"]["start"]
    ckpt = _result(d, dict(gen, model="run:%d/%s" % (job["id"], names[-1])))
    assert [c["text"] for c in ckpt["completions"]] == res["samples"][names[-1]]
    with d.db() as db:  # run directories carry the database's instance id
        instance = db.execute("SELECT value FROM daemon_state WHERE key='instance'").fetchone()[0]
    run_dir = os.path.join(d.data_dir, "runs", "%d-%s" % (job["id"], instance))
    with open(os.path.join(run_dir, "samples-start.json")) as f:
        assert [s["text"] for s in json.load(f)["samples"]] == res["samples"]["start"]
    with open(os.path.join(run_dir, "checkpoints", names[-1], "samples.json")) as f:
        stored = json.load(f)
    assert stored["checkpoint"] == names[-1]
    assert [s["token_ids"] for s in stored["samples"]] == \
        [c["token_ids"] for c in ckpt["completions"]]


@pytest.mark.parametrize("samples,field", [
    ({"prompts": []}, "samples.prompts"),
    ({"prompts": ["a"], "max_new_tokens": 0}, "samples.max_new_tokens"),
    ({"prompts": ["a"], "top_p": 0}, "samples.top_p"),
    ({"prompts": ["a"], "colour": 1}, "samples"),
])
def test_surgery_samples_bad_specs(tiny_daemon, samples, field):
    d = tiny_daemon
    with open(os.path.join(d.corpus_root, "train.txt"), "w") as f:
        f.write("some text " * 50)
    r = d.post("/api/v1/jobs", json={"kind": "surgery", "model": "demo", "corpus": "train.txt",
                                     "eval_texts": ["x y z"], "targets": {"1": [6]},
                                     "samples": samples})
    assert r.status_code == 400 and r.json()["field"] == field, r.text


def _result_of(d, job_id):
    res = d.get("/api/v1/runs/%d" % job_id).json()["result"]
    return json.loads(res) if isinstance(res, str) else res
