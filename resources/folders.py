"""Opening a folder on the share one component at a time, never through a link.

A stage or a user may leave a symbolic link where a folder is expected (a workspace is theirs to
fill); a path resolved by the kernel in one go would follow it out of the share. Each component
is opened relative to the one before with O_NOFOLLOW, so a link anywhere below `top` is refused.
`top` itself is the node's own (the share's root, a run's workspace) and is opened as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(top: str, parts: Sequence[str], *, create: bool = False) -> int:
    """Opens top/parts one component at a time, never following a link (mkdir -p when `create`)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd
