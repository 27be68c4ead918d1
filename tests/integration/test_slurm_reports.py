"""The internal report routes of Slurm jobs (/api/v1/jobs/{id}/report/...), driven by hand with
the tokens the slurm executor wrote for two attempts kept PENDING in a DOWN partition:
a wrong token is 401, another job's token 403, a replayed batch is applied once, a batch out of
order is 409, a malformed item 400; the daemon's own --token-file does not apply to them.
"""
import os

import pytest

TEXTS = ["The children walked to school along the river and stopped to watch the boats."]


@pytest.fixture
def pending_pair(daemon, slurm_cluster):
    d = daemon(token="admin-secret", args=["--executor", "slurm"])
    jobs = [d.submit({"kind": "test-steps", "steps": 1, "slurm": {"partition": "held"}})
            for _ in range(2)]
    for j in jobs:
        d.wait_until(lambda: d.job(j["id"]).get("slurm", {}).get("state") == "PENDING",
                     timeout=60)
    tokens = []
    for j in jobs:
        with open(os.path.join(d.data_dir, "cluster", "job-%d-a1.token" % j["id"])) as f:
            tokens.append(f.read().strip())
    yield d, [j["id"] for j in jobs], tokens
    for j in jobs:
        d.post(f"/api/v1/jobs/{j['id']}/cancel")


def _report(d, job_id, token, body):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return d.post(f"/api/v1/jobs/{job_id}/report/batch", json=body, auth=False, headers=headers)


def _batch(seq, *items):
    return {"attempt": 1, "seq": seq, "items": list(items)}


CURVE = {"type": "curve", "step": 1, "epoch": 0.5, "name": "loss", "value": 2.5}
LOG = {"type": "log", "line": "hello from the node"}


def test_tokens_are_per_job(pending_pair):
    d, (a, b), (ta, tb) = pending_pair
    assert _report(d, a, None, _batch(1, LOG)).status_code == 401
    assert _report(d, a, "0" * 64, _batch(1, LOG)).status_code == 401
    assert _report(d, a, "admin-secret", _batch(1, LOG)).status_code == 401
    r = _report(d, a, tb, _batch(1, LOG))
    assert r.status_code == 403, r.text
    r = _report(d, b, ta, _batch(1, LOG))
    assert r.status_code == 403, r.text
    # nothing of those reached the store or the log
    assert d.db().execute("SELECT last_seq FROM cluster_jobs WHERE job_id=?", (a,)).fetchone()[0] == 0


def test_replayed_batch_is_applied_once(pending_pair):
    d, (a, _), (ta, _) = pending_pair
    first = _report(d, a, ta, _batch(1, LOG, CURVE))
    assert first.status_code == 200, first.text
    assert first.json() == {"seq": 1, "applied": True, "stop": False}
    again = _report(d, a, ta, _batch(1, LOG, CURVE))
    assert again.status_code == 200 and again.json()["applied"] is False
    points = d.get(f"/api/v1/runs/{a}/curves", params={"name": "loss"}).json()["points"]
    assert len(points) == 1
    text = d.get(f"/api/v1/jobs/{a}/log").json()["text"]
    assert text.count("hello from the node") == 1
    # a report means the attempt runs: the job is running
    assert d.job(a)["state"] == "running"
    gap = _report(d, a, ta, _batch(3, LOG))
    assert gap.status_code == 409, gap.text
    assert _report(d, a, ta, _batch(2)).json()["applied"] is True


@pytest.mark.parametrize("body", [
    {"seq": 0, "items": []},
    {"seq": 1},
    {"seq": 1, "items": [{"type": "nope"}]},
    {"seq": 1, "items": [{"type": "curve", "step": 1, "name": "loss"}]},
    {"seq": 1, "items": [{"type": "checkpoint", "name": "x", "path": "/etc", "epoch": 1, "step": 1}]},
    {"seq": 1, "items": [{"type": "heads", "checkpoint": "", "rows": [{"layer": 1}]}]},
])
def test_malformed_batches_are_400(pending_pair, body):
    d, (a, _), (ta, _) = pending_pair
    r = _report(d, a, ta, body)
    assert r.status_code == 400, r.text
    assert d.db().execute("SELECT last_seq FROM cluster_jobs WHERE job_id=?", (a,)).fetchone()[0] == 0


def test_cancel_tells_the_runner_to_stop_and_ends_the_token(pending_pair, slurm_cluster):
    d, (a, _), (ta, _) = pending_pair
    assert _report(d, a, ta, _batch(1, LOG)).json()["stop"] is False
    assert d.post(f"/api/v1/jobs/{a}/cancel").status_code == 202
    r = _report(d, a, ta, _batch(2))
    assert r.json()["stop"] is True, r.text
    d.wait_job(a, timeout=60)
    d.wait_until(lambda: d.job(a)["slurm"]["active"] is False, timeout=60)
    assert _report(d, a, ta, _batch(3)).status_code == 401
