"""The node's protocol (api.fastpath) on a real uvicorn: bodies read from the socket and sent with
sendfile behave exactly like the ASGI path, at the edges of HTTP/1.1 a client may reach."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from tests.api.conftest import Api
from tests.harness import free_port, missing, wait_for
from winslow.api.server import fastpath

URL = "/api/v1/files/resources/clip.bin"


def connect(served: str) -> http.client.HTTPConnection:
    parts = urlsplit(served)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def raw_request(served: str, head: str, body: bytes) -> socket.socket:
    parts = urlsplit(served)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(head.encode() + body)
    return sock


def put_head(token: str, length: int, *extra: str) -> str:
    lines = [f"PUT {URL} HTTP/1.1", "Host: test", f"Authorization: Bearer {token}"]
    lines.append(f"Content-Length: {length}")
    return "\r\n".join([*lines, *extra, ""]) + "\r\n"


def test_a_large_upload_read_from_the_socket_lands_verified_and_closes_the_connection(
    seeded: Api, served: str
) -> None:
    data = os.urandom(9 << 20)
    conn = connect(served)
    conn.request(
        "PUT",
        URL,
        body=data,
        headers={**seeded.headers("carol"), "X-Sha256": hashlib.sha256(data).hexdigest()},
    )
    reply = conn.getresponse()
    assert reply.status == 201, reply.read()
    assert reply.getheader("connection") == "close"  # the parser never saw the body it would expect
    assert (seeded.layout.resources / "clip.bin").read_bytes() == data


def test_a_body_that_came_with_its_headers_keeps_the_connection(seeded: Api, served: str) -> None:
    """Each request in one write, so that its body reaches the parser with its headers however
    busy the machine is (http.client writes the two apart)."""
    sock = raw_request(served, "", b"")
    for content in (b"first", b"second"):
        sock.sendall(put_head(seeded.tokens["carol"], len(content)).encode() + content)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        reply.read()
        assert reply.status == 201
        assert (seeded.layout.resources / "clip.bin").read_bytes() == content
        assert reply.getheader("connection") != "close"
    sock.close()


def test_expect_100_continue_is_answered_before_the_body_is_read(seeded: Api, served: str) -> None:
    data = os.urandom(3 << 20)
    sock = raw_request(served, put_head(seeded.tokens["carol"], len(data), "Expect: 100-continue"), b"")
    assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(data)
    assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 201")
    sock.close()
    assert (seeded.layout.resources / "clip.bin").read_bytes() == data


def test_a_client_that_leaves_mid_body_leaves_what_it_sent_for_a_resume(seeded: Api, served: str) -> None:
    sent = os.urandom(5 << 20)
    sock = raw_request(served, put_head(seeded.tokens["carol"], 20 << 20), sent)
    sock.close()
    http = httpx.Client(base_url=served, headers=seeded.headers("carol"))

    def offset() -> int:
        return int(http.head(URL, params={"upload": "true"}).headers["Upload-Offset"])

    wait_for(lambda: offset() == len(sent), 10, "the server to store what arrived")
    assert (seeded.layout.resources / ".clip.bin.upload").read_bytes() == sent
    assert not (seeded.layout.resources / "clip.bin").exists()
    rest = os.urandom(1 << 20)
    headers = {"Content-Range": f"bytes {len(sent)}-{len(sent) + len(rest) - 1}/{len(sent) + len(rest)}"}
    assert http.put(URL, content=rest, headers=headers).status_code == 201
    assert (seeded.layout.resources / "clip.bin").read_bytes() == sent + rest


def test_a_chunked_body_without_a_length_takes_the_asgi_path(seeded: Api, served: str) -> None:
    pieces = [os.urandom(1 << 20) for _ in range(3)]
    with httpx.Client(base_url=served, headers=seeded.headers("carol")) as http:
        reply = http.put(URL, content=iter(pieces))
    assert reply.status_code == 201
    assert (seeded.layout.resources / "clip.bin").read_bytes() == b"".join(pieces)


def test_a_wrong_checksum_on_the_socket_path_replaces_nothing(seeded: Api, served: str) -> None:
    (seeded.layout.resources / "clip.bin").write_bytes(b"old")
    conn = connect(served)
    body = os.urandom(4 << 20)
    conn.request("PUT", URL, body=body, headers={**seeded.headers("carol"), "X-Sha256": "0" * 64})
    reply = conn.getresponse()
    assert reply.status == 422
    assert (seeded.layout.resources / "clip.bin").read_bytes() == b"old"


@pytest.mark.parametrize(("start", "stop"), [(0, None), (0, 0), (5, 1 << 20), ((3 << 20) - 1, None)])
def test_sendfile_downloads_exactly_the_bytes_asked_for_and_keeps_the_connection(
    seeded: Api, served: str, start: int, stop: int | None
) -> None:
    data = os.urandom(3 << 20)
    (seeded.layout.resources / "clip.bin").write_bytes(data)
    conn = connect(served)
    for _ in range(2):  # the second request proves the connection is still in a clean state
        spec = f"bytes={start}-{'' if stop is None else stop}"
        conn.request("GET", URL, headers={**seeded.headers("carol"), "Range": spec})
        reply = conn.getresponse()
        assert reply.status == 206
        assert reply.read() == data[start : None if stop is None else stop + 1]
    conn.request("GET", URL, headers=seeded.headers("carol"))
    assert conn.getresponse().read() == data


def test_an_empty_file_downloads_as_nothing_even_if_it_grows_meanwhile(
    seeded: Api, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = seeded.layout.resources / "empty.bin"
    path.write_bytes(b"")
    real = fastpath.FastPath.sendfile

    async def grown(self: fastpath.FastPath, fd: int, offset: int, count: int) -> int:
        if not path.stat().st_size:
            path.write_bytes(b"a stage wrote this after the node looked")
        return await real(self, fd, offset, count)

    monkeypatch.setattr(fastpath.FastPath, "sendfile", grown)
    conn = connect(served)
    for expected in (b"", b"a stage wrote this after the node looked"):  # the same connection, in step
        conn.request("GET", "/api/v1/files/resources/empty.bin", headers=seeded.headers("carol"))
        reply = conn.getresponse()
        assert (reply.status, reply.read()) == (200, expected)


def test_scopes_without_the_extension_have_no_fast_path() -> None:
    assert fastpath.of({"type": "http"}) is None
    assert fastpath.of({"type": "http", "extensions": {"http.response.trailers": {}}}) is None


def test_a_body_with_both_a_length_and_chunks_is_refused_by_the_parser(seeded: Api, served: str) -> None:
    head = put_head(seeded.tokens["carol"], 5, "Transfer-Encoding: chunked")
    sock = raw_request(served, head, b"5\r\nhello\r\n0\r\n\r\n")
    assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 400")
    sock.close()
    assert not (seeded.layout.resources / "clip.bin").exists()
    assert not (seeded.layout.resources / ".clip.bin.upload").exists()


def body_over_socketpair(sent: bytes, length: int) -> tuple[fastpath.RawBody, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)  # as asyncio leaves it
    theirs.sendall(sent)
    return fastpath.RawBody(b"", ours, length), theirs


def test_a_raw_body_never_reads_past_its_length() -> None:
    body, peer = body_over_socketpair(b"abcdefGET / HTTP/1.1\r\n", 6)
    buffer = memoryview(bytearray(64))
    assert body.recv_into(buffer) == 6
    assert bytes(buffer[:6]) == b"abcdef"
    assert body.recv_into(buffer) == 0
    body.close()
    peer.close()


def test_a_raw_body_ends_when_its_request_is_abandoned_or_the_client_goes_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastpath, "POLL", 0.01)
    body, peer = body_over_socketpair(b"", 10)
    body.abandoned.set()
    assert body.recv_into(memoryview(bytearray(8))) == 0
    body.close()
    monkeypatch.setattr(fastpath, "IDLE_TIMEOUT", 0.05)
    body, peer2 = body_over_socketpair(b"", 10)
    assert body.recv_into(memoryview(bytearray(8))) == 0
    body.close()
    peer.close()
    peer2.close()


@pytest.fixture
def stopping_server(api: Api) -> Iterator[tuple[uvicorn.Server, threading.Thread, str]]:
    """The node's protocol with the node's short graceful shutdown, to be stopped by the test."""
    config = uvicorn.Config(
        api.app,
        host="127.0.0.1",
        port=free_port(),
        log_level="critical",  # uvicorn reports the request it cut, with a traceback
        http=fastpath.Protocol,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield server, thread, f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    thread.join(10)


def test_a_stalled_upload_cut_by_shutdown_keeps_its_bytes_and_writes_nowhere_else(
    api: Api, stopping_server: tuple[uvicorn.Server, threading.Thread, str], tmp_path: Path
) -> None:
    server, thread, url = stopping_server
    sock = raw_request(url, put_head(api.tokens["carol"], 100 << 20), b"U" * (1 << 20))
    wait_for((api.layout.resources / ".clip.bin.upload").exists, 10, "the upload to begin")
    time.sleep(0.3)  # the first MiB arrives in the node's buffer, which is larger
    bystander, quit = tmp_path / "events.log", threading.Event()

    def open_files() -> None:  # any other thread of a node that opens files: the daemon, the event log
        while not quit.is_set():
            fds = [os.open(bystander, os.O_WRONLY | os.O_CREAT | os.O_APPEND) for _ in range(16)]
            time.sleep(0.02)
            for fd in fds:
                os.close(fd)

    opener = threading.Thread(target=open_files, daemon=True)
    opener.start()
    server.should_exit = True
    thread.join(20)
    time.sleep(2 * fastpath.POLL)  # the upload's thread notices within one poll
    quit.set()
    opener.join(5)
    sock.close()
    assert b"U" not in bystander.read_bytes()
    assert (api.layout.resources / ".clip.bin.upload").read_bytes() == b"U" * (1 << 20)


def test_quiet_clients_do_not_hold_up_other_uploads(seeded: Api, served: str) -> None:
    quiet = [
        raw_request(served, put_head(seeded.tokens["carol"], 1 << 20).replace("clip", f"quiet{i}"), b"x")
        for i in range((os.cpu_count() or 1) + 8)  # more than the event loop's default thread pool
    ]
    try:
        data = os.urandom(2 << 20)
        with httpx.Client(base_url=served, headers=seeded.headers("carol"), timeout=30) as http:
            assert http.put(URL, content=data).status_code == 201
        assert (seeded.layout.resources / "clip.bin").read_bytes() == data
    finally:
        for sock in quiet:
            sock.close()


def test_an_upload_waits_for_its_body_whatever_the_socket_number(seeded: Api, served: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        missing(f"needs 1200 open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # select() stops at 1023
    try:
        sock = raw_request(served, put_head(seeded.tokens["carol"], 2 << 20), b"a" * (1 << 20))
        time.sleep(2 * fastpath.POLL)  # the server waits for the rest
        sock.sendall(b"b" * (1 << 20))
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 201")
        sock.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_client_gone_before_the_response_leaves_no_error(
    seeded: Api, served: str, caplog: pytest.LogCaptureFixture
) -> None:
    (seeded.layout.resources / "clip.bin").write_bytes(os.urandom(1 << 20))
    head = f"GET {URL} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {seeded.tokens['carol']}\r\n\r\n"
    for _ in range(10):
        raw_request(served, head, b"").close()
    with httpx.Client(base_url=served, headers=seeded.headers("carol")) as http:
        assert http.get(URL).status_code == 200  # the server is fine, and has caught up
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
