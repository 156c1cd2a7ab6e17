"""Disk use on the share: each project's workspaces, logs, input and output (`winsctl top projects`).

A user sees the projects they may see (api.access), an admin every project. The figures come from
bounded walks that never follow a link and are cached for a minute (controller/diskuse.py): they
are for display, and say when they are partial.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from winslow.api.server import answers
from winslow.api.server.access import Visibility, check_project
from winslow.api.server.auth import CurrentUser, current_user
from winslow.api.server.deps import Ctx
from winslow.api.server.names import DNS_LABEL
from winslow.controller.diskuse import ProjectUsage, for_share

router = APIRouter(
    prefix="/api/v1/disk", tags=["disk"], dependencies=[Depends(current_user)], responses=answers.ERRORS
)

BUDGET_SECONDS = 30.0
"""How long one request walks in all; projects it did not reach get their last walk, or are left out."""


def wire(usage: ProjectUsage) -> dict[str, Any]:
    return {
        "project": usage.project,
        "workspaces": usage.workspaces,
        "workspaceBytes": usage.bytes["workspaces"],
        "logBytes": usage.bytes["logs"],
        "inputBytes": usage.bytes["input"],
        "outputBytes": usage.bytes["output"],
        "otherBytes": usage.bytes["other"],
        "totalBytes": usage.total,
        "partial": usage.partial,
        "measuredAt": datetime.fromtimestamp(usage.measured, UTC),
    }


@router.get(
    "/projects",
    summary="Each project's disk use on the share: workspaces (count and bytes), logs, input, output",
    description="Largest first. Bytes on disk as `du -s -B1` counts them, from walks that never follow "
    "a link, capped in entries and time (`partial` then) and cached for a minute.",
    response_model=answers.ProjectDiskList,
)
def projects_disk(
    ctx: Ctx,
    user: CurrentUser,
    project: str | None = Query(
        None, pattern=DNS_LABEL, max_length=63, description="only this project (a project's name)"
    ),
) -> dict[str, Any]:
    if project is not None:
        check_project(ctx, user, project, must_exist=False)
        names = [project]
    else:
        visible = Visibility(ctx, user)
        names = [n for n in ctx.layout.store.names("Project") if visible(n)]
    found = for_share(ctx.layout).projects(names, budget_seconds=BUDGET_SECONDS)
    found.sort(key=lambda u: (-u.total, u.project))
    return {"items": [wire(u) for u in found]}
