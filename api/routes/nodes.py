"""Nodes: what every daemon published about itself; every user may read it.

A node names the StageRuns it runs (`status.running`, PROJECT.N.STAGE). A user sees only those
of projects they may see (api.access), and how many others there are (`status.runningHidden`):
the resource totals stay whole, so what is reserved still adds up, but no name of another
user's project leaks through a node. Admins see every run.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from winslow.api.access import Visibility
from winslow.api.deps import ApiContext, context, current_user
from winslow.api.routes.manifests import as_list
from winslow.api.users import User
from winslow.controller.monitor import NodeDirectory
from winslow.controller.skew import WARN_SECONDS, offsets, warning
from winslow.resources.errors import NotFoundError
from winslow.resources.node import Node
from winslow.resources.stagerun import project_of

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"], dependencies=[Depends(current_user)])


def _visible_run(visible: Visibility, run: str) -> bool:
    """A name that does not parse names no project anyone may vouch for: admins only."""
    try:
        return visible(project_of(run))
    except ValueError:
        return visible.user.admin


def _view(ctx: ApiContext, node: Node, found: dict[str, float], visible: Visibility) -> dict[str, Any]:
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
    return data


def _offsets(ctx: ApiContext, nodes: list[Node]) -> dict[str, float]:
    theirs = {n.metadata.name: n.status.clock_offsets for n in nodes}
    return offsets(ctx.node, ctx.events.skew.estimates(), theirs)


@router.get("", summary="List nodes")
def list_nodes(ctx: ApiContext = Depends(context), user: User = Depends(current_user)) -> dict[str, Any]:
    nodes = sorted(NodeDirectory(ctx.layout.nodes).all(), key=lambda n: n.metadata.name)
    found = _offsets(ctx, nodes)
    visible = Visibility(ctx, user)
    listing = as_list([_view(ctx, n, found, visible) for n in nodes])
    skewed = [warning(ctx.node, peer, v) for peer, v in sorted(found.items()) if abs(v) > WARN_SECONDS]
    if skewed:
        listing["warnings"] = skewed
    return listing


@router.get("/{name}", summary="Get one node")
def get(name: str, ctx: ApiContext = Depends(context), user: User = Depends(current_user)) -> dict[str, Any]:
    nodes = NodeDirectory(ctx.layout.nodes).all()
    for node in nodes:
        if node.metadata.name == name:
            return _view(ctx, node, _offsets(ctx, nodes), Visibility(ctx, user))
    raise NotFoundError(f"node {name!r} not found (it publishes run/nodes/{name}.yaml while it runs)")
