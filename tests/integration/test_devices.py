"""--device handling as a lab machine sees it: a device that cannot be used (here: cuda on a
machine without a GPU, or a GPU index that does not exist) gets no worker, is listed as
unavailable with the reason in GET /api/v1/queue, and the daemon keeps serving — on a cpu
worker when none of the requested devices works."""


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
