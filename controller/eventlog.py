"""The ordered event log on the share (thesis 6.4), with publish, follow and compaction.

An event becomes visible whole: it is written to a temporary file and hard-linked to the next
sequence number. `link` fails when the name exists, which makes the sequence a consensus: on a
conflict the publisher reads the event that won, applies it, re-checks its own and tries the next
number. Followers open `<seq+1>` directly; they never list the directory.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from winslow.controller.events import Ballot, Command, Event, Request
from winslow.controller.logstate import LogState

log = logging.getLogger(__name__)

Clock = Callable[[], float]
DIGITS = 12


class Rejected(Exception):
    """The event is not valid against the state the log implies (for example: lock held)."""


class EventLog:
    """One node's view of the log: the implied state, kept current by reading forward."""

    def __init__(
        self,
        folder: Path,
        node: str,
        clock: Clock,
        *,
        grace: float = 5.0,
        compact_every: int = 1000,
        corrupt_wait: float = 2.0,
    ) -> None:
        self.folder = folder
        self.snapshot_path = folder.parent / "events.snapshot"
        self.node = node
        self.clock = clock
        self.grace = grace
        self.compact_every = compact_every
        self.corrupt_wait = corrupt_wait
        self.state = LogState(grace=grace)
        self._snapshot_stamp: tuple[int, int] | None = None
        self._unreadable_since: dict[int, float] = {}
        self._lock = threading.RLock()
        self.listeners: list[Callable[[Event], None]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, seq: int) -> Path:
        return self.folder / f"{seq:0{DIGITS}d}"

    # -- following -------------------------------------------------------------------------------

    def poll(self) -> list[Event]:
        """Apply every event published since the last poll; returns the valid ones."""
        with self._lock:
            applied: list[Event] = []
            while True:
                seq = self.state.seq + 1
                event = self._read(seq)
                if event is None:
                    if self._load_newer_snapshot(seq):
                        continue
                    return applied
                if self.state.apply(event):
                    applied.append(event)
                    for listener in self.listeners:
                        listener(event)
                else:
                    log.debug("skipped invalid event %s: %s", seq, self.state.check(event))

    def _read(self, seq: int) -> Event | None:
        try:
            raw = self.path(seq).read_bytes()
        except FileNotFoundError:
            return None
        try:
            event = Event.decode(raw, seq)
        except Exception as exc:  # any shape of garbage: the log must go on
            first = self._unreadable_since.setdefault(seq, self.clock())
            if self.clock() - first < self.corrupt_wait:
                return None
            log.error("event %s is unreadable (%s); skipping it", self.path(seq), exc)
            self._unreadable_since.pop(seq, None)
            self.state.seq = seq
            return self._read(seq + 1)
        self._unreadable_since.pop(seq, None)
        return event

    def _load_newer_snapshot(self, wanted: int) -> bool:
        """True when a snapshot covers `wanted`: the events we need were compacted away."""
        try:
            st = self.snapshot_path.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self._snapshot_stamp:
            return False
        self._snapshot_stamp = stamp
        try:
            data = json.loads(self.snapshot_path.read_bytes())
        except (FileNotFoundError, ValueError):
            return False
        if int(data["seq"]) < wanted:
            return False
        self.state = LogState.from_snapshot(data, self.grace)
        log.info("caught up from the log snapshot at %s", data["seq"])
        return True

    # -- publishing ------------------------------------------------------------------------------

    def publish(
        self,
        command: Command,
        subject: str,
        *,
        duration: float = 0.0,
        request: Request | None = None,
        ballot: Ballot | None = None,
        winner: str | None = None,
        message: str = "",
        issuer: str | None = None,
    ) -> Event:
        """Append an event that is valid at the head of the log, or raise Rejected.

        `issuer` defaults to this node; a request served by the node's API locks under a name of
        its own, so that the node's reconciler never mistakes that lock for its own."""
        template = Event(
            issuer=issuer or self.node,
            command=command,
            subject=subject,
            timestamp=0.0,
            duration=duration,
            request=request,
            ballot=ballot,
            winner=winner,
            message=message,
        )
        with self._lock:
            rechecked = False
            while True:
                self.poll()
                seq = self.state.seq + 1
                event = replace(template, timestamp=self.clock(), seq=seq)
                reason = self.state.check(event)
                if reason is not None:
                    raise Rejected(reason)
                if seq > 0 and not rechecked and not self.path(seq - 1).exists():
                    # Our predecessor is gone: compaction passed us by, so we are behind the head.
                    rechecked = True
                    self._snapshot_stamp = None
                    self._load_newer_snapshot(seq)
                    continue
                if self._link(event, seq):
                    self.state.apply(event)
                    for listener in self.listeners:
                        listener(event)
                    if seq % self.compact_every == 0 and seq > 0:
                        self.compact()
                    return event

    def _link(self, event: Event, seq: int) -> bool:
        tmp = self.folder / f".{self.node}.{secrets.token_hex(6)}.tmp"
        tmp.write_bytes(event.encode())
        try:
            os.link(tmp, self.path(seq))
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    # -- compaction ------------------------------------------------------------------------------

    def compact(self) -> None:
        """Snapshot the implied state, then delete events one window below it.

        Keeping one window means readers slightly behind never need the snapshot; readers far
        behind load it. Deletion goes upwards, so a file that exists proves all above it exist.
        """
        with self._lock:
            self.state.compact(self.clock())
            data = json.dumps(self.state.to_snapshot()).encode()
            tmp = self.snapshot_path.with_name(f".events.snapshot.{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            os.replace(tmp, self.snapshot_path)
            upto = self.state.seq - self.compact_every
        start = self._oldest()
        for seq in range(start, max(upto, start)):
            self.path(seq).unlink(missing_ok=True)

    def _oldest(self) -> int:
        """Only compaction lists the directory, once per window."""
        numbers = [int(n) for n in os.listdir(self.folder) if n.isdigit()]
        return min(numbers, default=0)
