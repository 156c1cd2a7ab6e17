"""Case 3 of issue 14: without any token, slow or abusive HTTP clients cannot grow a node's
memory or hold its connections, on plain HTTP and on TLS. Bounded loops on 127.0.0.1."""

from __future__ import annotations

import selectors
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.harness import NodeProcess, missing

pytestmark = pytest.mark.timeout(120)

HEADER_TIMEOUT = 2.0
MAX_CONNECTIONS = 200
HALF_OPEN = 300
MAX_BODY = 1 << 20
SILENT = 20


@pytest.fixture(params=["http", "https"])
def abused(
    request: pytest.FixtureRequest, share: Path, nodes: list[NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> tuple[NodeProcess, Callable[[], socket.socket]]:
    monkeypatch.setenv("WINSLOW_HEADER_TIMEOUT", str(HEADER_TIMEOUT))
    monkeypatch.setenv("WINSLOW_MAX_CONNECTIONS", str(MAX_CONNECTIONS))
    monkeypatch.setenv("WINSLOW_MAX_BODY_BYTES", str(MAX_BODY))
    extra = ["--no-execute"]
    if request.param == "https":
        if shutil.which("openssl") is None:
            missing("needs the openssl command to make a certificate")
        cert, key = share.parent / "cert.pem", share.parent / "key.pem"
        make = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout KEY -out CERT"
        command = [str(key) if w == "KEY" else str(cert) if w == "CERT" else w for w in make.split()]
        subprocess.run(command, check=True, capture_output=True)
        extra += ["--tls-cert", str(cert), "--tls-key", str(key)]
    node = NodeProcess(share, "abused", *extra)
    nodes.append(node)
    node.start(wait=False)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        return context.wrap_socket(sock) if request.param == "https" else sock

    deadline = time.monotonic() + 30
    while True:  # the harness's health check speaks plain HTTP only
        try:
            connect().close()
            break
        except OSError:
            assert time.monotonic() < deadline and node.alive, node.logfile.read_text()[-2000:]
            time.sleep(0.2)
    return node, connect


def rss(node: NodeProcess) -> int:
    assert node.proc is not None
    return int(psutil.Process(node.proc.pid).memory_info().rss)


def answer(sock: socket.socket) -> bytes:
    """What the server sends before it closes the connection (bounded)."""
    sock.settimeout(HEADER_TIMEOUT + 10)
    data = b""
    try:
        while len(data) < 65536 and (chunk := sock.recv(4096)):
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return data


def test_case_3_a_header_that_never_ends_is_cut_off_and_memory_stays_bounded(
    abused: tuple[NodeProcess, Callable[[], socket.socket]],
) -> None:
    """Before: the node kept reading the header, hundreds of MB of it, and kept the memory."""
    node, connect = abused
    before = rss(node)
    sock = connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Never-Ends: ")
    sent, chunk = 0, b"a" * 65536
    try:
        while sent < 64 << 20:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
        pass
    assert sent < 4 << 20, f"the node read {sent} bytes of one header"
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 ") and b'\r\n\r\n{"detail": "' in reply, "JSON, as every error"
    sock.close()
    assert rss(node) - before < 64 << 20


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_case_3_a_huge_body_for_the_json_api_is_refused_before_it_is_read(
    abused: tuple[NodeProcess, Callable[[], socket.socket]], framing: str
) -> None:
    """Before: the API buffered a JSON body of any size, with or without a token."""
    node, connect = abused
    before = rss(node)
    sock = connect()
    length = "Content-Length: 1073741824" if framing == "content-length" else "Transfer-Encoding: chunked"
    sock.sendall(f"POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n{length}\r\n\r\n".encode())
    sent, chunk = 0, b"[" * 65536
    try:
        while sent < 64 << 20:
            sock.sendall(b"10000\r\n" + chunk + b"\r\n" if framing == "chunked" else chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
        pass
    assert sent < 16 << 20, f"the node read {sent} bytes of the body"
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 413 ") and b'{"detail": "' in reply, "JSON, as every error"
    assert rss(node) - before < 64 << 20


def open_connections(node: NodeProcess) -> int:
    assert node.proc is not None
    return sum(1 for c in psutil.Process(node.proc.pid).net_connections("tcp") if c.status == "ESTABLISHED")


def test_case_3_half_headers_and_slowloris_are_closed_and_connections_are_capped(
    abused: tuple[NodeProcess, Callable[[], socket.socket]],
) -> None:
    """Before: 300 connections that sent half a header were never closed, and a client that
    sent one byte now and then kept its connection for ever; nor was one that sent nothing (on
    TLS: not even its handshake)."""
    node, connect = abused
    before = rss(node)
    silent = [socket.create_connection(("127.0.0.1", node.port), timeout=10) for _ in range(SILENT)]
    half: list[socket.socket] = []
    for _ in range(HALF_OPEN):
        sock = connect()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: abc")
        half.append(sock)
    slow = connect()
    closed: dict[socket.socket, bytes] = {}
    selector = selectors.DefaultSelector()
    for sock in [*half, *silent]:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + HEADER_TIMEOUT + 15
    slow_cut_at = None
    for byte in drip(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000):
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            closed[sock] = closed.get(sock, b"") + data
            if not data:
                selector.unregister(sock)
        if slow_cut_at is None:
            try:
                slow.sendall(byte)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                slow_cut_at = time.monotonic()
        if (len(selector.get_map()) == 0 and slow_cut_at is not None) or time.monotonic() > deadline:
            break
    assert not selector.get_map(), (
        f"{len(selector.get_map())} of {HALF_OPEN + SILENT} half-header or silent connections still open"
    )
    assert slow_cut_at is not None, "the slowloris connection is still open"
    answers = [closed[sock].split(b"\r\n", 1)[0] for sock in half]
    refused = answers.count(b"HTTP/1.1 503 Service Unavailable")
    timed_out = answers.count(b"HTTP/1.1 408 Request Timeout")
    assert refused >= HALF_OPEN - MAX_CONNECTIONS and refused + timed_out == HALF_OPEN, set(answers)
    assert all(closed[sock] == b"" or closed[sock].startswith(b"HTTP/1.1 503 ") for sock in silent)
    for sock in [*half, *silent, slow]:
        sock.close()
    assert rss(node) - before < 64 << 20
    time.sleep(0.5)
    assert open_connections(node) <= 2
    probe = connect()
    probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer(probe).startswith(b"HTTP/1.1 200 ")


def drip(data: bytes) -> Iterator[bytes]:
    """One byte per step; the caller's select paces it (0.2 s when nothing happens)."""
    for i in range(len(data)):
        yield data[i : i + 1]
