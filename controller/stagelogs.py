"""A StageRun's log file: container output as it is written, plus Winslow's own lines.

Winslow's lines start with `[winslow] `. That prefix is what lets a restarted node work out how
much container output the file already holds, and continue the log without gap or repeat.

The file is bounded (a stage that printed 500 MB once left a 500 MB log on the share): the
first `head` bytes of container output go to the file as they come; after that the output
goes to a ring of the last `tail` bytes in memory, and when the container ends one line says
how much was cut and the tail follows it. The file only ever grows, so readers that follow it
by offset (`winsctl logs -f`) never see a byte change. Winslow's own lines never pass through
the cut: they are appended directly, and are always kept.

Resume. The runtime hands out output as entries, each with the runtime's time of it (Docker:
RFC 3339 with nanoseconds, fixed width, so that ordering the strings orders the times), and
Docker's own log is bounded: after rotation it no longer starts at the container's first byte,
so counting bytes cannot say where to continue. Beside the log, a small position file
(`<run>.log.pos`) names the last entry taken (its time and its index among consecutive entries
of that time) with the counts that follow from it. A head write is announced there before it is
made, so after a kill the file holds at most what the position file says, never more; the part
of that one entry a kill cut short is filled from the entries before the mark. Every poll finds
the mark among Docker's last entries (a restarted node also rebuilds the ring from those before
it) and takes what follows. When Docker no longer holds the mark, everything up to its time is
skipped and the log says that output may be missing: never a repeat.

Thread use: a Streamer is a thread of its own that only appends to its run's log and position
file, and calls back when it ends; `append_system_line` may be called from any thread.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from winslow.controller.runtime import LogEntry

log = logging.getLogger(__name__)
PREFIX = b"[winslow] "
BREAK = b"\n[winslow~] "

DEFAULT_LIMIT = 1 << 30
TAIL_MAX = 64 << 20
"""The tail is held in the node's memory until the container ends: at most this much per run."""
MIN_LIMIT = 4096
FLUSH_BYTES = 1 << 20  # head bytes written (and announced) at once
SAVE_EVERY_SECONDS = 0.5  # while cutting, the position is saved this often (a restart re-reads it)
SAVE_EVERY_BYTES = 4 << 20
POLL_SECONDS = 0.5
FIRST_WINDOW = 64  # a poll asks for this many entries more than 1.25 times what the last one took
WINDOW_GROWTH = 4  # a window that missed the mark: the next is this much larger
WINDOW_ALL = 1 << 22  # a window this large asks for everything instead
_SLOT = 512


def _stamp_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def system_line(text: str, stamp: str, partial: bool) -> bytes:
    """After a partial line (a progress bar) the line starts on a new line of its own, marked so
    that the inserted newline is not counted as container output."""
    return (BREAK if partial else PREFIX) + f"{stamp} {text}\n".encode()


def _ends_partial(fh: IO[bytes]) -> bool:
    size = fh.seek(0, 2)
    if size == 0:
        return False
    fh.seek(size - 1)
    return bool(fh.read(1) != b"\n")


def append_system_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as fh:
        fh.write(system_line(line, _stamp_now(), _ends_partial(fh)))


def _system_bytes(data: bytes | mmap.mmap) -> int:
    total = 0
    for marker, starts_line in ((PREFIX, True), (BREAK, False)):
        start = 0
        while (at := data.find(marker, start)) >= 0:
            if starts_line and at > 0 and data[at - 1 : at] != b"\n":
                start = at + 1
                continue
            end = data.find(b"\n", at + 1)
            end = len(data) if end < 0 else end + 1
            total += end - at
            start = end
    return total


def container_bytes(path: Path) -> int:
    """How much container output the file holds: everything but Winslow's own lines. Mapped, not
    read: the file may hold the whole cap (a gigabyte), and this runs at every reconnect."""
    try:
        with path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return 0
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return len(data) - _system_bytes(data)
    except FileNotFoundError:
        return 0


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


@dataclass(frozen=True)
class Budget:
    head: int
    tail: int

    @classmethod
    def of(cls, limit: int) -> Budget:
        """Most of the cap for the head (written as it comes, so followers see it live); the tail
        is bounded by TAIL_MAX because it waits in memory."""
        limit = max(limit, 2)
        tail = min(limit // 2, TAIL_MAX)
        return cls(head=limit - tail, tail=tail)


class Ring:
    """The last `size` bytes pushed into it."""

    def __init__(self, size: int, data: bytes = b"") -> None:
        self.size = size
        self.chunks: deque[bytes] = deque()
        self.length = 0
        self.push(data)

    def push(self, data: bytes) -> None:
        if not data or self.size <= 0:
            return
        if len(data) >= self.size:
            self.chunks.clear()
            self.chunks.append(data[len(data) - self.size :])
            self.length = self.size
            return
        self.chunks.append(data)
        self.length += len(data)
        while self.length > self.size:
            first, over = self.chunks[0], self.length - self.size
            if len(first) <= over:
                self.chunks.popleft()
                self.length -= len(first)
            else:
                self.chunks[0] = first[over:]
                self.length -= over

    def bytes(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class Counts:
    """What the container's output did to the log so far; saved with every mark."""

    received: int = 0
    lines: int = 0
    written: int = 0
    head_lines: int = 0
    lost: bool = False
    """Output was lost while cutting (a restart after Docker rotated it away): counts are a floor."""


class Cutter:
    """The cap, pure: container bytes in, the bytes for the file out.

    `take` returns what goes into the file now (the head); `closing` what follows when the
    container has ended (one line saying what was cut, then the tail)."""

    def __init__(self, budget: Budget, counts: Counts | None = None, ring: bytes = b"") -> None:
        self.budget = budget
        self.counts = counts if counts is not None else Counts()
        self.ring = Ring(budget.tail, ring)

    def take(self, data: bytes) -> bytes:
        c = self.counts
        newlines = data.count(b"\n")
        c.received += len(data)
        c.lines += newlines
        room = self.budget.head - c.written
        if room >= len(data):
            c.written += len(data)
            c.head_lines += newlines
            return data
        keep = data[:room] if room > 0 else b""
        if keep:
            c.written += len(keep)
            c.head_lines += keep.count(b"\n")
        self.ring.push(data[len(keep) :])
        return keep

    def cut(self) -> int:
        return self.counts.received - self.counts.written - self.ring.length

    def closing(self, stamp: str, partial: bool) -> bytes:
        """`partial`: the file does not end with a newline (the head ended mid-line)."""
        kept = self.ring.bytes()
        cut = self.cut()
        if cut <= 0 and not self.counts.lost:
            return kept
        c = self.counts
        lines = c.lines - c.head_lines - kept.count(b"\n")
        text = (
            f"{cut} bytes ({lines} lines) of output were cut here; "
            f"the first {c.written} and the last {len(kept)} bytes are kept"
        )
        if c.lost:
            text = "at least " + text + " (this node restarted and Docker no longer held some of it)"
        elif len(kept) < min(self.budget.tail, c.received - c.written):
            text += f" (fewer than {self.budget.tail}: this node restarted and Docker no longer held them)"
        return system_line(text, stamp, partial) + kept


@dataclass(frozen=True)
class Position:
    """The position file's record: the last entry taken, and what followed from it."""

    budget: Budget
    counts: Counts = field(default_factory=Counts)
    stamp: str | None = None
    index: int = 0
    """Among consecutive entries of the same time (Docker splits long lines into pieces of one
    time), which one."""
    first: str | None = None
    """The time of the container's first entry: a stream that still starts with it was never rotated."""
    since: float = 0.0
    """When the streamer that wrote it began (wall clock): the drain bound counts from it."""
    closing: int = -1
    """Container bytes in the file when the closing block was about to be written, or -1."""
    closed: bool = False
    seq: int = 0

    def encode(self) -> bytes:
        c = self.counts
        text = (
            f"v1 {self.seq} {self.stamp or '-'} {self.index} {self.first or '-'} {c.received} {c.lines} "
            f"{c.written} {c.head_lines} {int(c.lost)} {self.budget.head} {self.budget.tail} "
            f"{self.since!r} {self.closing} {int(self.closed)}"
        )
        body = f"{text} {zlib.crc32(text.encode()):08x}".encode()
        assert len(body) < _SLOT
        return body.ljust(_SLOT - 1) + b"\n"

    @classmethod
    def decode(cls, raw: bytes) -> Position | None:
        try:
            text, _, crc = raw.decode("ascii").strip().rpartition(" ")
            if f"{zlib.crc32(text.encode()):08x}" != crc:
                return None
            v, seq, stamp, index, first, *numbers, since, closing, closed = text.split(" ")
            if v != "v1" or len(numbers) != 7:
                return None
            received, lines, written, head_lines, lost, head, tail_ = (int(n) for n in numbers)
            return cls(
                budget=Budget(head, tail_),
                counts=Counts(received, lines, written, head_lines, bool(lost)),
                stamp=None if stamp == "-" else stamp,
                index=int(index),
                first=None if first == "-" else first,
                since=float(since),
                closing=int(closing),
                closed=closed == "1",
                seq=int(seq),
            )
        except (UnicodeDecodeError, ValueError):
            return None

    @staticmethod
    def path_of(logfile: Path) -> Path:
        return logfile.with_name(logfile.name + ".pos")

    @classmethod
    def read(cls, logfile: Path) -> Position | None:
        """Two slots written in turn: a write cut short leaves the other one whole."""
        try:
            raw = Position.path_of(logfile).read_bytes()
        except FileNotFoundError:
            return None
        found = [cls.decode(raw[at : at + _SLOT]) for at in (0, _SLOT)]
        valid = [p for p in found if p is not None]
        return max(valid, key=lambda p: p.seq) if valid else None


@dataclass(frozen=True)
class DrainState:
    drained: bool
    since: float | None


def drain_state(logfile: Path) -> DrainState:
    """Whether the log is complete (its container ended and every byte is in), and since when
    the streamer now at work on it has been running."""
    pos = Position.read(logfile)
    if pos is None:
        return DrainState(False, None)
    return DrainState(pos.closed, pos.since or None)


class Streamer(threading.Thread):
    """Copies a container's output into its log file until the container ends, closes the log
    (marker and tail when output was cut), and calls back.

    It polls: every POLL_SECONDS it asks the runtime for the last N entries, finds its mark
    among them and takes what follows. Docker's follow stream cannot be trusted once its log
    rotates: with a reader behind by more than a file (its reader decodes far slower than a
    loud stage writes), Docker 20.10 skips the rest of that file and later replays entries. A
    window read is exact, and when Docker no longer holds the mark that is known, not hidden.
    A broken connection and a restarted node take one path: the next poll starts from the log
    and its position file."""

    def __init__(
        self,
        path: Path,
        source: Callable[[int | None], Iterator[LogEntry]],
        running: Callable[[], bool],
        done: Callable[[], None],
        limit: int = DEFAULT_LIMIT,
        clock: Callable[[], float] = time.time,
        poll: float = POLL_SECONDS,
        exited: Callable[[], object] | None = None,
        on_output: Callable[[bytes, str], None] | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        """`source(n)`: the last n entries the runtime holds (all for None), not following.
        `exited`: returns when the container has ended (Docker's wait), so that the last poll
        comes at once and not up to POLL_SECONDS later, on every stage-to-stage transition.
        `on_output`: given each piece of output once, in order, before any of it is cut, with the
        runtime's time of it, on this thread (the results and progress a stage reports, and the rows
        of its log parsers, are read from it). `before`: run first on this thread (what a resumed
        stream must know of the output copied before it)."""
        super().__init__(daemon=True, name=f"log:{path.name}")
        self.path = path
        self.source = source
        self.running = running
        self.done = done
        self.limit = limit
        self.since = clock()
        self.poll = poll
        self.exited = exited
        self.on_output = on_output
        self.before = before
        self.stopped = threading.Event()
        self.drained = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        if self.exited is not None:
            threading.Thread(target=self._await_exit, daemon=True, name=f"wait:{self.path.name}").start()
        try:
            if self.before is not None:
                self.before()
            self._copy()
        finally:
            self.done()

    def _await_exit(self) -> None:
        assert self.exited is not None
        while not self.stopped.is_set():
            try:
                self.exited()
                break
            except Exception:  # a read time-out of a long wait, a daemon restarting
                self.stopped.wait(1.0)
        self._wake.set()

    def _copy(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        session: _Session | None = None
        wait = self.poll
        try:
            while not self.stopped.is_set():
                try:
                    session = session or _Session(self)
                    if session.finished:
                        self.drained.set()
                        return
                    ended = not self.running()  # before the poll: then the poll holds everything
                    session.poll()
                    if ended and not self.stopped.is_set():
                        session.close()
                        self.drained.set()
                        return
                    wait = 0.0 if session.taken >= FIRST_WINDOW else self.poll  # loud: at once
                except Exception as exc:
                    log.info("copying the log of %s failed (%s); trying again", self.path.name, exc)
                    if session is not None:
                        session.release()
                    session, wait = None, min(max(wait * 2, 1.0), 5.0)
                self._wake.wait(wait)  # the container ending wakes it at once
        finally:
            if session is not None:
                session.release()


class _Gone(Exception):
    """The window did not reach back to the mark: ask for a larger one."""


class _Session:
    """The log and its position file, open while a streamer copies into them; built from the
    files, so that a restarted node and a reconnect after an error continue alike."""

    def __init__(self, streamer: Streamer) -> None:
        self.s = streamer
        self.path = streamer.path
        pos = Position.read(self.path)
        self.held = container_bytes(self.path)
        self.seq = pos.seq if pos else 0
        self.saved_at = 0.0
        self.saved_received = 0
        self.first = pos.first if pos else None
        self.mark: tuple[str | None, int] = (pos.stamp, pos.index) if pos else (None, 0)
        budget = pos.budget if pos else Budget.of(streamer.limit)
        self.cutter = Cutter(budget, replace(pos.counts) if pos else None)
        self.taken = 0  # entries taken by the last poll: how far back the next one must look
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.run_stamp: str | None = None
        self.run_index = 0
        self.fd = -1
        self.finished = pos is not None and pos.closed
        if self.finished:
            return
        self.fd = os.open(Position.path_of(self.path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self.out = self.path.open("ab", buffering=0)
        except OSError:
            os.close(self.fd)
            raise
        try:
            if pos is not None and pos.closing >= 0 and _size(self.path) > pos.closing:
                self._save(replace(pos, closed=True))  # the closing block was written before a restart
                self.finished = True
                return
            self._plan(pos)
            self._save(self._position())  # `since`: the drain bound counts from this streamer
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.out.close()
            self.fd = -1

    def _plan(self, pos: Position | None) -> None:
        """What the first poll must restore: the part of the last head write a kill cut short
        (`deficit`), and the ring, from the entries before the mark."""
        counts = self.cutter.counts
        self.deficit = self.extra = self.ring_need = self.behind = 0
        if pos is None or pos.stamp is None:
            # nothing marked yet: the file holds the output's first bytes (an older node kept no
            # position; Docker rotates long after a run's first mark is saved)
            self.cutter.counts = Counts()
            self.unmarked = self.held
            return
        self.unmarked = -1
        self.deficit = max(0, counts.written - self.held)
        self.extra = max(0, self.held - counts.written)
        after_head = counts.received - counts.written
        self.ring_need = min(self.cutter.budget.tail, after_head) if after_head > 0 else 0
        self.behind = counts.received - self.held if self.deficit else 0

    def poll(self) -> None:
        if self.mark[0] is None:
            self._pass(None, self._unmarked)
            return
        window: int | None = self.taken + self.taken // 4 + FIRST_WINDOW
        while True:
            try:
                self._pass(window, self._search)
                return
            except _Gone:
                if window is None:
                    self._pass(None, self._lost)
                    return
                window = window * WINDOW_GROWTH if window * WINDOW_GROWTH < WINDOW_ALL else None

    def _pass(self, window: int | None, admit: Callable[[LogEntry, int, bool], bytes]) -> None:
        self.run_stamp, self.run_index, self.taken = None, 0, 0
        self.searching = True
        self.window = Ring(max(self.ring_need, self.behind))
        entries = self.s.source(window)
        try:
            for count, entry in enumerate(entries, 1):
                if self.s.stopped.is_set():
                    return
                self._track(entry.stamp)
                data = admit(entry, count, window is None)
                if data:
                    self.taken += 1
                    self._take(data)
        finally:
            close = getattr(entries, "close", None)
            if close is not None:
                close()  # a window given up early: its connection goes now, not when collected
        if self.taken or self.pending:
            self._flush()
        if self.searching and admit == self._search:
            raise _Gone  # the mark was not in it
        if self.searching and admit == self._lost and self.run_stamp is not None:
            # nothing after the mark's time (a clock stepped back): the next poll starts here
            self.mark = (self.run_stamp, self.run_index)

    def _track(self, stamp: str) -> None:
        if stamp == self.run_stamp:
            self.run_index += 1
        else:
            self.run_stamp, self.run_index = stamp, 0
        if self.first is None:
            self.first = stamp

    def _unmarked(self, entry: LogEntry, count: int, whole: bool) -> bytes:
        """No mark: skip as many bytes as the file holds, from the container's first entry."""
        cut = min(self.unmarked, len(entry.data))
        if cut:
            newlines = entry.data[:cut].count(b"\n")
            c = self.cutter.counts
            c.received += cut
            c.written += cut
            c.lines += newlines
            c.head_lines += newlines
            self.unmarked -= cut
        return entry.data[cut:]

    def _search(self, entry: LogEntry, count: int, whole: bool) -> bytes:
        if not self.searching:
            return self._extra(entry.data)
        stamp, index = self.mark
        assert stamp is not None
        if count == 1 and not (entry.stamp < stamp or entry.stamp == self.first):
            # the window starts at or after the mark's time (or inside its run of pieces): the
            # mark is further back, or Docker no longer holds it
            raise _Gone
        self.window.push(entry.data)
        if (entry.stamp, self.run_index) == (stamp, index):
            if self.window.length < self.window.size and not whole and count > 1:
                raise _Gone  # not enough before the mark to restore from: look further back
            self._resume()
        return b""

    def _extra(self, data: bytes) -> bytes:
        """After the mark: what the file holds beyond it (never, unless a container wrote
        Winslow's own prefix) is skipped, the rest is new."""
        if not self.extra:
            return data
        cut = min(self.extra, len(data))
        self.extra -= cut
        self._unmarked_count(data[:cut])
        return data[cut:]

    def _unmarked_count(self, data: bytes) -> None:
        c, newlines = self.cutter.counts, data.count(b"\n")
        c.received += len(data)
        c.written += len(data)
        c.lines += newlines
        c.head_lines += newlines

    def _resume(self) -> None:
        """At the mark, on the first poll after a restart: the part of the last head write that
        a kill cut short, and the ring, from the entries just before it."""
        self.searching = False
        c, window = self.cutter.counts, self.window.bytes()
        if self.deficit:
            if len(window) >= self.behind:
                start = len(window) - self.behind
                self._write(window[start : start + self.deficit])
            else:
                self._note_missing()
                c.written = self.held
        self.cutter.ring.push(window[len(window) - min(self.ring_need, len(window)) :])
        self.deficit = self.ring_need = self.behind = 0
        self.held = c.written

    def _lost(self, entry: LogEntry, count: int, whole: bool) -> bytes:
        """Docker no longer holds the mark: what it holds up to the mark's time was taken."""
        if not self.searching:
            return entry.data
        stamp = self.mark[0]
        assert stamp is not None
        if entry.stamp <= stamp:
            return b""
        self.searching = False
        c = self.cutter.counts
        if c.written < self.cutter.budget.head or self.deficit:
            self._note_missing()
            c.written = min(c.written, self.held)
        else:
            c.lost = True
        self.deficit = self.ring_need = self.behind = self.extra = 0
        log.warning("log of %s: Docker no longer held output this node had not copied", self.path.name)
        return entry.data

    def _note_missing(self) -> None:
        self._flush()
        text = (
            "output may be missing here: Docker no longer held what this node had not copied yet "
            "(it was away, or behind, while the stage wrote more than Docker keeps)"
        )
        with self.path.open("a+b") as fh:
            fh.write(system_line(text, _stamp_now(), _ends_partial(fh)))

    def _take(self, data: bytes) -> None:
        assert self.run_stamp is not None
        if self.s.on_output is not None:
            self.s.on_output(data, self.run_stamp)
        keep = self.cutter.take(data)
        self.mark = (self.run_stamp, self.run_index)
        if keep:
            self.pending.append(keep)
            self.pending_size += len(keep)
        if (
            self.pending_size >= FLUSH_BYTES
            or time.monotonic() - self.saved_at > SAVE_EVERY_SECONDS
            or self.cutter.counts.received - self.saved_received > SAVE_EVERY_BYTES
        ):
            self._flush()

    def _flush(self) -> None:
        """The position first, then the head bytes it counts: a kill in between leaves the file
        short of what the position says, never longer, and the next poll makes up the rest."""
        self._save(self._position())
        if self.pending:
            data = b"".join(self.pending)
            self.pending, self.pending_size = [], 0
            self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self.out.write(view) or 0 :]

    def _position(self) -> Position:
        return Position(
            budget=self.cutter.budget,
            counts=replace(self.cutter.counts),
            stamp=self.mark[0],
            index=self.mark[1],
            first=self.first,
            since=self.s.since,
        )

    def _save(self, pos: Position) -> None:
        self.seq += 1
        os.pwrite(self.fd, replace(pos, seq=self.seq).encode(), (self.seq % 2) * _SLOT)
        self.saved_at, self.saved_received = time.monotonic(), pos.counts.received

    def close(self) -> None:
        """The marker and the tail in one write, announced by the file's size before it: a
        restart that finds the file longer knows the block is there and never writes it twice."""
        if self.searching is True and self.mark[0] is not None and self.deficit:
            self._note_missing()
        self._flush()
        with self.path.open("rb") as fh:
            partial = _ends_partial(fh)
        block = self.cutter.closing(_stamp_now(), partial)
        if block:
            self._save(replace(self._position(), closing=_size(self.path)))
            self._write(block)
        self._save(replace(self._position(), closed=True))
        self.release()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
