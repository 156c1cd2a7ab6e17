"""A StageRun's log file: container output as it is written, plus Winslow's own lines.

Winslow's lines start with `[winslow] `. That prefix is what lets a restarted node work out how
much container output the file already holds, and continue the log without gap or repeat.

Thread use: a Streamer is a thread of its own that only appends to its run's log and calls
back when the container ends; `append_system_line` may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)
PREFIX = b"[winslow] "
BREAK = b"\n[winslow~] "


def append_system_line(path: Path, line: str) -> None:
    """After a partial line (a progress bar) the line starts on a new line of its own, marked so
    that the inserted newline is not counted as container output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a+b") as fh:
        size = fh.seek(0, 2)
        partial = size > 0 and (fh.seek(size - 1), fh.read(1))[1] != b"\n"
        fh.write((BREAK if partial else PREFIX) + f"{stamp} {line}\n".encode())


def container_bytes(path: Path) -> int:
    """How much container output the file holds: everything but Winslow's own lines."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    total = len(data)
    for marker, starts_line in ((PREFIX, True), (BREAK, False)):
        start = 0
        while (at := data.find(marker, start)) >= 0:
            if starts_line and at > 0 and data[at - 1 : at] != b"\n":
                start = at + 1
                continue
            end = data.find(b"\n", at + 1)
            end = len(data) if end < 0 else end + 1
            total -= end - at
            start = end
    return total


def tail(path: Path, lines: int = 5) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            chunk = fh.read()
    except FileNotFoundError:
        return []
    text = chunk.decode(errors="replace").splitlines()
    return [t for t in text if not t.startswith("[winslow")][-lines:]


class Streamer(threading.Thread):
    """Copies a container's output into its log file until the container ends, then calls back.

    Streams break (daemon restarts, read time-outs); each reconnect skips the bytes already
    written, so the file never has a gap or a repeat.
    """

    def __init__(
        self,
        path: Path,
        source: Callable[[], Iterator[bytes]],
        running: Callable[[], bool],
        done: Callable[[], None],
    ) -> None:
        super().__init__(daemon=True, name=f"log:{path.name}")
        self.path = path
        self.source = source
        self.running = running
        self.done = done
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            self._copy()
        finally:
            self.done()

    def _copy(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self.stopped.is_set():
            skip = container_bytes(self.path)
            try:
                with self.path.open("ab") as fh:
                    for chunk in self.source():
                        if skip:
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                        if chunk:
                            fh.write(chunk)
                            fh.flush()
                        if self.stopped.is_set():
                            return
            except Exception as exc:
                log.info("log stream of %s broke (%s); reconnecting", self.path.name, exc)
            if not self.running():
                return
            self.stopped.wait(0.5)
