"""StageRuns: list, get, kill, and the live log with offsets for gap-free reconnects.

A StageRun belongs to its project: only those who may see the project see its runs and logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from winslow.api.identity.users import User
from winslow.api.server import answers
from winslow.api.server.access import Visibility, check_project
from winslow.api.server.auth import CurrentUser, current_user
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.names import DNS_LABEL, RunName
from winslow.api.server.routes.manifests import INVALID, as_list
from winslow.controller.events import Command
from winslow.controller.subjects import lease_subject
from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.stagerun import StageRun, project_of

router = APIRouter(
    prefix="/api/v1/stageruns",
    tags=["stageruns"],
    dependencies=[Depends(current_user)],
    responses=answers.ERRORS,
)
CHUNK = 1 << 16
FOLLOW_POLL = 0.2


Entry = StageRun | InvalidFileError


def current(ctx: ApiContext, run: StageRun) -> StageRun:
    """The file with the state the event log records, which a file on a network share may lag."""
    record = ctx.events.view().runs.get(run.metadata.name)
    return run if record is None else run.model_copy(update={"status": record.status()})


def runs(ctx: ApiContext, project: str | None) -> list[Entry]:
    """Runs in creation order, with the files that cannot be read as their errors."""
    store = ctx.layout.store
    if project:
        # a project's own order is its run numbers, not clocks
        return [_current(ctx, r) for r in store.read_stageruns(project)]
    found = [(p, _current(ctx, r)) for p in store.stagerun_projects() for r in store.read_stageruns(p)]
    return [r for _, r in sorted(found, key=lambda pair: _order(*pair))]


def _current(ctx: ApiContext, entry: Entry) -> Entry:
    return entry if isinstance(entry, InvalidFileError) else current(ctx, entry)


def _order(project: str, entry: Entry) -> tuple[float, str, int]:
    if isinstance(entry, InvalidFileError):
        return (0.0, project, _number(entry.name or ""))
    stamp = entry.metadata.creation_timestamp
    return (stamp.timestamp() if stamp else 0.0, project, _number(entry.metadata.name))


def _number(name: str) -> int:
    parts = name.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def invalid_run(project: str, error: InvalidFileError) -> dict[str, Any]:
    return {
        "apiVersion": "winslow/v1",
        "kind": "StageRun",
        "metadata": {"name": error.name},
        "spec": {"project": project},
        "status": {"phase": INVALID, "message": error.reason},
    }


def get_run(ctx: ApiContext, user: User, name: str) -> StageRun:
    """The project is checked first: a run of a project the user may not see answers exactly as
    one that does not exist."""
    check_project(ctx, user, project_of(name), must_exist=False)
    return current(ctx, ctx.layout.store.stagerun(name))


def kill_stagerun(ctx: ApiContext, run: StageRun, who: str) -> dict[str, Any]:
    name = run.metadata.name
    if not run.status.phase.active:
        return {"killed": [], "detail": f"{name} is {run.status.phase.value}, not running"}
    ctx.events.publish(Command.KILL, lease_subject(name), message=f"{who} (via {ctx.node})")
    return {"killed": [name]}


@router.get(
    "",
    summary="List the StageRuns you may see in creation order, optionally of one project",
    response_model=answers.RunList,
    response_model_exclude_unset=True,
)
def list_runs(
    ctx: Ctx,
    user: CurrentUser,
    project: str | None = Query(None, pattern=DNS_LABEL, max_length=63),
) -> dict[str, Any]:
    if project is not None:
        check_project(ctx, user, project, must_exist=False)
    visible = Visibility(ctx, user)
    items, warnings = [], []
    uid = _project_uid(ctx, project) if project is not None else None
    for entry in runs(ctx, project):
        if isinstance(entry, InvalidFileError):
            owner = project_of(entry.name or "")
            if visible(owner):
                items.append(invalid_run(owner, entry))
                warnings.append(f"StageRun {entry.name} is {INVALID}: {entry.reason}")
        elif visible(entry.spec.project) and entry.spec.project_uid in (None, uid or entry.spec.project_uid):
            items.append(entry.to_wire())
    return as_list(items, warnings)


def _project_uid(ctx: ApiContext, project: str) -> str | None:
    """The uid of the project of that name now: runs of an earlier one of its name are not its
    history. None (every run of the name) when it has none or is gone."""
    try:
        return ctx.layout.store.project(project).metadata.uid
    except (NotFoundError, InvalidFileError):
        return None


@router.get("/{name}", summary="Get one StageRun", response_model=StageRun, response_model_exclude_unset=True)
def get(name: RunName, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return get_run(ctx, user, name).to_wire()


@router.post(
    "/{name}/kill",
    summary="Stop a running StageRun wherever it runs",
    response_model=answers.Killed,
    response_model_exclude_unset=True,
)
def kill(name: RunName, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    return kill_stagerun(ctx, get_run(ctx, user, name), user.name)


@router.get(
    "/{name}/log",
    summary="The StageRun's log from a byte offset; follow=true streams until the run ends",
    description="Reconnect with `offset` = the bytes received so far: the stream continues exactly "
    "there, with no gap and no repeat.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def log(
    name: RunName,
    ctx: Ctx,
    user: CurrentUser,
    follow: bool = Query(False),
    offset: int = Query(0, ge=0, le=2**62),
) -> StreamingResponse:
    run = get_run(ctx, user, name)
    path = ctx.layout.log_file(run.spec.project, name)

    def finished() -> bool:
        record = ctx.events.view().runs.get(name)
        if record is not None:
            return not record.phase.active
        try:
            return not ctx.layout.store.stagerun(name).status.phase.active
        except (NotFoundError, InvalidFileError):
            return True

    async def body() -> AsyncIterator[bytes]:
        position, last_pass = offset, not follow
        while True:
            # The state is read before the file, and one more pass follows the end: the node that
            # records the result appends its closing `[winslow]` line just after, and it belongs.
            ended = last_pass
            last_pass = last_pass or finished()
            try:
                with path.open("rb") as fh:
                    fh.seek(position)
                    while chunk := fh.read(CHUNK):
                        position += len(chunk)
                        yield chunk
                        await asyncio.sleep(0)
            except FileNotFoundError:
                pass
            if ended:
                return
            await asyncio.sleep(FOLLOW_POLL)

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")
