"""A node's half of `winslow doctor`'s visibility check: how late does this node see files that
another machine creates or replaces on the share?

The doctor publishes PROBE events on the log; every node answers on the log too, so the check
itself never waits on a file it cannot see yet. The phases:
- prepare: the node looks up the file `new` (absent: its share client may now cache that) and
  reads `replaced` (the old content), then answers `ready`;
- go: the doctor has created `new` and replaced `replaced`; the node times how long until it sees
  both, creates `from-<node>` for the doctor to time in turn, and answers `result`.

Thread use: the event log calls `on_event` on whichever thread applied the event; the work
runs on a thread of its own, which only reads the share and publishes.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command, Event

log = logging.getLogger(__name__)
POLL = 0.05


def folder_of(root: Path, event: Event) -> Path | None:
    """The probe's folder, only ever under run/doctor/ of this share."""
    name = str((event.payload or {}).get("id", ""))
    if not name.isalnum():
        return None
    return root / "run" / "doctor" / name


def answer(events: EventLog, subject: str, phase: str, **values: Any) -> None:
    try:
        events.publish(Command.PROBE, subject, payload={"phase": phase, **values})
    except Rejected as exc:
        log.info("could not answer the doctor's probe: %s", exc)


def visible_after(check: Any, limit: float) -> float | None:
    """Seconds until `check()` holds, or None if it did not within `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            if check():
                return round(time.monotonic() - start, 3)
        except OSError:
            pass
        time.sleep(POLL)
    return None


def _prepare(events: EventLog, folder: Path, subject: str) -> None:
    (folder / "new").exists()  # on purpose: a caching client may remember that it is absent
    with suppress(OSError):
        (folder / "replaced").read_bytes()
    answer(events, subject, "ready")


def _go(events: EventLog, folder: Path, subject: str, limit: float) -> None:
    new = visible_after((folder / "new").exists, limit)
    replaced = visible_after(lambda: (folder / "replaced").read_bytes() == b"2", limit)
    try:
        (folder / f"from-{events.node}").write_bytes(b"1")
    except OSError as exc:
        log.info("could not write the doctor's probe file: %s", exc)
    answer(events, subject, "result", new=new, replaced=replaced)


def on_event(events: EventLog, root: Path, event: Event) -> None:
    """Answer a doctor's probe, on a thread of its own (the log calls this under its lock)."""
    if event.command is not Command.PROBE or event.node == events.node:
        return
    payload = event.payload or {}
    folder = folder_of(root, event)
    if folder is None or payload.get("phase") not in ("prepare", "go"):
        return
    if payload["phase"] == "prepare":
        work = threading.Thread(target=_prepare, args=(events, folder, event.subject), daemon=True)
    else:
        limit = min(120.0, float(payload.get("limit", 20.0)))
        work = threading.Thread(target=_go, args=(events, folder, event.subject, limit), daemon=True)
    work.start()
