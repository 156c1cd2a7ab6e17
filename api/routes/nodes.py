"""Nodes: what every daemon published about itself; every user may read it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from winslow.api.deps import ApiContext, context, current_user
from winslow.api.routes.manifests import as_list
from winslow.controller.monitor import NodeDirectory
from winslow.controller.skew import WARN_SECONDS, offsets, warning
from winslow.resources.errors import NotFoundError
from winslow.resources.node import Node

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"], dependencies=[Depends(current_user)])


def _view(ctx: ApiContext, node: Node, found: dict[str, float]) -> dict[str, Any]:
    """The node file, with its clock's offset from this node's (`status.clockOffsetSeconds`)."""
    data = node.to_wire()
    name = node.metadata.name
    offset = 0.0 if name == ctx.node else found.get(name)
    if offset is not None:
        data["status"]["clockOffsetSeconds"] = round(offset, 3)
    return data


def _offsets(ctx: ApiContext, nodes: list[Node]) -> dict[str, float]:
    theirs = {n.metadata.name: n.status.clock_offsets for n in nodes}
    return offsets(ctx.node, ctx.events.skew.estimates(), theirs)


@router.get("", summary="List nodes")
def list_nodes(ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    nodes = sorted(NodeDirectory(ctx.layout.nodes).all(), key=lambda n: n.metadata.name)
    found = _offsets(ctx, nodes)
    listing = as_list([_view(ctx, n, found) for n in nodes])
    skewed = [warning(ctx.node, peer, v) for peer, v in sorted(found.items()) if abs(v) > WARN_SECONDS]
    if skewed:
        listing["warnings"] = skewed
    return listing


@router.get("/{name}", summary="Get one node")
def get(name: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    nodes = NodeDirectory(ctx.layout.nodes).all()
    for node in nodes:
        if node.metadata.name == name:
            return _view(ctx, node, _offsets(ctx, nodes))
    raise NotFoundError(f"node {name!r} not found (it publishes run/nodes/{name}.yaml while it runs)")
