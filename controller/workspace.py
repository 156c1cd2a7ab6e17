"""Preparing a StageRun's workspace: a copy of an earlier one, made visible only when complete.

A stage may leave anything in its workspace, so the copy walks the tree itself and never opens
what could block: directories are made, symbolic links are copied as links (never followed),
regular files are opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat before a byte is
read, and special files (FIFOs, sockets, devices) are left out and named to the caller, who
says so in the run's log. A named pipe that `open` would wait on forever is never opened.

A regular file is copied by the cheapest correct means the file system offers: a reflink
(FICLONE) where the file system shares extents, `copy_file_range` where the kernel copies in
place, and a plain read and write otherwise. `progress` is called as the copy advances, so a
caller can tell a long copy from a stalled one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

FICLONE = 0x40049409
_CHUNK = 64 << 20  # per copy_file_range call: progress is reported at least this often
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def special_kind(mode: int) -> str:
    for check, what in (
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if check(mode):
            return what
    return "special file"


def copy_fd(fsrc: int, fdst: int, size: int, progress: Progress = _quiet, what: str = "") -> None:
    """All `size` bytes of one open regular file into another."""
    try:
        fcntl.ioctl(fdst, FICLONE, fsrc)
        return
    except OSError:
        pass
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(fsrc, fdst, min(_CHUNK, size - copied))
            if n == 0:
                break
            copied += n
            progress(what)
        if copied == size:
            return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    os.lseek(fsrc, 0, os.SEEK_SET)
    os.lseek(fdst, 0, os.SEEK_SET)
    os.ftruncate(fdst, 0)
    while chunk := os.read(fsrc, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fdst, view) :]
        progress(what)


def copy_file(src: str, dst: str, progress: Progress = _quiet) -> bool:
    """Copies a regular file with its mode and times; False (nothing written) if `src` is not a
    regular file after all, which is never opened in a way that could block."""
    fsrc = os.open(src, _READ_FLAGS)
    try:
        st = os.fstat(fsrc)
        if not stat.S_ISREG(st.st_mode):
            return False
        fcntl.fcntl(fsrc, fcntl.F_SETFL, fcntl.fcntl(fsrc, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        fdst = os.open(dst, _WRITE_FLAGS, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
        try:
            copy_fd(fsrc, fdst, st.st_size, progress, src)
            os.fchmod(fdst, stat.S_IMODE(st.st_mode))
            os.utime(fdst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fdst)
    finally:
        os.close(fsrc)
    return True


def copy_tree(source: Path, target: Path, progress: Progress = _quiet) -> list[str]:
    """Copies `source` into the new directory `target`, without recursion and without following
    a link; returns the special files left out, as `path (kind)` relative to `source`."""
    skipped: list[str] = []
    os.mkdir(target)
    folders: list[tuple[str, str]] = [(str(source), str(target))]
    pending = [""]
    while pending:
        rel = pending.pop()
        src_dir, dst_dir = os.path.join(source, rel), os.path.join(target, rel)
        with os.scandir(src_dir) as it:
            entries = list(it)
        for entry in entries:
            name = os.path.join(rel, entry.name)
            src, dst = entry.path, os.path.join(dst_dir, entry.name)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:  # removed while we copy
                continue
            progress(name)
            if stat.S_ISDIR(mode):
                os.mkdir(dst)
                folders.append((src, dst))
                pending.append(name)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(src), dst)
                shutil.copystat(src, dst, follow_symlinks=False)
            elif not stat.S_ISREG(mode) or not copy_file(src, dst, progress):
                skipped.append(f"{name} ({special_kind(mode)})")
    for src, dst in reversed(folders):  # last: copying into a folder changes its times
        shutil.copystat(src, dst, follow_symlinks=False)
    return skipped


def prepare(target: Path, source: Path | None, progress: Progress = _quiet) -> list[str]:
    """Make `target` a copy of `source` (or empty), atomically: a half copy is never visible.

    Returns the special files of `source` that were not copied (see `copy_tree`)."""
    if target.exists():
        return []
    staging = target.with_name(f".{target.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    skipped: list[str] = []
    if source is None:
        staging.mkdir(parents=True)
    else:
        staging.parent.mkdir(parents=True, exist_ok=True)
        skipped = copy_tree(source, staging, progress)
    os.chmod(staging, 0o777)
    os.replace(staging, target)
    return skipped
