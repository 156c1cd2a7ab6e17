"""Project actions: pause, resume (optionally from a stage), confirm, kill, set env.

Each one is recorded in the project's spec in a level-triggered way (or, for kill, as a KILL
event), so the same moves work by editing the manifest by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel, Field, field_validator, model_validator

from winslow.api.identity.users import User
from winslow.api.server import answers, spec_changes
from winslow.api.server.access import check_project
from winslow.api.server.auth import CurrentUser
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.names import Name
from winslow.api.server.routes.manifests import project_status, project_view
from winslow.api.server.routes.stageruns import kill_stagerun
from winslow.reconcilers.project.plan import ended_badly, refreshed, run_from_problem, snapshot_for
from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.pipeline import StageSpec, valid_matrix
from winslow.resources.project import PipelineSnapshot, Project, ProjectPhase


def allowed(name: Name, ctx: Ctx, user: CurrentUser) -> User:
    """Every action changes the project, so it needs the rights on it (api.access)."""
    check_project(ctx, user, name)
    return user


Allowed = Annotated[User, Depends(allowed)]


router = APIRouter(
    prefix="/api/v1/projects", tags=["actions"], dependencies=[Depends(allowed)], responses=answers.ERRORS
)


class ResumeBody(BaseModel):
    from_stage: str | None = Field(default=None, alias="from", description="rerun from this stage")
    keep_snapshot: bool = Field(
        default=False,
        alias="keepSnapshot",
        description="rerun the pipeline as the project took it, not as it is now",
    )
    matrix: dict[str, list[str]] | None = Field(
        default=None,
        description="with `from`: sweep that stage over these values, one run per combination "
        '(`{"LR": ["0.1", "0.2"]}`), instead of its own matrix',
    )

    _valid_matrix = field_validator("matrix")(lambda sweep: valid_matrix(sweep))

    @model_validator(mode="after")
    def _matrix_needs_a_stage(self) -> ResumeBody:
        if self.matrix is not None and self.from_stage is None:
            raise ValueError(
                "matrix sweeps the stage named in `from`; name it (winsctl resume P --from STAGE)"
            )
        return self


class ConfirmBody(BaseModel):
    stage: str | None = Field(default=None, description="the stage to confirm; default: the one waiting")


class EnvBody(BaseModel):
    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


def _now(ctx: ApiContext) -> str:
    return datetime.fromtimestamp(ctx.clock(), UTC).isoformat()


@router.post(
    "/{name}/pause",
    summary="Let the running stage finish, then start nothing more",
    response_model=answers.ProjectView,
    response_model_exclude_unset=True,
)
def pause(name: Name, ctx: Ctx) -> dict[str, Any]:
    project = spec_changes.update_project(
        ctx, name, lambda _: {"paused": True}, f"POST /api/v1/projects/{name}/pause"
    )
    return project_view(ctx, project)


def _snapshot(ctx: ApiContext, name: str, resume: bool = False) -> tuple[PipelineSnapshot | None, list[str]]:
    """What the project runs (its snapshot once started, else what it would take) and, for a
    resume, what the pipeline as it is now changes in it (plan.refreshed)."""
    project = ctx.layout.store.project(name)
    status = project_status(ctx, name)
    pipeline = None
    if project.spec.pipeline is not None:
        try:
            pipeline = ctx.layout.store.pipeline(project.spec.pipeline)
        except (NotFoundError, InvalidFileError):
            pipeline = None
    own = status.pipeline if status is not None and status.uid in (None, project.metadata.uid) else None
    snap = snapshot_for(project, pipeline, own)
    if not resume or snap is None or own is None:
        return snap, []
    fresh, changes = refreshed(project, pipeline, snap)
    return fresh, changes


def _known_stage(
    ctx: ApiContext, name: str, stage: str, field: str, snap: PipelineSnapshot | None = None
) -> list[StageSpec]:
    stages = (snap or _snapshot(ctx, name)[0] or PipelineSnapshot(stages=[])).stages
    names = [s.name for s in stages]
    if stage not in names:
        raise HTTPException(
            422, f"{field}: {stage!r} is not a stage of project {name!r}; its stages: {', '.join(names)}"
        )
    return stages


@router.post(
    "/{name}/resume",
    summary="Continue; with `from`, rerun that stage and all after it",
    response_model=answers.Resumed,
    response_model_exclude_unset=True,
)
def resume(
    name: Name,
    ctx: Ctx,
    user: Allowed,
    body: ResumeBody | None = Body(None),
) -> dict[str, Any]:
    """A resume is recorded as a request (`spec.runFrom`) whenever it starts a stage, so that the
    StageRun it starts says it was started by a user."""
    stage = body.from_stage if body else None
    keep = body.keep_snapshot if body else False
    sweep = body.matrix if body else None
    ctx.events.poll()
    runs = ctx.events.view().runs.of(name, ctx.layout.store.project(name).metadata.uid)
    snap, changes = _snapshot(ctx, name, resume=not keep)
    if stage is not None:
        problem = run_from_problem(_known_stage(ctx, name, stage, "from", snap), runs, stage)
        if problem:
            raise HTTPException(422, f"from: cannot rerun from {stage!r} now: {problem}")
    stopped = ended_badly(snap.stages if snap else [], runs)

    taken: list[str] = []

    def edit(project: Project) -> dict[str, Any]:
        change: dict[str, Any] = {"paused": False}
        if stage is not None or stopped or project.spec.paused:
            change["runFrom"] = {"stage": stage, "requestedAt": _now(ctx), "by": user.name}
            if keep:
                change["runFrom"]["keepSnapshot"] = True
            if sweep is not None:
                change["runFrom"]["matrix"] = sweep
            taken[:] = changes
        return change

    project = spec_changes.update_project(ctx, name, edit, f"POST /api/v1/projects/{name}/resume: from")
    return {**project_view(ctx, project), "pipelineChanges": taken}


@router.post(
    "/{name}/confirm",
    summary="Let a stage waiting for confirmation start",
    response_model=answers.ProjectView,
    response_model_exclude_unset=True,
)
def confirm(
    name: Name,
    ctx: Ctx,
    user: Allowed,
    body: ConfirmBody | None = Body(None),
) -> dict[str, Any]:
    stage = body.stage if body else None
    if stage is not None:
        _known_stage(ctx, name, stage, "stage")
    else:
        status = project_status(ctx, name)
        if status is None or "waits for confirmation" not in status.reason:
            state = f"{status.phase.value}: {status.reason}" if status else "not started yet"
            raise HTTPException(
                409,
                f"nothing in project {name!r} waits for confirmation ({state}); "
                "name a stage to confirm it ahead of time",
            )
        # while another branch runs, the stage the status names is that one: the gate is the first waiting
        stage = status.current_stage if status.phase is ProjectPhase.WAITING else None
    project = spec_changes.update_project(
        ctx,
        name,
        lambda _: {"confirm": {"stage": stage, "requestedAt": _now(ctx), "by": user.name}},
        f"POST /api/v1/projects/{name}/confirm: stage",
    )
    return project_view(ctx, project)


@router.post(
    "/{name}/env",
    summary="Set or unset project env; it applies from the next StageRun on",
    response_model=answers.ProjectView,
    response_model_exclude_unset=True,
)
def set_env(name: Name, body: EnvBody, ctx: Ctx) -> dict[str, Any]:
    def edit(project: Any) -> dict[str, Any]:
        env = {**project.spec.env, **body.set}
        for key in body.unset:
            env.pop(key, None)
        return {"env": env}

    project = spec_changes.update_project(ctx, name, edit, f"POST /api/v1/projects/{name}/env: set")
    return project_view(ctx, project)


@router.post(
    "/{name}/kill",
    summary="Stop the project's running stage; the project pauses",
    response_model=answers.Killed,
    response_model_exclude_unset=True,
)
def kill(name: Name, ctx: Ctx, user: Allowed) -> dict[str, Any]:
    """Also pauses the project, so a stage about to start (a retry, an election) does not."""
    spec_changes.update_project(ctx, name, lambda _: {"paused": True}, f"POST /api/v1/projects/{name}/kill")
    killed: list[str] = []
    ctx.events.poll()
    for record in ctx.events.view().runs.of(name):
        if record.phase.active:
            killed += kill_stagerun(ctx, ctx.layout.store.stagerun(record.name), user.name)["killed"]
    return {"killed": killed}
