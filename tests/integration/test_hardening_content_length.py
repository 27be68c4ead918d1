"""Content-Length is judged from the header: over --max-body is 413 before any body is sent,
and repeated, conflicting or malformed Content-Length headers (or one together with
Transfer-Encoding) are 400."""
import json
import socket

import pytest


def exchange(d, head, body=b""):
    """Sends the request head (and body), returns (status, json body); the daemon must answer
    without waiting for a body it did not get."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=30) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        header, rest = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in header.split(b"\r\n")[1:]:
            k, v = line.split(b":", 1)
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = s.recv(65536)
            assert chunk
            rest += chunk
        status = int(header.split(b" ")[1])
        try:
            return status, json.loads(rest[:length])
        except ValueError:  # libmicrohttpd refuses some malformed heads itself, in HTML
            return status, rest[:length]


def head(d, lines, path=b"/api/v1/corpora?name=c"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % d.port
            + b"".join(line + b"\r\n" for line in lines) + b"\r\n")


def test_oversized_content_length_is_answered_before_the_body(daemon):
    d = daemon(args=["--max-body", "4096"])
    # the body is never sent: the answer must come from the header alone
    status, body = exchange(d, head(d, [b"Content-Length: 4097"]))
    assert status == 413 and "4096" in body["detail"], body
    status, body = exchange(d, head(d, [b"Content-Length: 99999999999999"]))
    assert status == 413, body
    status, body = exchange(d, head(d, [b"Content-Length: 5", b"Content-Type: application/json"],
                                    b"/api/v1/jobs"), b"{\"a\":")
    assert status == 400, body  # within the limit: read and parsed
    assert d.get("/api/v1/healthz").status_code == 200


def test_oversized_with_token_needs_no_body_either(daemon):
    d = daemon(token="t", args=["--max-body", "1k"])
    status, _ = exchange(d, head(d, [b"Content-Length: 2000", b"Authorization: Bearer t"]))
    assert status == 413
    status, _ = exchange(d, head(d, [b"Content-Length: 2000"]))
    assert status in (401, 413)


@pytest.mark.parametrize("lines", [
    [b"Content-Length: 3", b"Content-Length: 3"],
    [b"Content-Length: 3", b"Content-Length: 4"],
    [b"Content-Length: 3", b"content-length: 3"],
    [b"Content-Length: 3", b"Transfer-Encoding: chunked"],
])
def test_repeated_or_conflicting_content_length_is_400(daemon, lines):
    d = daemon()
    status, body = exchange(d, head(d, lines), b"abc")
    assert status == 400, body
    assert set(body) == {"error", "detail", "field"}
    assert d.get("/api/v1/corpora").json().get("corpora") in ([], None)


@pytest.mark.parametrize("value", [b"-1", b"3x", b"0x10", b"+3"])
def test_malformed_content_length_is_400(daemon, value):
    d = daemon()
    status, body = exchange(d, head(d, [b"Content-Length: " + value]), b"abc")
    assert status == 400, body  # libmicrohttpd or the guard, whichever sees it first
    assert d.get("/api/v1/corpora").json().get("corpora") in ([], None)
