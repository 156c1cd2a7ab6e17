"""The HTTP side of winsctl: where the server is, who we are, and errors a user can act on."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from winslow.api.winsctl import clientconfig
from winslow.api.winsctl.bulk import BulkTransport, proxied
from winslow.api.winsctl.clientconfig import config_file

DEFAULT_SERVER = "http://127.0.0.1:8080"
MAX_RECONNECTS = 30
REMOTE_ROOTS = ("resources", "workspaces")
KINDS = {
    **dict.fromkeys(("pipeline", "pipelines", "pl"), "pipelines"),
    **dict.fromkeys(("project", "projects", "proj", "pj"), "projects"),
    **dict.fromkeys(("stagerun", "stageruns", "sr", "run", "runs"), "stageruns"),
    **dict.fromkeys(("node", "nodes", "no"), "nodes"),
    **dict.fromkeys(("quota", "quotas"), "quotas"),
    "queue": "queue",
}
SINGULAR = {
    "pipelines": "pipeline",
    "projects": "project",
    "stageruns": "stagerun",
    "nodes": "node",
    "quotas": "quota",
    "queue": "queue",
}
VOLATILE_COLUMNS = {"AGE", "HEARTBEAT"}  # ignored when --watch decides whether a row changed


class CliError(Exception):
    """A failure the user can act on: printed as `error: ...` without a traceback; `code` is
    the exit status (`apply --diff` keeps 1 for "there are differences")."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Unreachable(CliError):
    """No TCP connection at all; `logs -f` retries these while a node restarts."""


def api_detail(response: httpx.Response) -> str:
    """The API puts the actionable message in `detail`; anything else (a proxy page) is trimmed."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None:
        text = response.text.strip()[:300]
        detail = f"{response.request.method} {response.request.url.path}: HTTP {response.status_code} {text}"
    elif not isinstance(detail, str):
        detail = json.dumps(detail)
    elif detail in ("Not Found", "Method Not Allowed"):  # the route itself is missing: an older server
        detail = (
            f"{response.request.method} {response.request.url.path}: {detail} (does this server support it?)"
        )
    if response.status_code == 401 and "Authorization" not in response.request.headers:
        detail += " (no token: pass --token, set WINSLOW_TOKEN or add `token:` to the config file)"
    return detail


class Client:
    """Thin wrapper over httpx.Client; tests build it with an httpx.MockTransport.

    File bodies (`bulk=True`) go through api.winsctl.bulk unless a test's transport is given.
    """

    def __init__(self, server: str, token: str | None = None, transport: httpx.BaseTransport | None = None):
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = httpx.Timeout(30.0)
        self.http = httpx.Client(base_url=self.server, headers=headers, transport=transport, timeout=timeout)
        bulk = transport or (None if proxied(self.server) else BulkTransport())
        self.bulk = httpx.Client(base_url=self.server, headers=headers, transport=bulk, timeout=timeout)

    def close(self) -> None:
        self.http.close()
        self.bulk.close()

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(
            f"cannot reach the Winslow API at {self.server} ({exc}); pass --server URL, "
            f"set WINSLOW_SERVER, or put `server: URL` in {config_file()}"
        )

    def request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), bulk: bool = False, **kw: Any
    ) -> httpx.Response:
        try:
            response = (self.bulk if bulk else self.http).request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None
        except httpx.TransportError as exc:
            raise CliError(f"{method} {self.server}{path}: {exc}") from None
        if not response.is_success and response.status_code not in allow:
            raise CliError(api_detail(response))
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), bulk: bool = False, **kw: Any
    ) -> Iterator[httpx.Response]:
        """Streams leave transport errors raw so callers that resume can tell them apart."""
        kw.setdefault("timeout", httpx.Timeout(30.0, read=None))  # a followed log may be quiet for hours
        try:
            with (self.bulk if bulk else self.http).stream(method, path, **kw) as response:
                if not response.is_success and response.status_code not in allow:
                    response.read()
                    raise CliError(api_detail(response))
                yield response
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None


def load_config() -> dict[str, Any]:
    try:
        return clientconfig.load(config_file())
    except clientconfig.ConfigError as exc:
        raise CliError(str(exc)) from None


def connection(args: argparse.Namespace) -> tuple[str, str | None]:
    """Flag beats environment beats config file, so one-off overrides never need editing files."""
    config = load_config()
    server = args.server or os.environ.get("WINSLOW_SERVER") or config.get("server") or DEFAULT_SERVER
    token = args.token or os.environ.get("WINSLOW_TOKEN") or config.get("token")
    return str(server), str(token) if token else None


# ---------------------------------------------------------------- formatting
