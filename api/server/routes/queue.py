"""The stages that wait for resources, in the order they start: who waits behind whom, and why.

Read from the projects' statuses (the queue entries their reconcilers write), so it is what the
nodes themselves defer by. A project the caller may not see is listed without its name or stage,
so that everyone sees how long the queue in front of them is, not what others run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from winslow.api.server import answers
from winslow.api.server.access import may_access
from winslow.api.server.auth import CurrentUser
from winslow.api.server.deps import Ctx
from winslow.resources.errors import InvalidFileError, NotFoundError

router = APIRouter(prefix="/api/v1", tags=["queue"], responses=answers.ERRORS)


@router.get(
    "/queue",
    summary="The stages waiting for a node, a quota or another project, in the order they start",
    response_model=answers.QueueList,
)
def queue(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    items = []
    for position, (name, entry) in enumerate(ctx.layout.store.queue(), start=1):
        try:
            seen = user.admin or may_access(user, ctx.layout.store.project(name))
        except (NotFoundError, InvalidFileError):
            continue  # its project is gone or broken: its status no longer says anything
        items.append(
            {
                "position": position,
                "project": name if seen else None,
                "stage": entry.stage if seen else None,
                "matrix": entry.matrix if seen else {},
                "priority": entry.priority,
                "owner": entry.owner if seen else None,
                "request": entry.request,
                "since": entry.since.isoformat(),
                "waitingSeconds": max(0.0, (now - entry.since).total_seconds()),
                "why": entry.why.value,
                "detail": entry.detail if seen else "",
            }
        )
    return {"apiVersion": "winslow/v1", "kind": "List", "items": items}
