"""File bodies that bypass ASGI messages: sendfile for downloads, the socket itself for uploads.

Through ASGI every byte of a 40 GB video is copied three times and wakes the event loop every
64 KiB; that measured 0.15 of `cp`. On plain-HTTP connections the node's protocol (uvicorn's
HttpToolsProtocol plus this) hands each request a `FastPath` in `scope["extensions"]`: a response
body can go out with os.sendfile straight from the page cache, and a request body can be read from
the socket by a worker thread into the file. TLS connections, and ASGI servers without the
extension (test clients), take the ordinary path; callers ask `of(scope)` and fall back on None.

The price of reading the socket past the HTTP parser: the parser never sees that body, so the
connection closes after the response (`Connection: close`; clients simply open a new one).

The protocol also keeps a node's memory and connections bounded whatever clients do, on plain
HTTP and on TLS alike (uvicorn itself bounds neither with httptools): request headers may take
`MAX_HEADER_BYTES` (431 beyond) and must be complete within `HEADER_TIMEOUT` seconds of the
connection or of the previous response (408, so a slowloris client is cut off), a request body
that the API decodes whole (everything but file transfers) may take `MAX_BODY_BYTES` (413), and
a node keeps at most `MAX_CONNECTIONS` open (503 at once beyond). The node's environment may
change them: WINSLOW_MAX_HEADER_BYTES, WINSLOW_HEADER_TIMEOUT, WINSLOW_MAX_BODY_BYTES,
WINSLOW_MAX_CONNECTIONS.

Longer than most modules here: one protocol class with its limits; its halves need each other's state.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

EXTENSION = "winslow.fastpath"
IDLE_TIMEOUT = 60.0  # a client that sends nothing for this long has left; its upload can resume
POLL = 0.5  # how often a waiting reader checks whether its request was abandoned


def _setting(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


MAX_HEADER_BYTES = int(_setting("WINSLOW_MAX_HEADER_BYTES", 64 << 10))
HEADER_TIMEOUT = _setting("WINSLOW_HEADER_TIMEOUT", 10.0)
MAX_CONNECTIONS = int(_setting("WINSLOW_MAX_CONNECTIONS", 256))
MAX_BODY_BYTES = int(_setting("WINSLOW_MAX_BODY_BYTES", 64 << 20))
STREAMED = "/api/v1/files/"  # bodies that go to disk as they arrive: any size
_REASONS = {
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def _detail(message: str) -> bytes:
    """The JSON shape of every other error of the API (FastAPI's `{"detail": ...}`)."""
    return json.dumps({"detail": message}).encode()


def _too_large(length: int) -> Any:
    """An ASGI app that answers 413 without reading the body, and closes the connection."""
    body = _detail(f"a request body of {length} bytes is over the limit of {MAX_BODY_BYTES}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering `FastPath` to every plain-HTTP request, with the
    limits on headers and connections that the module's docstring describes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True  # between requests, or inside a request's headers
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._body_limited = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            self._refuse(503, f"this node has {MAX_CONNECTIONS} connections open; try again in a moment")
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        too_long = self._awaiting_headers and self._header_bytes > MAX_HEADER_BYTES
        if too_long and not self.transport.is_closing():
            self._refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._awaiting_headers, self._header_bytes, self._body_bytes = False, 0, 0
        self._disarm()
        super().on_headers_complete()
        self._body_limited = not str(self.scope.get("path", "")).startswith(STREAMED)

    def on_body(self, body: bytes) -> None:
        """A chunked body has no length to check up front: it is counted as it comes."""
        if self.transport.is_closing():
            return
        self._body_bytes += len(body)
        if self._body_limited and self._body_bytes > MAX_BODY_BYTES:
            self._refuse(413, f"a request body over the limit of {MAX_BODY_BYTES} bytes")
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers, self._header_bytes = True, 0
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._awaiting_headers:
            self._arm()  # the next request's headers are due from now

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        """No headers within HEADER_TIMEOUT: cut the connection, unless a response is still on
        its way (the client waits for it, and the timer starts again when it is complete)."""
        self._header_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self._awaiting_headers and not busy and not self.transport.is_closing():
            if self._header_bytes:
                self._refuse(408, f"request headers not complete within {HEADER_TIMEOUT:g}s")
            else:
                self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        if self.transport.is_closing():
            return
        body = _detail(message)
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self._disarm()
        self._awaiting_headers = False
        self.transport.write(head.encode() + body)
        self.transport.close()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        length = _content_length(cycle.scope["headers"])
        if not cycle.scope["path"].startswith(STREAMED) and length > MAX_BODY_BYTES:
            cycle.keep_alive = False
            app = _too_large(length)
        elif self.scheme == "http":
            cycle.scope.setdefault("extensions", {})[EXTENSION] = {"handle": FastPath(cycle)}
        super()._start_asgi_task(cycle, app)


def _content_length(headers: Any) -> int:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def of(scope: Scope) -> FastPath | None:
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    return extension.get("handle") if isinstance(extension, Mapping) else None


class FastPath:
    """What one request may do beside its ASGI messages; only on the connection that carries it."""

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        """Sends `count` bytes of `fd` as (part of) the body; after `http.response.start`, before the
        final empty `http.response.body`. Returns the bytes sent (fewer if the file shrank)."""
        cycle = self._cycle
        if cycle.disconnected or count == 0:  # asyncio reads a count of 0 as "to the end of the file"
            return 0
        if not cycle.response_started or cycle.response_complete or count > cycle.expected_content_length:
            raise RuntimeError("sendfile needs a started response with a Content-Length that covers it")
        await cycle.flow.drain()
        with os.fdopen(fd, "rb", closefd=False) as file:
            try:
                sent = await asyncio.get_running_loop().sendfile(cycle.transport, file, offset, count)
            except OSError:  # the client went away
                sent = 0
                cycle.disconnected = True
        cycle.expected_content_length -= sent
        if sent < count:
            cycle.keep_alive = False
            cycle.expected_content_length = 0  # the client sees a short body and retries with Range
            cycle.transport.close()
        return sent

    def take_body(self) -> RawBody | None:
        """The request body, to be read from the socket; None for a chunked body (no length).

        Must come before any `receive()`. What the parser already took comes first, in `buffered`.
        """
        cycle = self._cycle
        headers = dict(cycle.scope["headers"])
        try:
            length = int(headers[b"content-length"])
        except (KeyError, ValueError):
            return None
        buffered, cycle.body = bytes(cycle.body), bytearray()
        if not cycle.more_body:
            return RawBody(buffered, None, 0)
        if cycle.waiting_for_100_continue:
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        # From here on the socket is ours: the transport stops reading it, and stays stopped even if
        # something calls receive() (which resumes reading only when `read_paused` says it paused).
        cycle.transport.pause_reading()
        cycle.flow.read_paused = False
        cycle.keep_alive = False
        sock = cycle.transport.get_extra_info("socket")
        return RawBody(buffered, socket.socket(fileno=os.dup(sock.fileno())), length - len(buffered))


class RawBody:
    """A request body read straight from the socket, by one worker thread, up to its length."""

    def __init__(self, buffered: bytes, sock: socket.socket | None, remaining: int) -> None:
        self.buffered = buffered
        self.remaining = remaining
        self.abandoned = threading.Event()
        self._sock = sock
        if sock is not None:
            sock.settimeout(POLL)  # waits with poll(2): any fd number, O_NONBLOCK kept for asyncio

    def recv_into(self, view: memoryview) -> int:
        """Blocks until some bytes arrive; 0 at the end of the body, or when the client left."""
        if self._sock is None or self.remaining <= 0:
            return 0
        waited = 0.0
        while not self.abandoned.is_set():
            try:
                got = self._sock.recv_into(view, min(len(view), self.remaining))
            except TimeoutError:
                waited += POLL
                if waited >= IDLE_TIMEOUT:
                    return 0
                continue
            except OSError:
                return 0
            self.remaining -= got
            return got
        return 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


class FileResponse(StreamingResponse):
    """`count` bytes of an open file from `offset`, by sendfile where the connection allows it, else
    in `chunk`-sized reads from a worker thread. Owns `fd` and closes it."""

    def __init__(
        self, fd: int, offset: int, count: int, status_code: int, headers: Mapping[str, str], chunk: int
    ) -> None:
        super().__init__(
            self._chunks(), status_code=status_code, headers={**headers, "Content-Length": str(count)}
        )
        self.fd, self.offset, self.count, self.chunk = fd, offset, count, chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            fast = of(scope)
            if fast is None:
                await super().__call__(scope, receive, send)
                return
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            await fast.sendfile(self.fd, self.offset, self.count)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(self.fd)

    async def _chunks(self) -> AsyncIterator[bytes]:
        at, left = self.offset, self.count
        while left > 0:
            chunk = await run_in_threadpool(os.pread, self.fd, min(self.chunk, left), at)
            if not chunk:
                return  # the file shrank meanwhile; the client sees a short body and retries with Range
            at, left = at + len(chunk), left - len(chunk)
            yield chunk
