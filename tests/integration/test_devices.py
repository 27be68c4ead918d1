"""--device handling as a lab machine sees it: a device that cannot be used (here: cuda on a
machine without a GPU, or a GPU index that does not exist) gets no worker, is listed as
unavailable with the reason in GET /api/v1/queue, and the daemon keeps serving — on a cpu
worker when none of the requested devices works. A spec that is malformed or whose index is
out of range is a configuration mistake instead: refused before anything starts."""
import os


def _cuda_usable(d):
    v = d.get("/api/v1/version").json()
    return "cuda" in str(v) and any(w["available"] and w["device"] == "cuda:0"
                                    for w in d.get("/api/v1/queue").json()["workers"])


def test_unusable_cuda_device_falls_back_to_cpu(daemon):
    d = daemon(devices=["cuda:999"])
    workers = d.get("/api/v1/queue").json()["workers"]
    by_device = {w["device"]: w for w in workers}
    assert by_device["cuda:999"]["available"] is False
    assert "cuda:999" in by_device["cuda:999"]["description"]
    assert by_device["cpu"]["available"] is True
    job = d.submit({"kind": "test-steps", "steps": 3, "step_ms": 1})
    done = d.wait_job(job["id"])
    assert done["state"] == "succeeded", done
    assert "device not started" in d.log_text()


def test_unusable_device_beside_cpu_is_listed_and_skipped(daemon):
    d = daemon(devices=["cpu", "cuda:999"])
    workers = d.get("/api/v1/queue").json()["workers"]
    assert [(w["device"], w["available"]) for w in workers] == [("cpu", True), ("cuda:999", False)]
    job = d.submit({"kind": "test-steps", "steps": 2, "step_ms": 1})
    assert d.wait_job(job["id"])["state"] == "succeeded"


def test_cuda_zero_without_gpu_keeps_serving(daemon):
    d = daemon(devices=["cuda:0"])
    if _cuda_usable(d):
        return  # a GPU machine: cuda:0 is a real worker, nothing to fall back from
    workers = {w["device"]: w for w in d.get("/api/v1/queue").json()["workers"]}
    assert workers["cuda:0"]["available"] is False
    assert workers["cuda:0"]["description"].startswith("unavailable:")
    assert workers["cpu"]["available"] is True


def test_malformed_or_out_of_range_device_refused_at_start(daemon, tmp_path):
    """One parser for --device: serve and run both refuse a spec that is not "cpu" or
    "cuda:N", or whose index is out of range, before anything starts (exit 2, the spec and
    the reason in the message); an index in range that names no GPU still only falls back."""
    d = daemon(start=False)
    job = tmp_path / "job.json"
    job.write_text('{"kind": "test-steps", "steps": 1, "step_ms": 1}')
    cases = [("cuda:5000", "out of range"), ("cuda:01", "cuda:N"), ("cuda:-1", "cuda:N"),
             ("gpu", "cuda:N")]
    for spec, reason in cases:
        p = d.run_cli("serve", "--listen", "127.0.0.1:1", "--data-dir", str(tmp_path / "var"),
                      "--device", "cpu", "--device", spec, timeout=30)
        assert p.returncode == 2, (spec, p.returncode, p.stderr)
        assert spec in p.stderr and reason in p.stderr, (spec, p.stderr)
        p = d.run_cli("run", "--data-dir", str(tmp_path / "var"), "--device", spec, str(job))
        assert p.returncode == 2, (spec, p.returncode, p.stderr)
        assert spec in p.stderr and reason in p.stderr, (spec, p.stderr)
    assert not os.path.exists(tmp_path / "var" / "surgeon.db")
