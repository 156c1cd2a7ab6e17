"""Reading a regular file from the share: bounded, never blocking, past a stale cached size.

Only a regular file is read: it is opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat, so
a FIFO or a device at a file's name is refused at once instead of blocking the node, and its
size is capped before it is read. On a network or FUSE share the client may hold the old size
of a file another machine replaced; a read up to that size would return half of the new file,
so there the file is read with O_DIRECT, which asks the server.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from pathlib import Path

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.limits import MiB

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
TRANSIENT = (errno.ESTALE, errno.EIO, errno.EINTR, errno.EAGAIN)


def _kind_of(mode: int) -> str:
    for check, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if check(mode):
            return what
    return "not a regular file"


def _human(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size} bytes"


class Refused(Exception):
    """The file cannot be read; `version` tells this state of it from the next one. `retry`: an
    I/O error, such as the ESTALE of a file a network share replaced while we opened it."""

    def __init__(self, error: InvalidFileError, version: bytes, retry: bool = False) -> None:
        super().__init__(error.reason)
        self.error = error
        self.version = version
        self.retry = retry


def read_regular(path: Path, source: str, max_bytes: int, setting: str = "") -> bytes:
    """The bytes of a regular file of at most `max_bytes`; never blocks on a FIFO or a device."""
    try:
        return read_versioned(path, source, max_bytes, setting)
    except Refused as refused:
        raise refused.error from None


def read_versioned(path: Path, source: str, max_bytes: int, setting: str) -> bytes:
    direct = network_share(path)
    try:
        fd = _open(path, direct)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"{source} does not exist") from None
    except OSError as exc:
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            what = f"is {_kind_of(st.st_mode)}; the share holds regular files only"
        else:
            what = f"cannot be opened ({exc.strerror or exc})"
        version = f"open:{exc.errno}:{st.st_ino if st else 0}:{st.st_mtime_ns if st else 0}".encode()
        raise Refused(InvalidFileError.at(source, what), version, retry=exc.errno in TRANSIENT) from None
    try:
        st = os.fstat(fd)
        version = f"stat:{st.st_mode}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
        if not stat.S_ISREG(st.st_mode):
            message = f"is {_kind_of(st.st_mode)}, not a regular file; remove it"
            raise Refused(InvalidFileError.at(source, message), version)
        too_large = InvalidFileError.at(
            source,
            f"is {_human(st.st_size)}, over the limit of {_human(max_bytes)}; make it smaller"
            + (f" or raise {setting} on every node" if setting else ""),
        )
        if st.st_size > max_bytes:
            raise Refused(too_large, version)
        data = _read_direct(fd, max_bytes) if direct else _read_plain(fd, max_bytes)
        if data is None:  # it grew while we read
            raise Refused(too_large, version)
        return data
    except OSError as exc:
        error = InvalidFileError.at(source, f"cannot be read ({exc.strerror or exc})")
        raise Refused(error, f"io:{exc.errno}".encode(), retry=True) from None
    finally:
        os.close(fd)


_BLOCK = 4096
_NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "9p", "ceph", "glusterfs", "lustre", "gpfs")


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system type), longest mount point first."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3:
            found.append((parts[1].replace("\\040", " "), parts[2]))
    return sorted(found, key=lambda m: len(m[0]), reverse=True)


_MOUNTS = _mounts()


def network_share(path: Path) -> bool:
    """Whether `path` is on a network or FUSE file system, whose client may hold a replaced
    file's old size: reading up to that size would return half of the new file."""
    text = str(path)
    for point, kind in _MOUNTS:
        if text == point or text.startswith(point.rstrip("/") + "/"):
            return kind in _NETWORK_TYPES or kind.startswith("fuse.")
    return False


def _open(path: Path, direct: bool) -> int:
    if direct:
        try:  # reads the server's file as it is, past a size the client cached
            return os.open(path, _OPEN_FLAGS | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, _OPEN_FLAGS)


def _read_plain(fd: int, max_bytes: int) -> bytes | None:
    chunks, total = [], 0
    while chunk := os.read(fd, max_bytes + 1 - total):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            return None
    return b"".join(chunks)


def _read_direct(fd: int, max_bytes: int) -> bytes | None:
    """Into an aligned buffer from aligned offsets, as O_DIRECT wants; plain reads where the file
    system refuses it."""
    size = (max_bytes // _BLOCK + 2) * _BLOCK
    buffer = mmap.mmap(-1, size)
    try:
        total = 0
        while total < size:
            try:
                count = os.preadv(fd, [memoryview(buffer)[total:]], total)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                if total:
                    break  # an unaligned offset after a short read: that read ended the file
                os.lseek(fd, 0, os.SEEK_SET)
                return _read_plain(fd, max_bytes)
            if count == 0:
                break
            total += count
        return None if total > max_bytes else bytes(buffer[:total])
    finally:
        buffer.close()
