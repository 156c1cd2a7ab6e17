"""Sending the outbox: every node looks, one node sends each entry, once.

The project reconciler decides what is told and writes it to `run/outbox/` under the project's
lock (reconcilers.project.notify); this sender, on its own thread of every node so that a slow
webhook or mail server never holds up the reconcile loop, takes the lease of an entry on the log,
reads the entry again by its exact path, sends it and deletes it before it releases the lease. A
node that finds the entry gone under the lease has nothing left to do. What failed is tried again
with a growing back-off (`after_failure`, pure), and after `max_attempts` stays listed as failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from winslow.controller import notify
from winslow.controller.context import NodeContext
from winslow.controller.notify import Notification, NotSent, Smtp
from winslow.controller.subjects import notify_subject

log = logging.getLogger(__name__)

Observer = Callable[[str, str], None]
"""Called with (channel, result): result is sent, retry or failed."""


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    """Rounds (each of `quick` tries) before an entry is given up."""
    quick: int = 3
    """Tries in a row within one round, tenacity's exponential back-off between them."""
    backoff: float = 30.0
    """Seconds before the second round; doubled for each further one, up to `cap`."""
    cap: float = 3600.0


def due(entry: Notification, now: datetime) -> bool:
    return not entry.failed and (entry.next_attempt is None or entry.next_attempt <= now)


def after_failure(entry: Notification, error: str, now: datetime, policy: Policy) -> Notification:
    """The entry as it is kept after a failed round: tried again later, or given up."""
    attempts = entry.attempts + 1
    delay = min(policy.cap, policy.backoff * 2 ** (attempts - 1))
    return entry.model_copy(
        update={
            "attempts": attempts,
            "last_error": error,
            "next_attempt": now + timedelta(seconds=delay),
            "failed": attempts >= policy.max_attempts,
        }
    )


class Sender:
    def __init__(
        self,
        ctx: NodeContext,
        base_url: str,
        smtp: Smtp | None,
        *,
        interval: float = 1.0,
        policy: Policy | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.ctx = ctx
        self.base_url = base_url
        self.smtp = smtp
        self.interval = interval
        self.policy = policy or Policy()
        self.observer = observer
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # sending must end well within the lease, with the lease's margin to spare
        self.timeout = max(1.0, min(notify.TIMEOUT, ctx.config.lease_seconds / (2 * self.policy.quick)))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=notify.TIMEOUT * 2)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.once()
            except Exception:
                log.exception("sending notifications failed")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.ctx.clock(), UTC)

    def once(self) -> int:
        """One look at the outbox; returns how many entries this node sent."""
        sent = 0
        for path in notify.listing(self.ctx.layout.outbox):
            if self.stopping.is_set():
                break
            try:
                entry = notify.read(path)
            except (OSError, ValueError):
                continue  # sent meanwhile, or half of a hand edit
            if due(entry, self._now()) and self._take(path):
                sent += 1
        return sent

    def _take(self, path: Path) -> bool:
        subject = notify_subject(path.stem)
        leases = self.ctx.leases
        if not leases.acquire(subject):
            return False  # another node sends it
        try:
            try:
                entry = notify.read(path)  # again, under the lease: it may have been sent meanwhile
            except FileNotFoundError:
                return False
            except (OSError, ValueError) as exc:
                log.warning("cannot read notification %s: %s", path.name, exc)
                return False
            if not due(entry, self._now()):
                return False
            return self._send(path, entry)
        finally:
            leases.release(subject)

    def _send(self, path: Path, entry: Notification) -> bool:
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.policy.quick),
                wait=wait_exponential(multiplier=0.5, max=4.0),
                retry=retry_if_exception_type(NotSent),
                sleep=self._pause,
                reraise=True,
            ):
                with attempt:
                    notify.send(entry, self.base_url, self.smtp, self.timeout)
        except NotSent as exc:
            kept = after_failure(entry, str(exc), self._now(), self.policy)
            notify.write(path.parent, path.name, kept)
            result = "failed" if kept.failed else "retry"
            log.warning(
                "notification %s (%s %s of project %s) not sent: %s; %s",
                path.stem,
                entry.channel,
                entry.event,
                entry.project,
                exc,
                "gave up" if kept.failed else f"trying again at {kept.next_attempt:%H:%M:%S}",
            )
            self._observe(entry.channel, result)
            return False
        path.unlink(missing_ok=True)
        log.info("notified %s %s: %s", entry.channel, entry.target, notify.headline(entry))
        self._observe(entry.channel, "sent")
        return True

    def _pause(self, seconds: float) -> None:
        self.stopping.wait(seconds)  # a stop cuts the back-off short

    def _observe(self, channel: str, result: str) -> None:
        if self.observer is not None:
            self.observer(channel, result)
