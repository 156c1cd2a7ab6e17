"""Small files of the event log: the events themselves, and the heads every node keeps.

A head is a file of fixed size rewritten in place with the last number a node published (and
`run/head`, the highest anyone did): read after open it is fresh under close-to-open
consistency, where a file replaced by rename may still be read in its old version, and a new
name may still be "absent" to a client that looked for it before. It is created at its full
size at once, because a client that cached a smaller size reads only that much. A node's
heartbeat beside its status file (controller.monitor) is such a file too: rewritten in place,
it takes no new block, so a full share still takes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import read_regular

_WIDTH = 20  # a value written twice: a torn read shows as two different values


class Unreadable(Exception):
    """Something sits at an event's name that is not a readable file (a directory, a FIFO)."""


def read_file(path: Path, limit: int) -> bytes:
    """A regular file's bytes, never blocking on a FIFO and never following a link; raises
    FileNotFoundError or Unreadable."""
    try:
        return read_regular(path, str(path), limit)
    except NotFoundError:
        raise FileNotFoundError(path) from None
    except InvalidFileError as exc:
        raise Unreadable(exc.reason) from None


def peek(path: Path, limit: int) -> bytes:
    """Up to `limit` bytes at `path`, at the cost of one open and one read: where all that is
    asked is whether the file is still the one read there before. Never blocks on a FIFO and never
    follows a link; raises FileNotFoundError, or OSError for what cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def write_fixed(path: Path, value: bytes, *, only_if_new: bool = False) -> None:
    """`value` (at most 20 bytes) twice, in place, at a constant size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        if not only_if_new or os.fstat(fd).st_size == 0:
            padded = value.rjust(_WIDTH, b"0") if value[:1] != b"-" else value.rjust(_WIDTH)
            os.pwrite(fd, padded + b" " + padded + b"\n", 0)
    finally:
        os.close(fd)


def read_fixed(path: Path) -> bytes | None:
    """The value, or None when the file is missing, torn, new or not ours."""
    try:
        parts = read_file(path, 64).split()
    except (FileNotFoundError, Unreadable):
        return None
    if len(parts) != 2 or parts[0] != parts[1]:
        return None
    return parts[0]


def create_head(path: Path) -> None:
    write_fixed(path, b"-1", only_if_new=True)


def write_head(path: Path, seq: int) -> None:
    write_fixed(path, b"%d" % seq)


def read_head(path: Path) -> int | None:
    value = read_fixed(path)
    return int(value) if value is not None and value.isdigit() else None
