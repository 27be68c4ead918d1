"""A daemon listening on a non-loopback address without --token-file refuses to start unless
--insecure-no-auth is given."""
import socket
import subprocess


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_non_loopback_without_token_refuses_to_start(daemon):
    d = daemon(start=False)
    cmd = [a for a in d.command()]
    cmd[cmd.index("--listen") + 1] = "0.0.0.0:%d" % d.port
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--insecure-no-auth" in p.stderr and "--token-file" in p.stderr, p.stderr


def test_non_loopback_with_insecure_flag_starts(daemon):
    d = daemon(start=False, args=["--listen", "0.0.0.0:%d" % _free_port(), "--insecure-no-auth"])
    d.port = int(d.extra_args[1].rsplit(":", 1)[1])
    d.url = "http://127.0.0.1:%d" % d.port
    d.start()
    # not bound to loopback: no Host restriction, auth off as asked
    assert d.get("/api/v1/healthz", headers={"Host": "surgeon.lab:%d" % d.port}).status_code == 200
    assert d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1}).status_code == 201


def test_non_loopback_with_token_starts_and_needs_it(daemon):
    d = daemon(start=False, token="s3cret", args=["--listen", "0.0.0.0:%d" % _free_port()])
    d.port = int(d.extra_args[1].rsplit(":", 1)[1])
    d.url = "http://127.0.0.1:%d" % d.port
    d.start()
    assert d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1},
                  auth=False).status_code == 401
    assert d.post("/api/v1/jobs", json={"kind": "test-steps", "steps": 1}).status_code == 201


def test_loopback_without_token_still_starts(daemon):
    d = daemon()
    assert d.get("/api/v1/healthz").status_code == 200
