"""Pipelines and projects: list, get, create, replace, delete, and `apply` of a whole batch.

Pipelines are shared definitions: every user reads and writes them, only admins delete them.
Projects are private to their owner, members and admins (api.access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from winslow.api.identity.users import User
from winslow.api.server import answers, imagecheck, removal, selectorcheck, spec_changes
from winslow.api.server.access import (
    Found,
    allows,
    check_project,
    find,
    may_access,
    recovered_members,
    refuse,
)
from winslow.api.server.auth import CurrentUser, current_user
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.names import Name
from winslow.controller import notify
from winslow.controller.subjects import lock_subject
from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import PipelineSnapshot, Project, ProjectStatus
from winslow.resources.quota import Quota

router = APIRouter(
    prefix="/api/v1", tags=["manifests"], dependencies=[Depends(current_user)], responses=answers.ERRORS
)

PLURAL = {"pipelines": "Pipeline", "projects": "Project", "quotas": "Quota"}
ANSWERS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "Pipeline": (Pipeline, answers.PipelineList),
    "Project": (answers.ProjectView, answers.ProjectList),
    "Quota": (Quota, answers.QuotaList),
}
"""What one of a kind and a list of them answer."""


class ApplyBody(BaseModel):
    documents: list[dict[str, Any]] = Field(description="manifests, as decoded YAML or JSON")
    source: str = Field(default="request", description="where they came from, for error messages")
    dry_run: bool = Field(default=False, alias="dryRun")


def as_list(items: list[dict[str, Any]], warnings: list[str] | None = None) -> dict[str, Any]:
    """A List; `warnings` says what could not be shown as it is (files that do not parse)."""
    listed: dict[str, Any] = {"apiVersion": "winslow/v1", "kind": "List", "items": items}
    if warnings:
        listed["warnings"] = warnings
    return listed


INVALID = "Invalid"


def invalid_view(kind: str, name: str, error: InvalidFileError) -> dict[str, Any]:
    """A spec on the share that cannot be used, as a list shows it: name, phase and the reason
    (file, line, field; never the file's values)."""
    return {
        "apiVersion": "winslow/v1",
        "kind": kind,
        "metadata": {"name": name},
        "status": {"phase": INVALID, "reason": error.reason},
    }


def read_status(ctx: ApiContext, name: str) -> ProjectStatus | InvalidFileError | None:
    """Read only once the log says it was written: asking a network share for a name before it
    exists makes its client answer "absent" for seconds after it does, to this node's
    reconcilers too. A file that cannot be read counts in its last good version
    (resources.reading); one this node never read whole is its error."""
    if ctx.events.view().version(lock_subject(name), "status") <= 0:
        return None
    try:
        return ctx.layout.store.project_status(name)
    except InvalidFileError as exc:
        return exc


def project_status(ctx: ApiContext, name: str) -> ProjectStatus | None:
    status = read_status(ctx, name)
    return None if isinstance(status, InvalidFileError) else status


def project_view(ctx: ApiContext, project: Project) -> dict[str, Any]:
    data = project.to_wire()
    status = read_status(ctx, project.metadata.name)
    if isinstance(status, InvalidFileError):  # show the spec anyway
        data["status"] = {"phase": "Unknown", "reason": f"its status cannot be read: {status.reason}"}
        return data
    data["status"] = status.to_wire() if status else {"phase": "Waiting", "reason": "not yet seen by a node"}
    changes = _pipeline_changes(ctx, project, status)
    if changes:
        data["status"]["pipelineChanges"] = changes
    if project.spec.notify:  # the outbox is read only for projects that tell anyone
        failed = notify.failures(ctx.layout.outbox, project.metadata.name)
        if failed:
            data["status"]["notifyFailures"] = [notify.describe_failure(n) for n in failed[-5:]]
    return data


def _pipeline_changes(ctx: ApiContext, project: Project, status: ProjectStatus | None) -> list[str]:
    """How the project's pipeline as it is now differs from the snapshot the project runs: what a
    resume would take (empty when it does not differ, or the project runs its own stages)."""
    snapshot = status.pipeline if status is not None else None
    if snapshot is None or project.spec.stages is not None or project.spec.pipeline is None:
        return []
    try:
        return snapshot.changes(PipelineSnapshot.of(ctx.layout.store.pipeline(project.spec.pipeline)))
    except (NotFoundError, InvalidFileError):
        return []


def view(ctx: ApiContext, spec: Pipeline | Project | Quota) -> dict[str, Any]:
    return project_view(ctx, spec) if isinstance(spec, Project) else spec.to_wire()


Listed = tuple[str, Pipeline | Project | Quota | InvalidFileError]


def listing(ctx: ApiContext, kind: str) -> list[Listed]:
    """Every spec file of a kind, valid or not, in creation order (broken ones by name)."""
    store = ctx.layout.store
    found: list[Listed] = []
    for name in store.names(kind):
        try:
            spec = store.read_spec(kind, name)
        except NotFoundError:  # deleted since the directory was listed
            continue
        except InvalidFileError as exc:
            found.append((name, exc))
            continue
        assert isinstance(spec, Pipeline | Project | Quota)
        found.append((name, spec))
    return sorted(found, key=lambda pair: _created(pair[0], pair[1]))


def _created(name: str, spec: Pipeline | Project | Quota | InvalidFileError) -> tuple[float, str]:
    stamp = spec.metadata.creation_timestamp if not isinstance(spec, InvalidFileError) else None
    return (stamp.timestamp() if stamp else 0.0, name)


def visible(user: User, kind: str, spec: Pipeline | Project | Quota | InvalidFileError) -> bool:
    """Pipelines are everyone's; a project its owner's, members' and admins' (a broken one: as far
    as its file still names them, else admins only)."""
    if kind in ("Pipeline", "Quota"):
        return True  # everyone may see what limits them
    if isinstance(spec, InvalidFileError):
        return allows(user, recovered_members(spec))
    return isinstance(spec, Project) and may_access(user, spec)


def get_one(ctx: ApiContext, kind: str, name: str) -> Pipeline | Project | Quota:
    found = ctx.layout.store.read_spec(kind, name)
    assert isinstance(found, Pipeline | Project | Quota)
    return found


def authorizer(ctx: ApiContext, user: User) -> Callable[[spec_changes.Spec, spec_changes.Spec | None], None]:
    """Anyone may create a project (and owns it) or a pipeline; changing one needs the rights on
    the current one: a project's owner or members, a pipeline's creator, or an admin. Only an
    admin names an owner other than the one a project has (its creator, when new). Called on the
    file as read before planning and again under the lock of the write (api.spec_changes)."""

    def check(spec: spec_changes.Spec, old: spec_changes.Spec | None) -> None:
        if user.admin:
            return
        name = spec.metadata.name
        if isinstance(spec, Quota):
            raise HTTPException(403, f"quota {name!r}: only an admin may write quotas")
        if isinstance(spec, Project):
            limit = ctx.layout.priority_limit()
            before = old.spec.priority if isinstance(old, Project) else 0
            if spec.spec.priority > max(limit, before):
                raise HTTPException(
                    403,
                    f"project {name!r}: spec.priority: {spec.spec.priority} is above {limit}, the most a "
                    "user may set (settings/scheduling.yaml userPriorityLimit); ask an admin to raise it",
                )
        if isinstance(spec, Project) and spec.spec.owner is not None:
            current = old.spec.owner if isinstance(old, Project) else user.name
            if spec.spec.owner != current:
                raise HTTPException(
                    403,
                    f"project {name!r}: spec.owner: only an admin may name {spec.spec.owner!r} as owner; "
                    f"leave the field out (the owner stays {current!r}) and add people to spec.members",
                )
        if isinstance(spec, Pipeline):
            creator = old.metadata.annotations.get(spec_changes.CREATED_BY) if old is not None else None
            if old is not None and creator != user.name:
                raise HTTPException(
                    403,
                    f"pipeline {name!r} is shared and was created by {creator or 'hand'}; only they or an "
                    "admin may change it (apply it under another name to vary it)",
                )
            return
        store = ctx.layout.store
        if old is None and (
            (store.stageruns / name).exists() or (store.status_dir / f"{name}.yaml").exists()
        ):
            raise HTTPException(
                409,
                f"project name {name!r} was used before and its history (StageRuns, logs, workspaces) is "
                "still on the share; pick another name, or ask an admin to reuse it",
            )
        if isinstance(old, Project) and not may_access(user, old):
            raise refuse(user, name)
        if old is None:
            found: Found = find(ctx, name)  # a spec that does not validate: whoever it still names
            if found.broken is not None and not allows(user, found.members):
                raise refuse(user, name)

    return check


def metadata_name(manifest: dict[str, Any]) -> Any:
    meta = manifest.get("metadata")
    return meta.get("name") if isinstance(meta, dict) else None


@router.post(
    "/apply",
    summary="Validate a batch of manifests, then create or update them all",
    response_model=answers.Applied,
    response_model_exclude_unset=True,
)
def apply_batch(body: ApplyBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    outcomes = spec_changes.apply(
        ctx,
        body.documents,
        body.source,
        dry_run=body.dry_run,
        actor=user.name,
        authorize=authorizer(ctx, user),
    )
    reply: dict[str, Any] = {"dryRun": body.dry_run, "results": [o.wire() for o in outcomes]}
    warnings = imagecheck.missing_images(ctx.layout.nodes, body.documents, ctx.clock())
    warnings += selectorcheck.unmatched(ctx.layout.nodes, body.documents, ctx.clock())
    if warnings:
        reply["warnings"] = warnings
    return reply


def _collection(plural: str) -> None:
    kind = PLURAL[plural]
    one, many = ANSWERS[kind]

    def readable(ctx: ApiContext, user: User, name: str) -> Pipeline | Project | Quota:
        if kind == "Project":
            check_project(ctx, user, name)
        return get_one(ctx, kind, name)

    @router.get(
        f"/{plural}",
        summary=f"List the {plural} you may see, in creation order",
        description="A file on the share that does not parse or validate is listed with phase "
        "`Invalid` and the reason (file, line, field), and named in `warnings`.",
        response_model=many,
        response_model_exclude_unset=True,
    )
    def list_all(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
        items, warnings = [], []
        for name, spec in listing(ctx, kind):
            if not visible(user, kind, spec):
                continue
            if isinstance(spec, InvalidFileError):
                items.append(invalid_view(kind, name, spec))
                warnings.append(f"{kind} {name} is {INVALID}: {spec.reason}")
            else:
                items.append(view(ctx, spec))
        return as_list(items, warnings)

    @router.get(
        f"/{plural}/{{name}}",
        summary=f"Get one {kind}",
        response_model=one,
        response_model_exclude_unset=True,
    )
    def get(name: Name, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
        return view(ctx, readable(ctx, user, name))

    @router.post(
        f"/{plural}",
        status_code=201,
        summary=f"Create a {kind}",
        response_model=one,
        response_model_exclude_unset=True,
    )
    def create(
        ctx: Ctx,
        user: CurrentUser,
        manifest: dict[str, Any] = Body(...),
    ) -> dict[str, Any]:
        source = f"POST /api/v1/{plural}"
        spec_changes.apply(
            ctx, [manifest], source, create_only=True, actor=user.name, authorize=authorizer(ctx, user)
        )
        name = metadata_name(manifest)
        if not isinstance(name, str):
            raise ManifestError.single(source, "metadata.name", "a name is required")
        return view(ctx, get_one(ctx, kind, name))

    @router.put(
        f"/{plural}/{{name}}", summary=f"Create or replace a {kind}", response_model=answers.ApplyResult
    )
    def replace(
        name: Name,
        ctx: Ctx,
        user: CurrentUser,
        manifest: dict[str, Any] = Body(...),
        dry_run: bool = Query(False, alias="dryRun"),
    ) -> dict[str, Any]:
        source = f"PUT /api/v1/{plural}/{name}"
        if metadata_name(manifest) != name:
            raise ManifestError.single(source, "metadata.name", f"must be {name!r}, the name in the URL")
        outcome = spec_changes.apply(
            ctx, [manifest], source, dry_run=dry_run, actor=user.name, authorize=authorizer(ctx, user)
        )[0]
        return outcome.wire()

    @router.delete(
        f"/{plural}/{{name}}",
        summary=f"Delete a {kind}",
        description="A pipeline that projects use is deleted with a warning (`warnings`). A project "
        "leaves its workspace, logs and StageRun files on the share (`left`) unless `purge=true` "
        "removes them too (`purged`); purging is refused while one of its stages runs, and an admin "
        "may purge what a deleted project left.",
        response_model=answers.SpecDeleted,
        response_model_exclude_unset=True,
    )
    def delete(
        name: Name,
        ctx: Ctx,
        user: CurrentUser,
        purge: bool = Query(False, description="projects: remove the workspace, logs and StageRun files too"),
    ) -> dict[str, Any]:
        if kind in ("Pipeline", "Quota") and not user.admin:
            raise HTTPException(403, f"{plural} are shared: only admins delete them")
        if kind != "Project" and purge:
            raise HTTPException(422, "purge: only a project has files to purge")
        if kind == "Project":
            check_project(ctx, user, name, must_exist=False)  # a broken file, or what a deleted one left
        return removal.delete(ctx, kind, name, purge=purge)


_collection("pipelines")
_collection("projects")
_collection("quotas")
