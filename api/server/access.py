"""Who may see and change a project: its owner, its members (users or `group:NAME`) and admins.

Everything that belongs to a project (spec, status, actions, StageRuns, logs, its workspace)
asks the same question here, so the rule cannot drift between routes. A project whose spec is
gone (its StageRuns, logs and workspace remain) has nobody to vouch for it: admins only.

A user who may not use a project gets the same answer whether it exists or not (`hidden`), so
names of other users' projects cannot be probed. A project whose file is broken keeps its
owner and members when the file still decodes far enough to name them; otherwise admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from winslow.api.identity.users import User
from winslow.api.server.deps import ApiContext
from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.project import Project


@dataclass(frozen=True)
class Members:
    owner: str | None
    members: tuple[str, ...]


def members_of(project: Project) -> Members:
    return Members(project.spec.owner, tuple(project.spec.members))


def recovered_members(broken: InvalidFileError) -> Members | None:
    """Owner and members of a project file that does not validate, if they still read cleanly."""
    document: Any = broken.document
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        return None
    owner, members = spec.get("owner"), spec.get("members", [])
    if not isinstance(owner, str) or not isinstance(members, list):
        return None
    if not all(isinstance(m, str) for m in members):
        return None
    return Members(owner, tuple(members))


def allows(user: User, members: Members | None) -> bool:
    if user.admin:
        return True
    if members is None:
        return False
    if members.owner == user.name or user.name in members.members:
        return True
    return any(f"group:{group}" in members.members for group in user.groups)


def may_access(user: User, project: Project | None) -> bool:
    return allows(user, members_of(project) if project is not None else None)


@dataclass(frozen=True)
class Found:
    """A project's spec as the share has it: valid, broken, or missing (both None)."""

    project: Project | None = None
    broken: InvalidFileError | None = None

    @property
    def members(self) -> Members | None:
        if self.project is not None:
            return members_of(self.project)
        return recovered_members(self.broken) if self.broken is not None else None


def find(ctx: ApiContext, name: str) -> Found:
    try:
        return Found(project=ctx.layout.store.project(name))
    except NotFoundError:
        return Found()
    except InvalidFileError as exc:
        return Found(broken=exc)


def hidden(name: str) -> NotFoundError:
    """The one answer for a project that does not exist and one the user may not use."""
    return NotFoundError(
        f"project {name!r} not found, or you are not the owner, a member or an admin of it "
        "(its owner can add you to spec.members: a user name or group:NAME)"
    )


def refuse(user: User, name: str) -> HTTPException:
    """Applying a project that exists and is not the user's. Applying one that does not exist
    creates it, so this answer cannot be the same as for a missing project, and need not be."""
    return HTTPException(
        403,
        f"{user.name!r} is not the owner, a member or an admin of project {name!r}; "
        "its owner can add you to spec.members (a user name or group:NAME)",
    )


def check_project(ctx: ApiContext, user: User, name: str, *, must_exist: bool = True) -> Project | None:
    """The project if the user may use it; else the `hidden` 404, exists or not.

    A broken spec is the caller's to see (InvalidFileError, with file, line and field) if the
    user may see the project. With `must_exist=False` an admin still reaches what a project left
    behind (StageRuns, logs, workspace) after its spec was deleted, and anyone who may see a
    broken project reaches its runs, logs and workspace (None).
    """
    found = find(ctx, name)
    if not allows(user, found.members):
        raise hidden(name)
    if found.project is not None:
        return found.project
    if found.broken is not None:
        if must_exist:
            raise found.broken
        return None
    if must_exist:
        raise NotFoundError(f"project {name!r} not found")
    return None


class Visibility:
    """Per-request memo of "may this user see project P?", for listings over many StageRuns."""

    def __init__(self, ctx: ApiContext, user: User) -> None:
        self.ctx = ctx
        self.user = user
        self._seen: dict[str, bool] = {}

    def __call__(self, project: str) -> bool:
        if project not in self._seen:
            self._seen[project] = self.user.admin or allows(self.user, find(self.ctx, project).members)
        return self._seen[project]
