"""Trigger tokens: the owner makes, lists and revokes them; a token starts its project's run.

`router` holds the owner's routes (a user's token or session, and the rights on the project as
every action asks them: api.access). `trigger` is the one route a trigger token opens, and it
takes nothing else: no user's token, no session, so neither a cookie nor the CSRF check is
involved and a webhook sender needs only the `Authorization` header. Every other route refuses
a trigger token (401), because users.yaml does not know it (api.deps).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from winslow.api.identity import triggers
from winslow.api.identity.users import User
from winslow.api.server import spec_changes
from winslow.api.server.access import check_project
from winslow.api.server.answers import ERRORS, Revoked, TokenCreated, TokenList, TokenView, Triggered
from winslow.api.server.auth import CurrentUser
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.names import Name
from winslow.api.server.routes.actions import _known_stage
from winslow.api.server.routes.manifests import project_status
from winslow.reconcilers.project.plan import all_done, ended_badly, run_from_problem
from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.pipeline import StageSpec
from winslow.resources.project import TOKEN_BY, Project

router = APIRouter(prefix="/api/v1/projects", tags=["trigger tokens"], responses=ERRORS)
trigger_router = APIRouter(prefix="/api/v1/projects", tags=["trigger tokens"], responses=ERRORS)

trigger_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="TriggerToken",
    description="`winsctl token create PROJECT` prints one; send `Authorization: Bearer wst_...`",
)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", pattern=triggers.LABEL, description="a label: what the token is for")


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
EnvText = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=65536)]


class TriggerBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    env: dict[EnvName, EnvText] = Field(
        default_factory=dict,
        max_length=256,
        description="project env to set (kept, as `env` sets it), from this run on",
    )
    from_stage: str | None = Field(
        default=None, alias="from", max_length=63, description="rerun from this stage"
    )


def _view(info: triggers.TokenInfo) -> TokenView:
    return TokenView(
        id=info.id, name=info.name, created=info.created, created_by=info.created_by, last_used=info.last_used
    )


def _unusable(exc: triggers.TriggersFileError) -> HTTPException:
    return HTTPException(503, str(exc), headers={"Retry-After": "5"})


def _project(ctx: ApiContext, user: User, name: str) -> Project:
    project = check_project(ctx, user, name)
    assert project is not None
    return project


@router.post(
    "/{name}/tokens",
    status_code=201,
    response_model_by_alias=True,
    summary="Make a trigger token for the project; its secret is shown this once",
)
def create_token(
    name: Name,
    ctx: Ctx,
    user: CurrentUser,
    body: TokenCreate | None = Body(None),
) -> TokenCreated:
    project = _project(ctx, user, name)
    path = ctx.layout.trigger_file(name)
    with spec_changes.locked(ctx, "triggers", name):
        try:
            secret, info = triggers.create(
                path, name, project.metadata.uid, user.name, body.name if body else ""
            )
        except triggers.TriggersFileError as exc:
            raise _unusable(exc) from None
    return TokenCreated(**_view(info).model_dump(), token=secret)


@router.get("/{name}/tokens", summary="The project's trigger tokens (never their secrets)")
def list_tokens(name: Name, ctx: Ctx, user: CurrentUser) -> TokenList:
    project = _project(ctx, user, name)
    try:
        found = triggers.listing(ctx.layout.trigger_file(name), name, project.metadata.uid)
    except triggers.TriggersFileError as exc:
        raise _unusable(exc) from None
    return TokenList(project=name, tokens=[_view(info) for info in found])


@router.delete("/{name}/tokens/{token_id}", summary="Revoke a trigger token, on every node at once")
def revoke_token(
    name: Name,
    token_id: Annotated[str, PathParam(max_length=64, description="the token's id (`winsctl token list`)")],
    ctx: Ctx,
    user: CurrentUser,
) -> Revoked:
    project = _project(ctx, user, name)
    with spec_changes.locked(ctx, "triggers", name):
        try:
            done = triggers.revoke(ctx.layout.trigger_file(name), name, project.metadata.uid, token_id)
        except triggers.TriggersFileError as exc:
            raise _unusable(exc) from None
    if not done:
        raise HTTPException(
            404,
            f"project {name!r} has no trigger token {token_id[:64]!r}; "
            f"`winsctl token list {name}` shows their ids",
        )
    return Revoked(project=name, revoked=token_id)


def _stages(ctx: ApiContext, project: Project) -> list[StageSpec]:
    """The project's stages: its snapshot once started, else what it would take."""
    status = project_status(ctx, project.metadata.name)
    if status is not None and status.pipeline is not None:
        return status.pipeline.stages
    if project.spec.stages is not None:
        return project.spec.stages
    try:
        return ctx.layout.store.pipeline(project.spec.pipeline or "").spec.stages
    except (NotFoundError, InvalidFileError):
        return []


