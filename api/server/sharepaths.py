"""Mapping `/api/v1/files/{path}` onto the share without ever leaving `resources/` or a workspace.

Stages write into their workspaces, so they can plant symbolic links there (to `/etc`, or to
another project's workspace) and swap directories for links while a request runs. Two layers stop
that: the requested path is resolved with `realpath` and must stay inside its fence
(`resources/` or `workspaces/<project>/`), and then every component of the resolved path is
opened relative to its parent with `O_NOFOLLOW`, so a link that appears after the check is
refused instead of followed.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from fastapi import HTTPException

from winslow.api.server.errors import SHARE_ERRORS

ROOTS = ("resources", "workspaces")
MAX_NAME = 255
_PROJECT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def bad_path(raw: str, why: str) -> HTTPException:
    return HTTPException(400, f"{raw!r}: {why}; paths look like resources/DIR/FILE or workspaces/PROJECT/...")


@dataclass(frozen=True)
class TreePath:
    """A checked path in the file tree: `resources/...`, `workspaces` or `workspaces/<project>/...`."""

    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "/".join(self.parts)

    @property
    def project(self) -> str | None:
        return self.parts[1] if self.parts[0] == "workspaces" and len(self.parts) > 1 else None

    @property
    def is_anchor(self) -> bool:
        """`resources`, `workspaces` or `workspaces/<project>`: folders the API never replaces or removes."""
        return len(self.parts) <= (2 if self.parts[0] == "workspaces" else 1)

    @property
    def name(self) -> str:
        return self.parts[-1]


def _decoded(raw: str) -> str:
    """Decode until stable, so `%2e%2e` and `%252e%252e` are seen for the `..` they mean."""
    for _ in range(4):
        more = unquote(raw)
        if more == raw:
            break
        raw = more
    return raw


def parse(raw: str) -> TreePath:
    """Refuses anything that could mean a different place than it spells: 400 and nothing touched."""
    if raw.startswith("/") or _decoded(raw).startswith("/"):
        raise bad_path(raw, "absolute paths are not allowed")
    for variant in (raw, _decoded(raw)):
        if "\x00" in variant or "\\" in variant:
            raise bad_path(raw, "backslashes and NUL bytes are not allowed")
        if any(part in (".", "..") for part in variant.split("/")):
            raise bad_path(raw, "'.' and '..' are not allowed")
    parts = tuple(part for part in raw.split("/") if part)
    if not parts or parts[0] not in ROOTS:
        raise bad_path(raw, "the path must start with resources/ or workspaces/")
    if any(len(part.encode()) > MAX_NAME for part in parts):
        raise bad_path(raw, f"a name is longer than {MAX_NAME} bytes")
    if len(parts) > 1 and parts[0] == "workspaces" and not _PROJECT.match(parts[1]):
        raise bad_path(raw, f"{parts[1]!r} is not a project name")
    return TreePath(parts)


@dataclass(frozen=True)
class Located:
    """Where a TreePath really is: `rel` are real (link-free) components below `top`, inside `fence`."""

    top: str
    fence: str
    rel: tuple[str, ...]

    @property
    def real(self) -> str:
        return os.path.join(self.top, *self.rel)


def _inside(path: str, fence: str) -> bool:
    return path == fence or path.startswith(fence + os.sep)


def locate(share: Path, tp: TreePath, *, write: bool = False) -> Located:
    """For reads the whole path is resolved; for writes only the parent, and the target itself is
    opened with O_NOFOLLOW (or, when deleted, removed as the link it is)."""
    top = os.path.realpath(share / tp.parts[0])
    fence = os.path.join(top, tp.project) if tp.project else top
    target = os.path.join(top, *tp.parts[1:])
    if write and not tp.is_anchor:
        real = os.path.join(os.path.realpath(os.path.dirname(target)), tp.name)
    else:
        real = os.path.realpath(target)
    if not _inside(real, fence):
        where = f"workspaces/{tp.project}/" if tp.project else f"{tp.parts[0]}/"
        raise HTTPException(403, f"{tp.text} leads outside {where} (through a symbolic link); refused")
    rel = () if real == top else tuple(os.path.relpath(real, top).split(os.sep))
    return Located(top, fence, rel)


def inside(located: Located, path: str) -> bool:
    """Whether a link found in a listing stays inside the fence (else it is left out)."""
    return _inside(os.path.realpath(path), located.fence)


_STATUS = {
    errno.ENOENT: (404, "no such file or directory"),
    errno.ENOTDIR: (409, "a part of the path is a file, not a directory"),
    errno.EISDIR: (409, "is a directory"),
    errno.EEXIST: (409, "already exists"),
    errno.ENOTEMPTY: (409, "directory not empty"),
    errno.ELOOP: (403, "a part of the path is a symbolic link; refused"),
    errno.EACCES: (403, "the node may not access it"),
    errno.EPERM: (403, "the node may not access it"),
    errno.ENAMETOOLONG: (400, "name too long"),
    **SHARE_ERRORS,  # a full or read-only share answers the same everywhere
}


@contextmanager
def translated(tp: TreePath) -> Iterator[None]:
    """OS errors become HTTP errors that name the user's path, never the node's share path."""
    try:
        yield
    except OSError as exc:
        status, why = _STATUS.get(exc.errno or 0, (500, exc.strerror or "file system error"))
        retry = {"Retry-After": "10"} if exc.errno in SHARE_ERRORS else None
        raise HTTPException(status, f"{tp.text}: {why}", headers=retry) from None
