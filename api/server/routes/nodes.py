"""Nodes: what every daemon published about itself; every user may read it.

A node names the StageRuns it runs (`status.running`, PROJECT.N.STAGE). A user sees only those
of projects they may see (api.access), and how many others there are (`status.runningHidden`):
the resource totals stay whole, so what is reserved still adds up, but no name of another
user's project leaks through a node. Admins see every run.

A node that stopped or went silent stays listed, NotReady since then (`status.ready`,
`status.notReadySince`, `status.condition`), until an admin deletes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from winslow.api.server import answers
from winslow.api.server.access import Visibility
from winslow.api.server.auth import AdminUser, CurrentUser, current_user
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.routes.manifests import as_list
from winslow.controller.monitor import NodeDirectory, readiness
from winslow.controller.skew import WARN_SECONDS, offsets, warning
from winslow.resources.errors import NotFoundError
from winslow.resources.node import Node
from winslow.resources.stagerun import project_of

router = APIRouter(
    prefix="/api/v1/nodes", tags=["nodes"], dependencies=[Depends(current_user)], responses=answers.ERRORS
)


def _visible_run(visible: Visibility, run: str) -> bool:
    """A name that does not parse names no project anyone may vouch for: admins only."""
    try:
        return visible(project_of(run))
    except ValueError:
        return visible.user.admin


def _view(
    ctx: ApiContext, node: Node, found: dict[str, float], visible: Visibility, beat: float | None
) -> dict[str, Any]:
    """The node file as `visible` may see it, with its clock's offset from this node's
    (`status.clockOffsetSeconds`)."""
    data = node.to_wire()
    shown = [run for run in node.status.running if _visible_run(visible, run)]
    data["status"]["running"] = shown
    data["status"]["runningHidden"] = len(node.status.running) - len(shown)
    name = node.metadata.name
    offset = 0.0 if name == ctx.node else found.get(name)
    if offset is not None:
        data["status"]["clockOffsetSeconds"] = round(offset, 3)
    condition = readiness(node, ctx.clock() + (offset or 0.0), beat)  # its heartbeat: on its own clock
    data["status"]["ready"] = condition.ready
    if not condition.ready:
        data["status"]["notReadySince"] = condition.since.isoformat() if condition.since else None
        data["status"]["condition"] = condition.reason
    return data


def _offsets(ctx: ApiContext, nodes: list[Node]) -> dict[str, float]:
    theirs = {n.metadata.name: n.status.clock_offsets for n in nodes}
    return offsets(ctx.node, ctx.events.skew.estimates(), theirs)


@router.get("", summary="List nodes", response_model=answers.NodeList, response_model_exclude_unset=True)
def list_nodes(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    directory = NodeDirectory(ctx.layout.nodes)
    nodes = sorted(directory.all(), key=lambda n: n.metadata.name)
    found = _offsets(ctx, nodes)
    visible = Visibility(ctx, user)
    listing = as_list([_view(ctx, n, found, visible, directory.beat(n.metadata.name)) for n in nodes])
    skewed = [warning(ctx.node, peer, v) for peer, v in sorted(found.items()) if abs(v) > WARN_SECONDS]
    if skewed:
        listing["warnings"] = skewed
    return listing


@router.get(
    "/{name}", summary="Get one node", response_model=answers.NodeView, response_model_exclude_unset=True
)
def get(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    directory = NodeDirectory(ctx.layout.nodes)
    nodes = directory.all()
    for node in nodes:
        if node.metadata.name == name:
            return _view(ctx, node, _offsets(ctx, nodes), Visibility(ctx, user), directory.beat(name))
    raise NotFoundError(f"node {name!r} not found (it publishes run/nodes/{name}.yaml while it runs)")


@router.delete(
    "/{name}",
    summary="Forget a node that is gone for good (admins; not while it is Ready)",
    response_model=answers.Deleted,
)
def forget(name: str, ctx: Ctx, _: AdminUser) -> dict[str, Any]:
    directory = NodeDirectory(ctx.layout.nodes)
    for node in directory.all():
        if node.metadata.name == name:
            if readiness(node, ctx.clock(), directory.beat(name)).ready:
                raise HTTPException(409, f"node {name!r} is Ready; stop it first (it comes back if it runs)")
            ctx.layout.node_file(name).unlink(missing_ok=True)
            (ctx.layout.nodes / f"{name}.beat").unlink(missing_ok=True)
            return {"deleted": name}
    raise NotFoundError(f"node {name!r} not found")