def _refused(name: str, why: str) -> HTTPException:
    return HTTPException(401, f"POST /api/v1/projects/{name}/trigger: {why}", headers=CHALLENGE)


def trigger_token(
    name: Name,
    ctx: Ctx,
    credentials: HTTPAuthorizationCredentials | None = Depends(trigger_bearer),
) -> tuple[triggers.TriggerToken, Project]:
    """The token and its project, or 401. The project's existence is said only to a token of it."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _refused(
            name,
            "no trigger token: send `Authorization: Bearer wst_...` "
            f"(the project's owner makes one with `winsctl token create {name}`)",
        )
    secret = credentials.credentials.strip()
    if not secret.startswith(triggers.PREFIX):
        raise _refused(
            name,
            f"this route takes a trigger token of project {name!r} (wst_...), not a user's token; "
            f"a user resumes with `winsctl resume {name}`",
        )
    path = ctx.layout.trigger_file(name)
    try:
        token = triggers.identify(path, name, secret)
    except triggers.TriggersFileError:
        raise HTTPException(
            503, "cannot check trigger tokens right now; try again later", headers={"Retry-After": "5"}
        ) from None
    if token is None:
        raise _refused(
            name,
            f"not a trigger token of project {name!r}: wrong, revoked, or made for another project",
        )
    try:
        project = ctx.layout.store.project(name)
    except NotFoundError:
        raise _refused(name, f"project {name!r} no longer exists") from None
    except InvalidFileError:
        raise HTTPException(
            409, f"project {name!r}'s file does not validate; its owner must fix it first"
        ) from None
    if not triggers.belongs(token, project.metadata.uid):
        raise _refused(
            name,
            f"this token was made for an earlier project named {name!r} (deleted since); "
            "ask the owner for a new one",
        )
    return token, project


@trigger_router.post(
    "/{name}/trigger",
    summary="Start the project's next run with a trigger token (resume, rerun `from` a stage, with `env`)",
)
def trigger(
    name: Name,
    ctx: Ctx,
    body: TriggerBody | None = Body(None),
    found: tuple[triggers.TriggerToken, Project] = Depends(trigger_token),
) -> Triggered:
    """As `resume` (and `env`) would, recorded as `token:<id>` (spec.runFrom.by, and the
    StageRun's status.triggeredBy). Without `from`: a project that failed, was killed or paused
    reruns its stopped stage, one that succeeded runs again from its first stage, one that has
    not started starts; a running one takes the env and goes on."""
    token, project = found
    body = body or TriggerBody()
    stage = body.from_stage
    ctx.events.poll()
    runs = ctx.events.view().runs.of(name, project.metadata.uid)
    if stage is not None:
        problem = run_from_problem(_known_stage(ctx, name, stage, "from"), runs, stage)
        if problem:
            raise HTTPException(422, f"from: cannot rerun from {stage!r} now: {problem}")
    stages = _stages(ctx, project)
    if stage is None and stages and all_done(stages, runs):
        stage = stages[0].name  # it is done: run it again
    status = project_status(ctx, name)
    stopped = ended_badly(stages, runs)
    by = f"{TOKEN_BY}{token.id}"
    requested = False

    def edit(project: Project) -> dict[str, Any]:
        nonlocal requested
        if not triggers.belongs(token, project.metadata.uid):  # deleted and applied again meanwhile
            raise _refused(name, f"this token was made for an earlier project named {name!r}")
        change: dict[str, Any] = {"paused": False}
        if body.env:
            change["env"] = {**project.spec.env, **body.env}
        if stage is not None or stopped or project.spec.paused or not runs:
            requested = True
            now = datetime.fromtimestamp(ctx.clock(), UTC).isoformat()
            change["runFrom"] = {"stage": stage, "requestedAt": now, "by": by}
        return change

    spec_changes.update_project(ctx, name, edit, f"POST /api/v1/projects/{name}/trigger")
    triggers.mark_used(ctx.layout.trigger_file(name), token.id, ctx.clock())
    if requested:
        message = f"project {name!r} runs " + (f"from stage {stage!r}" if stage else "on")
    else:
        message = f"project {name!r} goes on as it was ({status.reason if status else 'not yet seen'})"
    return Triggered(
        project=name,
        token=token.id,
        from_stage=stage,
        env=sorted(body.env),
        requested=requested,
        message=message,
    )
