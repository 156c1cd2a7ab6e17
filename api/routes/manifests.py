"""Pipelines and projects: list, get, create, replace, delete, and `apply` of a whole batch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from api import specs
from api.deps import ApiContext, context
from resources.errors import ManifestError, NotFoundError
from resources.pipeline import Pipeline
from resources.project import Project

router = APIRouter(prefix="/api/v1", tags=["manifests"])

PLURAL = {"pipelines": "Pipeline", "projects": "Project"}


class ApplyBody(BaseModel):
    documents: list[dict[str, Any]] = Field(description="manifests, as decoded YAML or JSON")
    source: str = Field(default="request", description="where they came from, for error messages")
    dry_run: bool = Field(default=False, alias="dryRun")


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "winslow/v1", "kind": "List", "items": items}


def project_view(ctx: ApiContext, project: Project) -> dict[str, Any]:
    data = project.to_wire()
    status = ctx.layout.store.project_status(project.metadata.name)
    data["status"] = status.to_wire() if status else {"phase": "Waiting", "reason": "not yet seen by a node"}
    return data


def view(ctx: ApiContext, spec: Pipeline | Project) -> dict[str, Any]:
    return project_view(ctx, spec) if isinstance(spec, Project) else spec.to_wire()


def listing(ctx: ApiContext, kind: str) -> list[Pipeline | Project]:
    found = []
    for name in ctx.layout.store.names(kind):
        spec = specs.current(ctx, kind, name)
        if spec is not None:
            found.append(spec)
    return sorted(found, key=_created)


def _created(spec: Pipeline | Project) -> tuple[float, str]:
    stamp = spec.metadata.creation_timestamp
    return (stamp.timestamp() if stamp else 0.0, spec.metadata.name)


def get_one(ctx: ApiContext, kind: str, name: str) -> Pipeline | Project:
    found = ctx.layout.store.read_spec(kind, name)
    assert isinstance(found, Pipeline | Project)
    return found


@router.post("/apply", summary="Validate a batch of manifests, then create or update them all")
def apply_batch(body: ApplyBody, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    outcomes = specs.apply(ctx, body.documents, body.source, dry_run=body.dry_run)
    return {"dryRun": body.dry_run, "results": [o.wire() for o in outcomes]}


def _collection(plural: str) -> None:
    kind = PLURAL[plural]

    @router.get(f"/{plural}", summary=f"List {plural} in creation order")
    def list_all(ctx: ApiContext = Depends(context)) -> dict[str, Any]:
        return as_list([view(ctx, s) for s in listing(ctx, kind)])

    @router.get(f"/{plural}/{{name}}", summary=f"Get one {kind}")
    def get(name: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
        return view(ctx, get_one(ctx, kind, name))

    @router.post(f"/{plural}", status_code=201, summary=f"Create a {kind}")
    def create(manifest: dict[str, Any] = Body(...), ctx: ApiContext = Depends(context)) -> dict[str, Any]:
        specs.apply(ctx, [manifest], f"POST /api/v1/{plural}", create_only=True)
        return view(ctx, get_one(ctx, kind, str(manifest["metadata"]["name"])))

    @router.put(f"/{plural}/{{name}}", summary=f"Create or replace a {kind}")
    def replace(
        name: str,
        manifest: dict[str, Any] = Body(...),
        dry_run: bool = Query(False, alias="dryRun"),
        ctx: ApiContext = Depends(context),
    ) -> dict[str, Any]:
        source = f"PUT /api/v1/{plural}/{name}"
        if (manifest.get("metadata") or {}).get("name") != name:
            raise ManifestError.single(source, "metadata.name", f"must be {name!r}, the name in the URL")
        outcome = specs.apply(ctx, [manifest], source, dry_run=dry_run)[0]
        return outcome.wire()

    @router.delete(f"/{plural}/{{name}}", summary=f"Delete a {kind}")
    def delete(name: str, ctx: ApiContext = Depends(context)) -> dict[str, str]:
        with specs.locked(ctx, kind, name):
            if specs.current(ctx, kind, name) is None and not ctx.layout.store.spec_path(kind, name).exists():
                raise NotFoundError(f"{kind} {name!r} not found")
            ctx.layout.store.delete_spec(kind, name)
        return {"deleted": name}


_collection("pipelines")
_collection("projects")
