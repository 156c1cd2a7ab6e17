"""What users upload and stages write is data to a browser, never a page of this node's origin.

A file served from `resources/` or a workspace could otherwise be an `.html` or `.svg` whose
script runs with a signed-in admin's cookies. Three independent walls keep it inert: every
response that is not the UI's own carries `Content-Security-Policy: sandbox` (a document opened
from it gets an opaque origin: no script, no cookies, no same-origin requests), `nosniff`, and a
file is a download (`Content-Disposition: attachment`) unless it is asked inline and its type
cannot script. The UI's own responses (api.ui.assets) set their own, stricter-for-them policy,
which this layer leaves as it is.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SANDBOX = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'none'"
HEADERS = {
    b"content-security-policy": SANDBOX.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-resource-policy": b"same-origin",
}
# Types a browser shows without running anything: a file of one of these may be viewed inline.
# Text-like files (logs, CSV, YAML, code) are shown as text/plain, never as what they claim.
VIEWABLE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
    | {"video/mp4", "video/webm", "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm"}
    | {"text/plain"}
)
AS_TEXT = frozenset({".log", ".csv", ".tsv", ".txt", ".yaml", ".yml", ".json", ".py", ".sh", ".md", ".ini"})


def content_type(name: str) -> str:
    """The type a file is served as: a viewable type, else an opaque download."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in AS_TEXT:
        return "text/plain; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0]
    return guessed if guessed in VIEWABLE else "application/octet-stream"


def disposition(name: str, inline: bool) -> str:
    """Inline only when asked and harmless; the name survives any characters (RFC 6266)."""
    kind = "inline" if inline and content_type(name) != "application/octet-stream" else "attachment"
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class Inert:
    """ASGI middleware: the sandbox headers on every response that does not set its own policy.

    Pure ASGI (no BaseHTTPMiddleware) so that file bodies keep their sendfile path (api.fastpath)
    and nothing is buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in present:
                    headers += [(k, v) for k, v in HEADERS.items() if k not in present]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, guarded)
