"""An httpx transport over http.client, for the file bodies of `winsctl cp` (tens of GB).

httpx's own transport parses bodies with h11, which copies every byte twice more than needed:
downloads measured 0.8 GB/s there against 2.2 GB/s for http.client, which reads each MiB with one
system call into one buffer (`python bench/files.py`). Only cp's transfers take this way; the rest
of winsctl, and its fakes in tests, keep httpx's transport, and so do transfers through a proxy
(HTTP_PROXY and friends). One connection per request: a transfer is long, and the server closes a
connection whose upload it read from the socket anyway.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import urllib.request
from collections.abc import Iterator

import httpx

READ = 1 << 20


class BulkTransport(httpx.BaseTransport):
    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        conn = self._connection(request.url, timeout.get("connect"))
        try:
            with _translated(request, connecting=True):
                conn.connect()
            with _translated(request):
                conn.sock.settimeout(timeout.get("read"))
                target = request.url.raw_path.decode("ascii")
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in request.headers.multi_items():
                    if name.lower() != "connection":
                        conn.putheader(name, value)
                conn.putheader("Connection", "close")
                conn.endheaders()
                sent = 0
                try:
                    for chunk in request.stream:  # type: ignore[union-attr]
                        conn.send(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered before it read everything (a refusal): read that answer
                else:
                    _check_length(request, sent)
                reply = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            reply.status, headers=reply.getheaders(), stream=_Body(request, reply, conn), request=request
        )

    def _connection(self, url: httpx.URL, timeout: float | None) -> http.client.HTTPConnection:
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.scheme == "https":
            if self._context is None:
                self._context = httpx.create_ssl_context()
            return http.client.HTTPSConnection(url.host, port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(url.host, port, timeout=timeout)


def _check_length(request: httpx.Request, sent: int) -> None:
    """A body shorter than its Content-Length would leave both ends waiting for the rest."""
    declared = request.headers.get("Content-Length")
    if declared is not None and int(declared) != sent:
        raise httpx.LocalProtocolError(
            f"sent {sent} bytes of the {declared} announced: did the file change while it was sent?",
            request=request,
        )


def proxied(url: str) -> bool:
    """Whether the environment routes `url` through a proxy, which this transport cannot speak to."""
    parts = httpx.URL(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.host)


class _Body(httpx.SyncByteStream):
    def __init__(
        self, request: httpx.Request, reply: http.client.HTTPResponse, conn: http.client.HTTPConnection
    ) -> None:
        self._request, self._reply, self._conn = request, reply, conn

    def __iter__(self) -> Iterator[bytes]:
        with _translated(self._request):
            while chunk := self._reply.read1(READ):
                yield chunk
            if self._reply.length:  # the connection ended before Content-Length did
                raise http.client.IncompleteRead(b"", self._reply.length)

    def close(self) -> None:
        """The reply owns the socket once the server said `Connection: close`: close both."""
        self._reply.close()
        self._conn.close()


@contextlib.contextmanager
def _translated(request: httpx.Request, connecting: bool = False) -> Iterator[None]:
    """http.client's and the socket's errors as the httpx errors winsctl already handles."""
    try:
        yield
    except TimeoutError as exc:
        kind = httpx.ConnectTimeout if connecting else httpx.ReadTimeout
        raise kind(str(exc) or "timed out", request=request) from exc
    except (OSError, http.client.HTTPException) as exc:
        message = str(exc) or type(exc).__name__
        if connecting:
            raise httpx.ConnectError(message, request=request) from exc
        if isinstance(exc, http.client.HTTPException):
            raise httpx.RemoteProtocolError(message, request=request) from exc
        raise httpx.ReadError(message, request=request) from exc
