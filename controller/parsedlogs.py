"""A run's parsed log: the rows its log parsers find in its output (resources.parsedrows),
appended to `.winslow/parsed/NAME.csv` in its workspace, where the files API serves them and
the project page charts them.

Each file starts with its header (`time` and the pattern's named groups); each batch of rows is
one `write` of whole lines to a file opened for appending, so a reader sees whole rows (a node
killed mid-write can leave a part of one: readers ignore a last line without its newline). A
file stops growing at MAX_ROWS rows or MAX_FILE_BYTES bytes.

The workspace is the stage's: its container may have put a link or a pipe where a file is
expected, so every step is opened without following links and only a regular file is written.
Nothing here ever stops the copy of the log it is fed from: a failure is logged once, and the
rows are given up.

Thread use: fed on the run's streamer thread only.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from winslow.resources.folders import open_dir
from winslow.resources.parsedrows import LineParser, Parser, Row, csv_line

log = logging.getLogger(__name__)

FOLDER = (".winslow", "parsed")
MAX_ROWS = 100_000
MAX_FILE_BYTES = 64 << 20
_FILE_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def csv_path(workspace: Path, parser: str) -> Path:
    return workspace.joinpath(*FOLDER, f"{parser}.csv")


@dataclass
class _File:
    fd: int
    rows: int
    size: int


class ParsedLog:
    """`fresh`: the run's output is read from its start, so a file of the same name that its
    workspace already holds was copied from the run it continues, and is begun anew."""

    def __init__(
        self,
        workspace: Path,
        parsers: Sequence[Parser],
        fresh: bool,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.workspace = workspace
        self.parsers = {p.name: p for p in parsers}
        self.fresh = fresh
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lines = LineParser(parsers)
        self._files: dict[str, _File] = {}
        self._said: set[str] = set()
        self._begun = False

    def feed(self, data: bytes, stamp: str) -> None:
        if not self.parsers:
            return
        if not self._begun:
            self._begun = True
            self._open_all()
        try:
            rows = self._lines.feed(data, stamp)
        except Exception as exc:  # a bug here must not stop the log's copy
            self._once("parse", f"reading its output for its log parsers failed: {exc}")
            return
        by_parser: dict[str, list[Row]] = {}
        for row in rows:
            by_parser.setdefault(row.parser, []).append(row)
        for name, found in by_parser.items():
            try:
                self._append(name, found)
            except Exception as exc:
                self._once(name, f"could not write .winslow/parsed/{name}.csv: {exc}")

    def close(self) -> None:
        for file in self._files.values():
            os.close(file.fd)
        self._files.clear()

    def _append(self, name: str, rows: list[Row]) -> None:
        file = self._files.get(name) or self._open(name)
        room = min(len(rows), self.max_rows - file.rows)
        data = b"".join(row.csv() for row in rows[: max(room, 0)])
        if room < len(rows) or file.size + len(data) > self.max_bytes:
            self._once(f"full:{name}", f".winslow/parsed/{name}.csv is full; later rows are not written")
            while data and file.size + len(data) > self.max_bytes:
                data = data[: data.rfind(b"\n", 0, len(data) - 1) + 1]
        if data:
            _write(file.fd, data)
            file.size += len(data)
            file.rows += data.count(b"\n")

    def _open(self, name: str) -> _File:
        folder = open_dir(str(self.workspace), FOLDER, create=True)  # .winslow/parsed, never through a link
        try:
            flags = _FILE_FLAGS | (os.O_TRUNC if self.fresh else 0)
            fd = os.open(f"{name}.csv", flags, 0o644, dir_fd=folder)
        finally:
            os.close(folder)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file (a pipe, a device?)")
            file = _File(fd, *_counted(fd, st.st_size))
            if file.size == 0:
                header = csv_line(self.parsers[name].header)
                _write(fd, header)
                file.size = len(header)
            elif not _ends_line(fd, file.size):
                _write(fd, b"\n")  # a row cut short by a kill stays a line of its own
                file.size += 1
                file.rows += 1
        except BaseException:
            os.close(fd)
            raise
        self._files[name] = file
        return file

    def _open_all(self) -> None:
        """Every parser's file, with its header, from the first output on: a chart can say that
        no line matched yet, and a fresh run's files replace copied ones even where none matches."""
        for name in self.parsers:
            try:
                self._open(name)
            except Exception as exc:
                self._once(name, f"could not write .winslow/parsed/{name}.csv: {exc}")

    def _once(self, what: str, text: str) -> None:
        if what not in self._said:
            self._said.add(what)
            log.warning("StageRun %s: %s", self.workspace.name, text)


def _counted(fd: int, size: int) -> tuple[int, int]:
    """Rows already in a file (a restarted node continues it), header not counted."""
    lines, at = 0, 0
    while at < size:
        chunk = os.pread(fd, 1 << 20, at)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        at += len(chunk)
    return max(lines - 1, 0), size


def _ends_line(fd: int, size: int) -> bool:
    return os.pread(fd, 1, size - 1) == b"\n"


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
