"""Notifications: the outbox on the share, the words sent, and the two ways out (webhook, mail).

An entry of `run/outbox/` is one notification to one target, written under the project's lock
by the project reconciler; `reconcilers.notify` sends it from one node and deletes it. An entry
that could not be sent keeps its attempts and last error, and after the last attempt stays as
`failed` for `describe` and the UI to show.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import READER, Limits
from winslow.resources.store import atomic_write, dump_yaml

log = logging.getLogger(__name__)

Channel = Literal["webhook", "email"]
TIMEOUT = 10.0
LIMITS = Limits(max_bytes=64 * 1024, max_depth=8, max_nodes=2_000)  # an entry is under 2 KB


class Notification(BaseModel):
    """One outbox entry: what happened, to whom it goes, and how sending it went so far."""

    event: str
    project: str
    stage: str | None = None
    phase: str
    reason: str = ""
    node: str
    """The node that saw it happen."""
    channel: Channel
    target: str
    created: datetime
    attempts: int = 0
    last_error: str = ""
    next_attempt: datetime | None = None
    failed: bool = False
    """True once it was given up: it stays listed, with its last error."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 25
    sender: str = "winslow@localhost"
    starttls: bool = False
    user: str | None = None
    password: str | None = None


def parse_smtp(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `HOST` (port 25)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "25")
    if not host or not port.isdigit():
        raise ValueError(f"{text!r}: give HOST:PORT, e.g. mail.example.org:587")
    return host.strip("[]"), int(port)


# -- the outbox ------------------------------------------------------------------------------------


def entry_name(project: str, version: int, event: str, index: int) -> str:
    """Deterministic: a decision taken again writes the same entry, never a second one."""
    return f"{project}-{version}-{event}-{index}.yaml"


def write(outbox: Path, name: str, entry: Notification) -> None:
    atomic_write(outbox / name, dump_yaml(entry.model_dump(mode="json")))


def read(path: Path) -> Notification:
    """FileNotFoundError once it was sent; ValueError for a file that is no entry. Read as every
    file of the share is (resources.reading): a FIFO, a huge or deeply nested file put in the
    outbox is refused, never read."""
    try:
        return READER.load(
            path,
            f"run/outbox/{path.name}",
            Notification.model_validate,
            kind="notification",
            limits=LIMITS,
            fallback=False,
        )
    except NotFoundError:
        raise FileNotFoundError(path) from None
    except InvalidFileError as exc:
        raise ValueError(f"{path.name}: not a notification ({exc.reason})") from None


def listing(outbox: Path) -> list[Path]:
    """The entries, oldest name first; a listing only finds work, the entry read decides."""
    try:
        return sorted(p for p in outbox.iterdir() if p.suffix == ".yaml" and not p.name.startswith("."))
    except FileNotFoundError:
        return []


def failures(outbox: Path, project: str) -> list[Notification]:
    """The project's entries that could not be sent (retrying or given up), newest last."""
    found = []
    for path in listing(outbox):
        if not path.name.startswith(f"{project}-"):
            continue
        try:
            entry = read(path)
        except (OSError, ValueError):
            continue
        if entry.project == project and entry.last_error:
            found.append(entry)
    return sorted(found, key=lambda e: e.created)


# -- what is said ----------------------------------------------------------------------------------


def headline(n: Notification) -> str:
    """`traffic-ulm: stage 'check' waits for confirmation`"""
    stage = f"stage {n.stage!r}" if n.stage else "the project"
    what = {
        "waiting": f"{stage} waits for confirmation",
        "failed": f"{stage} failed",
        "lost": f"{stage} was lost",
        "succeeded": "all stages succeeded",
    }.get(n.event, f"{stage}: {n.event}")
    return f"{n.project}: {what}"


def project_url(base: str, project: str) -> str:
    return f"{base.rstrip('/')}/#/projects/{project}"


def webhook_body(n: Notification, base_url: str) -> dict[str, Any]:
    """`text` for Slack, Mattermost, Matrix hookshot and ntfy (JSON publishing), plus the facts."""
    url = project_url(base_url, n.project)
    return {
        "text": f"[winslow] {headline(n)}\n{n.reason}\n{url}",
        "project": n.project,
        "stage": n.stage,
        "phase": n.phase,
        "reason": n.reason,
        "event": n.event,
        "node": n.node,
        "url": url,
    }


def mail(n: Notification, base_url: str, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[winslow] {headline(n)}"
    msg["From"] = sender
    msg["To"] = n.target
    body = webhook_body(n, base_url)
    msg.set_content(
        f"{headline(n)}\n\n{n.reason}\n\nproject: {n.project}\nstage: {n.stage or '-'}\n"
        f"phase: {n.phase}\nnode: {n.node}\n\n{body['url']}\n"
    )
    return msg


# -- the ways out ----------------------------------------------------------------------------------


class NotSent(Exception):
    """Why a notification did not go out (tried again later)."""


def send(n: Notification, base_url: str, smtp: Smtp | None, timeout: float = TIMEOUT) -> None:
    if n.channel == "webhook":
        _post(n.target, webhook_body(n, base_url), timeout)
    else:
        if smtp is None:
            raise NotSent("no SMTP server given to this node (winslow node --smtp HOST:PORT)")
        _mail(smtp, mail(n, base_url, smtp.sender), timeout)


def _post(url: str, body: dict[str, Any], timeout: float) -> None:
    try:
        response = httpx.post(url, json=body, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise NotSent(f"webhook {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise NotSent(f"webhook {url}: HTTP {response.status_code} {response.text[:200]!r}")


def _mail(smtp: Smtp, msg: EmailMessage, timeout: float) -> None:
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{smtp.host}:{smtp.port}"
        raise NotSent(f"mail to {msg['To']} via {where}: {type(exc).__name__}: {exc}") from None


def describe_failure(n: Notification) -> str:
    state = "gave up" if n.failed else "retrying"
    return f"{n.channel} {n.target}: {n.event} ({state} after {n.attempts} attempts): {n.last_error}"
