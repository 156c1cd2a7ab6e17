"""Setting a workspace aside and deleting it, never following a link out of it.

A workspace that retention removes is first renamed, under its project's lock, to a hidden trash
name beside it (`.<run>.<nonce>.removing`): a rename is atomic, so no one ever sees half a
workspace under the run's own name, and the lock is held only for the rename. Deleting the trash
then takes as long as it takes, on a thread of its own, and a node that dies half way leaves a
trash folder that the next pass of any node deletes.

A stage may leave anything in its workspace (links to `/etc`, to another project, folders it made
read-only): every folder is opened relative to its parent with O_NOFOLLOW and emptied through
that descriptor, a link is unlinked (never followed), and a folder without write permission for
the node is given it (fchmod on the descriptor) before its entries go.

Thread use: any thread; each call works on paths no one else writes.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

TRASH_SUFFIX = ".removing"
MARKER_SUFFIX = ".removed"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_trash(name: str) -> bool:
    return name.startswith(".") and name.endswith(TRASH_SUFFIX)


def set_aside(workspace: Path) -> Path | None:
    """Rename the workspace to a trash name beside it (None: it was not there). A link in its
    place is unlinked, never followed."""
    try:
        st = os.lstat(workspace)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(workspace)
        return None
    trash = workspace.with_name(f".{workspace.name}.{secrets.token_hex(4)}{TRASH_SUFFIX}")
    os.rename(workspace, trash)
    return trash


def remove_tree(path: Path) -> None:
    """Remove `path` and all it holds without following a link anywhere below its parent."""
    parent = os.open(path.parent, _DIR_FLAGS)
    try:
        _remove(parent, path.name)
    finally:
        os.close(parent)


def _remove(dir_fd: int, name: str) -> None:
    """Depth first with one descriptor per level; entries are removed relative to their folder."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    stack: list[tuple[int, int, str, list[str]]] = []  # (parent fd, fd, name, entries left)
    fd = _open_dir(dir_fd, name)
    stack.append((dir_fd, fd, name, _names(fd)))
    try:
        while stack:
            parent, fd, here, left = stack[-1]
            if not left:
                stack.pop()
                os.close(fd)
                os.rmdir(here, dir_fd=parent)
                continue
            entry = left.pop()
            try:
                mode = os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode):
                child = _open_dir(fd, entry)
                stack.append((fd, child, entry, _names(child)))
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        for _, fd, _, _ in stack:
            os.close(fd)


def _open_dir(dir_fd: int, name: str) -> int:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)  # a folder swapped for a link is refused
    mode = os.fstat(fd).st_mode
    if mode & stat.S_IRWXU != stat.S_IRWXU:  # a folder the stage made read-only
        os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
    return fd


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as it:
        return [e.name for e in it]
