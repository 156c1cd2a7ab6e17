"""Unfinished uploads expire: a node removes the partial files (`.NAME.upload`, api.uploads) that
aborted uploads left in `resources/` and `workspaces/` once they were untouched for `max_age`.

A live upload is never removed: it writes its partial file, which moves the file's mtime, and it
holds the file's lock, which the sweep tests before it unlinks (an upload that arrives meanwhile
waits for the sweep and then starts a new file: api.uploads re-opens a partial renamed or gone
under it). A client that resumes after `max_age` starts over from byte 0, which it is told by
HEAD ?upload=true.

What decides (`expired`, with the clock passed in) is apart from what walks the share
(`Sweeper`), so the rule is tested without files of a certain age. The walk runs in a thread of
its own, at most every `every` seconds, and is built for a share that users and stages fill:
every directory is opened relative to its parent with O_NOFOLLOW, so no link leads it out of the
two trees; it goes `MAX_DEPTH` folders deep and spends at most `budget` seconds a sweep; whatever
fails (a folder it may not read, a file gone meanwhile) is logged once and skipped. Every node
sweeps; two removing the same file is harmless.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import random
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from winslow.api.server.sharepaths import ROOTS
from winslow.api.server.uploads import upload_of
from winslow.resources.folders import DIR_FLAGS

log = logging.getLogger(__name__)

DEFAULT_HOURS = 24.0
EVERY = 3600.0  # seconds between sweeps: an hour's precision is plenty for an age of hours
FIRST = 900.0  # the first sweep waits for the node's start, and restarts, to settle
PACE = 0.01  # seconds between two folders: a network share's client serves one request at a time,
# and the node's leases and event log wait behind whatever a sweep asks of it
BUDGET = 60.0  # seconds one sweep may spend walking; the next starts over
MAX_DEPTH = 64
MAX_TOLD = 1000  # distinct problems remembered, so each is logged once and memory stays bounded
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def hours(text: str) -> float:
    """`--upload-max-age`: hours, more than zero (zero would take every paused upload)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give the hours as a number above 0, e.g. 24 or 0.5")
    return value


@dataclass(frozen=True)
class Partial:
    """A partial upload file as one directory listing saw it."""

    name: str
    mtime: float


def expired(partials: Iterable[Partial], now: float, max_age: float) -> list[Partial]:
    """Those untouched for longer than `max_age` seconds at `now`. A file from the future (a clock
    that went back, a node whose clock is ahead) is not old."""
    return [p for p in partials if now - p.mtime > max_age]


class Sweeper:
    """Removes expired partial uploads under `root`'s resources/ and workspaces/, in a thread."""

    def __init__(
        self,
        root: Path,
        max_age: float,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        every: float = EVERY,
        budget: float = BUDGET,
        max_depth: int = MAX_DEPTH,
        pace: float = PACE,
    ) -> None:
        self.root = root
        self.pace = pace
        self.max_age = max_age
        self.clock = clock
        self.monotonic = monotonic
        self.every = every
        self.budget = budget
        self.max_depth = max_depth
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told: set[tuple[str, int]] = set()

    def start(self, first: float = FIRST) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(first,), name="winslow-upload-sweep", daemon=True
        )
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait)

    def _run(self, first: float) -> None:
        delay = first
        while not self._stop.wait(delay):
            try:
                self.sweep()
            except Exception:  # the thread must outlive any surprise; the next sweep tries again
                log.exception("sweeping unfinished uploads failed; trying again in %.0f s", self.every)
            delay = self.every

    def sweep(self) -> list[str]:
        """One pass over both trees; the paths (relative to the share) it removed."""
        removed: list[str] = []
        deadline = self.monotonic() + self.budget
        try:
            share = os.open(self.root, DIR_FLAGS)
        except OSError as exc:
            self._tell(str(self.root), exc)
            return removed
        try:
            for tree in ROOTS:
                if not self._walk(share, tree, tree, 0, deadline, removed):
                    if self._stop.is_set():
                        break
                    log.info(
                        "sweeping unfinished uploads took %.0f s; the next sweep starts over", self.budget
                    )
                    break
        finally:
            os.close(share)
        for path in removed:
            log.info("removed %s: an upload unfinished for more than %.1f h", path, self.max_age / 3600)
        return removed

    def _walk(
        self, parent: int, name: str, where: str, depth: int, deadline: float, removed: list[str]
    ) -> bool:
        """False once the time is up or the node stops."""
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if depth == 0 or exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                self._tell(where, exc)  # below the trees: gone, or swapped for a link since listed
            return True
        try:
            folders, partials = self._list(fd, where)
            for partial in expired(partials, self.clock(), self.max_age):
                if self._remove(fd, partial, f"{where}/{partial.name}"):
                    removed.append(f"{where}/{partial.name}")
            if depth >= self.max_depth:
                if folders:
                    self._tell(
                        where, OSError(errno.ELOOP, f"more than {self.max_depth} folders deep; not swept")
                    )
                return True
            random.shuffle(folders)  # a sweep cut short by its budget does not always miss the same ones
            for folder in folders:
                if self._stop.wait(self.pace) or self.monotonic() > deadline:
                    return False
                if not self._walk(fd, folder, f"{where}/{folder}", depth + 1, deadline, removed):
                    return False
            return True
        finally:
            os.close(fd)

    def _list(self, fd: int, where: str) -> tuple[list[str], list[Partial]]:
        folders: list[str] = []
        partials: list[Partial] = []
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.name)
                        elif upload_of(entry.name) is not None:
                            st = entry.stat(follow_symlinks=False)
                            if stat.S_ISREG(st.st_mode):
                                partials.append(Partial(entry.name, st.st_mtime))
                    except OSError as exc:
                        if exc.errno != errno.ENOENT:
                            self._tell(f"{where}/{entry.name}", exc)
        except OSError as exc:
            self._tell(where, exc)
        return folders, partials

    def _remove(self, parent: int, partial: Partial, where: str) -> bool:
        """Only the file that was listed, only if still old, and only if no upload holds it: a
        shared lock is refused while a writer holds its exclusive one (and needs no write access,
        which NFS would want for an exclusive lock)."""
        try:
            fd = os.open(partial.name, FILE_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ELOOP):
                self._tell(where, exc)
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # an upload is writing it right now
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not expired(
                [Partial(partial.name, st.st_mtime)], self.clock(), self.max_age
            ):
                return False
            now = os.stat(partial.name, dir_fd=parent, follow_symlinks=False)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return False  # replaced since it was opened: that one is someone else's
            os.unlink(partial.name, dir_fd=parent)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._tell(where, exc)
            return False
        finally:
            os.close(fd)

    def _tell(self, where: str, exc: OSError) -> None:
        key = (where, exc.errno or 0)
        if key in self._told or len(self._told) >= MAX_TOLD:
            return
        self._told.add(key)
        log.warning("sweeping unfinished uploads: skipped %s: %s", where, exc.strerror or exc)
