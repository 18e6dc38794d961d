"""Request bodies bounded in size and time, over real sockets: uvicorn runs the app in a thread (with each of its
HTTP implementations) and raw sockets send what a test client cannot, a Content-Length that lies or a trickle.
The body deadline is 1 s here; "did not hang" means an answer within 10 s."""

import contextlib
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
import uvicorn

from api.main import create_app
from store.db import session_scope
from store.keys import create_key, create_user
from store.models import Role
from store.settings import Settings

MAX_JSON = 64 << 10
ANSWER_S = 10  # generous: only proves the server did not wait for the body


@pytest.fixture(params=["h11", "httptools"])
def server(request, tmp_path, monkeypatch):
    """(port, API key) of the app under uvicorn, STH_MAX_JSON_BYTES = 64 KiB and STH_BODY_TIMEOUT_S = 1."""
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sth.db'}", broker_url=f"filesystem://{tmp_path / 'q'}",
                        max_json_bytes=MAX_JSON, body_timeout_s=1.0)  # fmt: skip
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, http=request.param, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    with session_scope(settings.database_url) as session:
        key = create_key(session, create_user(session, "alice", Role.member))
    yield served.servers[0].sockets[0].getsockname()[1], key
    served.should_exit = True
    thread.join(30)


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path, key, **headers):
    lines = [f"POST {path} HTTP/1.1", "Host: test", f"Authorization: Bearer {key}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock):
    """(status, JSON body) of the one response on `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(rest) < int(fields["content-length"]):
        rest += _recv(sock)
    return int(lines[0].split()[1]), json.loads(rest)


def closed(sock):
    """Whether the server closes the connection (within ANSWER_S) after its answer."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _recv(sock):
    piece = sock.recv(65536)
    assert piece, "the server closed the connection without an answer"
    return piece


def send_until_answered(sock, pieces, pause_s=0.0):
    """Send `pieces` one by one (pausing between them) until the server answers or stops listening."""
    for piece in pieces:
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return
        sock.settimeout(pause_s or 0.001)
        try:
            if sock.recv(1, socket.MSG_PEEK):
                break
        except (TimeoutError, BlockingIOError):
            pass
        finally:
            sock.settimeout(ANSWER_S)


def test_a_content_length_of_a_petabyte_with_ten_bytes_is_answered_413_at_once(server):
    port, key = server
    start = time.monotonic()
    with connect(port) as sock:
        sock.sendall(
            head("/v1/train-jobs", key, Content_Type="application/json", Content_Length=10**15) + b'{"preset":'
        )
        status, body = answer(sock)
        shut = closed(sock)
    assert status == 413 and body["error"]["code"] == "too_large", body
    assert "STH_MAX_JSON_BYTES" in body["error"]["message"] and shut
    assert time.monotonic() - start < ANSWER_S


def test_a_chunked_body_is_cut_off_413_once_it_passes_the_limit(server):
    port, key = server
    piece = b'{"spec": {"x": "' + b"a" * (16 << 10)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    with connect(port) as sock:
        sock.sendall(head("/v1/train-jobs", key, Content_Type="application/json", Transfer_Encoding="chunked"))
        send_until_answered(sock, [chunk] * 64)  # 1 MiB offered against 64 KiB
        status, body = answer(sock)
        shut = closed(sock)
    assert status == 413 and "STH_MAX_JSON_BYTES" in body["error"]["message"] and shut, body


@pytest.mark.parametrize("pause_s", [0.3, None], ids=["trickled", "stalled"])
def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_closed(server, pause_s):
    """A trickle (a byte every 0.3 s of a 1000-byte body) or a stall after 10 bytes, against a 1 s deadline."""
    port, key = server
    start = time.monotonic()
    with connect(port) as sock:
        sock.sendall(head("/v1/train-jobs", key, Content_Type="application/json", Content_Length=1000) + b" " * 10)
        if pause_s:
            send_until_answered(sock, [b" "] * 100, pause_s)
        status, body = answer(sock)
        shut = closed(sock)
    assert status == 408 and body["error"]["code"] == "timeout" and shut, body
    assert "STH_BODY_TIMEOUT_S" in body["error"]["message"]
    assert time.monotonic() - start < ANSWER_S


def test_uploads_keep_their_own_size_limit_but_may_not_stall(server):
    port, key = server
    images = np.random.default_rng(0).integers(0, 256, (400, 28, 28), dtype=np.uint8)  # 313 KB, past 64 KiB
    npz = io.BytesIO()
    np.savez(npz, images=images, labels=np.zeros(400, np.int64))
    form = (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n--b\r\nContent-Disposition: form-data; '
            b'name="file"; filename="big.npz"\r\n\r\n' + npz.getvalue() + b"\r\n--b--\r\n")  # fmt: skip
    kind = "multipart/form-data; boundary=b"
    with connect(port) as sock:
        sock.sendall(head("/v1/datasets", key, Content_Type=kind, Content_Length=len(form)) + form)
        status, body = answer(sock)
    assert status == 201, body
    with connect(port) as sock:
        sock.sendall(head("/v1/datasets", key, Content_Type=kind, Content_Length=len(form)) + form[:1000])
        status, body = answer(sock)
        shut = closed(sock)
    assert status == 408 and "paused" in body["error"]["message"] and shut, body


def test_small_bodies_and_long_responses_pass(server):
    """A JSON body under the limit is served; the deadline covers the body only, not a response that lasts."""
    port, key = server
    job = json.dumps({"preset": "smoke", "spec": {"epochs": 1}}).encode()
    with connect(port) as sock:
        sock.sendall(head("/v1/train-jobs", key, Content_Type="application/json", Content_Length=len(job)) + job)
        status, body = answer(sock)
    assert status == 201, body
    with connect(port) as sock:
        sock.sendall(
            f"GET /v1/jobs/{body['id']}/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        sock.settimeout(0.5)
        received, open_until = b"", time.monotonic() + 2.5  # the stream outlives the 1 s body deadline
        while time.monotonic() < open_until:
            with contextlib.suppress(TimeoutError):
                piece = sock.recv(65536)
                assert piece, "the server closed the event stream"
                received += piece
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
