"""Preparing a StageRun's workspace: a copy of an earlier one, made visible only when complete.

The copy uses the cheapest correct means the file system offers: a reflink (FICLONE) where the
file system shares extents, `copy_file_range` where the kernel copies in place, and a plain read
and write otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

FICLONE = 0x40049409
_CHUNK = 1 << 30


def copy_file(src: str, dst: str) -> None:
    with open(src, "rb") as fsrc, open(dst, "wb") as fdst:
        try:
            fcntl.ioctl(fdst.fileno(), FICLONE, fsrc.fileno())
            return
        except OSError:
            pass
        size = os.fstat(fsrc.fileno()).st_size
        try:
            copied = 0
            while copied < size:
                n = os.copy_file_range(fsrc.fileno(), fdst.fileno(), min(_CHUNK, size - copied))
                if n == 0:
                    break
                copied += n
            if copied == size:
                return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        fsrc.seek(0)
        fdst.seek(0)
        fdst.truncate()
        shutil.copyfileobj(fsrc, fdst, 1 << 20)


def _copy_with_metadata(src: str, dst: str) -> str:
    copy_file(src, dst)
    shutil.copystat(src, dst)
    return dst


def prepare(target: Path, source: Path | None) -> None:
    """Make `target` a copy of `source` (or empty), atomically: a half copy is never visible."""
    if target.exists():
        return
    staging = target.with_name(f".{target.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    if source is None:
        staging.mkdir(parents=True)
    else:
        shutil.copytree(source, staging, symlinks=True, copy_function=_copy_with_metadata)
    os.chmod(staging, 0o777)
    os.replace(staging, target)
