"""Sending the outbox (reconcilers.notify) from two nodes on one share, to a real HTTP receiver
and a real SMTP server (aiosmtpd): each entry goes out once, failures are kept and logged."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.contexts import node_context
from winslow.controller import notify
from winslow.controller.layout import ShareLayout
from winslow.reconcilers.notify import Policy, Sender, after_failure, due

pytestmark = pytest.mark.timeout(60)


class Receiver:
    """A tiny webhook receiver: records the JSON bodies, answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def smtp_server() -> Iterator[tuple[notify.Smtp, list[Any]]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    mails: list[Any] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            mails.append(message)

    with socket.socket() as probe:  # aiosmtpd checks its port by connecting: it must be a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield notify.Smtp("127.0.0.1", controller.port, "winslow@test"), mails
    controller.stop()


def entry(channel: str, target: str, event: str = "waiting") -> notify.Notification:
    return notify.Notification(
        event=event,
        project="traffic-ulm",
        stage="check",
        phase="Waiting",
        reason="stage 'check' waits for confirmation: winsctl confirm traffic-ulm",
        node="n1",
        channel=channel,  # type: ignore[arg-type]
        target=target,
        created=datetime.now(UTC),
    )


def test_two_nodes_send_each_entry_once(tmp_path: Path, receiver: Receiver, smtp_server: Any) -> None:
    smtp, mails = smtp_server
    layout = ShareLayout(tmp_path)
    a, b = node_context(layout, "n1"), node_context(layout, "n2")
    notify.write(layout.outbox, "traffic-ulm-3-waiting-0.yaml", entry("webhook", receiver.url))
    notify.write(layout.outbox, "traffic-ulm-3-waiting-1.yaml", entry("email", "lab@example.org"))
    senders = [Sender(ctx, "http://ui.example:8080", smtp) for ctx in (a, b)]
    threads = [threading.Thread(target=s.once) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in senders:
        s.once()  # a look after the others' sends finds nothing left
    assert len(receiver.bodies) == 1 and len(mails) == 1
    body = receiver.bodies[0]
    assert body["text"].startswith("[winslow] traffic-ulm: stage 'check' waits for confirmation")
    assert {k: body[k] for k in ("project", "stage", "phase", "event", "node")} == {
        "project": "traffic-ulm",
        "stage": "check",
        "phase": "Waiting",
        "event": "waiting",
        "node": "n1",
    }
    assert body["url"] == "http://ui.example:8080/#/projects/traffic-ulm"
    assert mails[0]["Subject"] == "[winslow] traffic-ulm: stage 'check' waits for confirmation"
    assert mails[0]["To"] == "lab@example.org"
    assert notify.listing(layout.outbox) == []


def test_a_failing_webhook_is_kept_logged_and_counted(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    layout = ShareLayout(tmp_path)
    counted: list[tuple[str, str]] = []
    sender = Sender(
        node_context(layout, "n1"),
        "http://ui",
        None,
        policy=Policy(max_attempts=2, quick=2, backoff=0.0),
        observer=lambda c, r: counted.append((c, r)),
    )
    notify.write(layout.outbox, "traffic-ulm-1-failed-0.yaml", entry("webhook", receiver.url, "failed"))
    notify.write(layout.outbox, "traffic-ulm-1-failed-1.yaml", entry("email", "lab@example.org", "failed"))
    with caplog.at_level(logging.WARNING):
        assert sender.once() == 0
    assert len(receiver.bodies) == 2  # a round tries twice
    kept = notify.read(layout.outbox / "traffic-ulm-1-failed-0.yaml")
    assert kept.attempts == 1 and "HTTP 500" in kept.last_error and not kept.failed
    assert "no SMTP server given" in notify.read(layout.outbox / "traffic-ulm-1-failed-1.yaml").last_error
    assert "not sent" in caplog.text and "HTTP 500" in caplog.text
    sender.once()
    assert notify.read(layout.outbox / "traffic-ulm-1-failed-0.yaml").failed
    assert counted.count(("webhook", "retry")) == 1 and counted.count(("webhook", "failed")) == 1
    failures = notify.failures(layout.outbox, "traffic-ulm")
    assert len(failures) == 2 and "gave up" in notify.describe_failure(failures[0])
    sender.once()
    assert len(receiver.bodies) == 4  # given up: never tried again


def test_the_back_off_grows_and_gives_up() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    policy = Policy(max_attempts=3, backoff=10, cap=25)
    first = after_failure(entry("webhook", "http://x"), "boom", now, policy)
    assert first.next_attempt == now + timedelta(seconds=10) and not due(first, now)
    assert due(first, now + timedelta(seconds=10))
    second = after_failure(first, "boom", now, policy)
    assert second.next_attempt == now + timedelta(seconds=20)
    third = after_failure(second, "boom", now, policy)
    assert third.failed and third.next_attempt == now + timedelta(seconds=25)
    assert not due(third, now + timedelta(days=1))
