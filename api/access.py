"""Who may see and change a project: its owner, its members (users or `group:NAME`) and admins.

Everything that belongs to a project (spec, status, actions, StageRuns, logs, its workspace)
asks the same question here, so the rule cannot drift between routes. A project whose spec is
gone (its StageRuns, logs and workspace remain) has nobody to vouch for it: admins only.
"""

from __future__ import annotations

from fastapi import HTTPException

from winslow.api.deps import ApiContext
from winslow.api.users import User
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.project import Project


def may_access(user: User, project: Project | None) -> bool:
    if user.admin:
        return True
    if project is None:
        return False
    spec = project.spec
    if spec.owner == user.name or user.name in spec.members:
        return True
    return any(f"group:{group}" in spec.members for group in user.groups)


def find_project(ctx: ApiContext, name: str) -> Project | None:
    try:
        return ctx.layout.store.project(name)
    except (NotFoundError, ManifestError, ValueError, OSError):
        return None


def refuse(user: User, name: str) -> HTTPException:
    return HTTPException(
        403,
        f"{user.name!r} is not the owner, a member or an admin of project {name!r}; "
        "its owner can add you to spec.members (a user name or group:NAME)",
    )


def check_project(ctx: ApiContext, user: User, name: str, *, must_exist: bool = True) -> Project | None:
    """The project if the user may use it, else 403; 404 when there is no (readable) spec.

    With `must_exist=False` an admin still reaches what a project left behind (StageRuns, logs,
    workspace) after its spec was deleted, or while it does not parse.
    """
    project = find_project(ctx, name)
    if project is None:
        left = not must_exist or ctx.layout.store.spec_path("Project", name).exists()
        if user.admin and left:
            return None
        raise NotFoundError(f"Project {name!r} not found")
    if not may_access(user, project):
        raise refuse(user, name)
    return project


class Visibility:
    """Per-request memo of "may this user see project P?", for listings over many StageRuns."""

    def __init__(self, ctx: ApiContext, user: User) -> None:
        self.ctx = ctx
        self.user = user
        self._seen: dict[str, bool] = {}

    def __call__(self, project: str) -> bool:
        if project not in self._seen:
            self._seen[project] = self.user.admin or may_access(self.user, find_project(self.ctx, project))
        return self._seen[project]
