"""StageRuns: list, get, kill, and the live log with offsets for gap-free reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.deps import ApiContext, context
from api.routes.manifests import as_list
from controller.events import Command
from resources.errors import NotFoundError
from resources.stagerun import StageRun, project_of

router = APIRouter(prefix="/api/v1/stageruns", tags=["stageruns"])
CHUNK = 1 << 16


def runs(ctx: ApiContext, project: str | None) -> list[StageRun]:
    store = ctx.layout.store
    projects = [project] if project else list(store.stagerun_projects())
    found = [r for p in projects for r in store.stageruns_of(p)]
    return sorted(
        found,
        key=lambda r: (
            r.metadata.creation_timestamp.timestamp() if r.metadata.creation_timestamp else 0.0,
            r.metadata.name,
        ),
    )


def get_run(ctx: ApiContext, name: str) -> StageRun:
    try:
        project_of(name)
    except ValueError as exc:
        raise NotFoundError(str(exc)) from None
    return ctx.layout.store.stagerun(name)


@router.get("", summary="List StageRuns in creation order, optionally of one project")
def list_runs(project: str | None = Query(None), ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    return as_list([r.to_wire() for r in runs(ctx, project)])


@router.get("/{name}", summary="Get one StageRun")
def get(name: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    return get_run(ctx, name).to_wire()


@router.post("/{name}/kill", summary="Stop a running StageRun wherever it runs")
def kill(name: str, ctx: ApiContext = Depends(context), who: str = "a user") -> dict[str, Any]:
    run = get_run(ctx, name)
    if not run.status.phase.active:
        return {"killed": [], "detail": f"{name} is {run.status.phase.value}, not running"}
    ctx.events.publish(Command.KILL, f"stagerun/{name}", message=f"{who} (via {ctx.node})")
    return {"killed": [name]}


@router.get("/{name}/log", summary="The StageRun's log from a byte offset; follow=true streams until it ends")
async def log(
    name: str,
    follow: bool = Query(False),
    offset: int = Query(0, ge=0),
    ctx: ApiContext = Depends(context),
) -> StreamingResponse:
    run = get_run(ctx, name)
    path = ctx.layout.log_file(run.spec.project, name)

    async def body() -> AsyncIterator[bytes]:
        position = offset
        while True:
            try:
                with path.open("rb") as fh:
                    fh.seek(position)
                    while chunk := fh.read(CHUNK):
                        position += len(chunk)
                        yield chunk
            except FileNotFoundError:
                pass
            if not follow:
                return
            try:
                done = not ctx.layout.store.stagerun(name).status.phase.active
            except NotFoundError:
                done = True
            if done and (not path.exists() or path.stat().st_size <= position):
                return
            await asyncio.sleep(0.2)

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")
