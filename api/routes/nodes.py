"""Nodes: what every daemon published about itself; every user may read it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from winslow.api.deps import ApiContext, context, current_user
from winslow.api.routes.manifests import as_list
from winslow.controller.monitor import NodeDirectory
from winslow.resources.errors import NotFoundError

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"], dependencies=[Depends(current_user)])


@router.get("", summary="List nodes")
def list_nodes(ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    nodes = sorted(NodeDirectory(ctx.layout.nodes).all(), key=lambda n: n.metadata.name)
    return as_list([n.to_wire() for n in nodes])


@router.get("/{name}", summary="Get one node")
def get(name: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    for node in NodeDirectory(ctx.layout.nodes).all():
        if node.metadata.name == name:
            return node.to_wire()
    raise NotFoundError(f"node {name!r} not found (it publishes run/nodes/{name}.yaml while it runs)")
