"""Deleting pipelines and projects, and saying what a deletion leaves behind.

A pipeline is a shared definition: projects that started keep their snapshot of it, but one that
has not started cannot start without it, so deleting one that projects name warns. A project's
spec is small, its workspace may hold tens of GB: deleting the spec leaves the workspace, logs and
StageRun files on the share (`left`) unless the caller asks to purge them. The project's history
on the event log stays either way (reports count it), and so does its status file, which keeps
the name from being reused by a project that would inherit that history.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from winslow.api.server import spec_changes
from winslow.api.server.deps import ApiContext
from winslow.resources.errors import ConflictError, NotFoundError
from winslow.resources.project import Project


def delete(ctx: ApiContext, kind: str, name: str, *, purge: bool = False) -> dict[str, Any]:
    """Delete the spec under its lock (announced on the log); for a project, purge its files or
    say which are left. Purging only what a deleted project left is allowed (the spec is gone)."""
    reply: dict[str, Any] = {"deleted": name, "warnings": []}
    store = ctx.layout.store
    with spec_changes.locked(ctx, kind, name) as issuer:
        exists = spec_changes.current(ctx, kind, name) is not None or store.spec_path(kind, name).exists()
        if kind == "Project" and purge:
            _refuse_while_running(ctx, name)
            if not exists and not any(p.exists() for p in leftovers(ctx, name)):
                raise NotFoundError(f"Project {name!r} not found, and it left nothing to purge")
        elif not exists:
            raise NotFoundError(f"{kind} {name!r} not found")
        if exists:
            store.delete_spec(kind, name)
            spec_changes.announce(ctx, kind, name, issuer, -1)
        else:
            reply["deleted"] = None
    if kind == "Pipeline":
        users = projects_using(ctx, name)
        if users:
            reply["warnings"].append(
                f"pipeline {name!r} is still named by project(s) {', '.join(users)}: those that started "
                "keep their snapshot of it, one that has not started cannot start until a pipeline "
                f"{name!r} is applied again"
            )
        return reply
    paths = [p for p in leftovers(ctx, name) if p.exists()]
    where = [str(p.relative_to(ctx.layout.root)) for p in paths]
    if purge:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        reply["purged"] = where
    else:
        reply["left"] = [f"{w} ({describe(p)})" for w, p in zip(where, paths, strict=True)]
    return reply


def leftovers(ctx: ApiContext, name: str) -> list[Path]:
    """What a project's runs put on the share, besides the log's history and its status file."""
    return [ctx.layout.project_dir(name), ctx.layout.logs / name, ctx.layout.store.stageruns / name]


def _refuse_while_running(ctx: ApiContext, name: str) -> None:
    ctx.events.poll()
    active = [r.name for r in ctx.events.view().runs.of(name) if r.phase.active]
    if active:
        raise ConflictError(
            f"project {name!r} still runs {', '.join(active)}; purging would pull the workspace from "
            f"under it: `winsctl kill {name}` first, then delete with --purge again"
        )


def projects_using(ctx: ApiContext, pipeline: str) -> list[str]:
    store = ctx.layout.store
    found = []
    for name in store.names("Project"):
        project = spec_changes.current(ctx, "Project", name)
        if isinstance(project, Project) and project.spec.pipeline == pipeline:
            found.append(name)
    return found


def describe(path: Path) -> str:
    """Files and bytes under `path`, never following links."""
    files = size = 0
    for folder, _, names in os.walk(path):
        for entry in names:
            try:
                st = os.lstat(os.path.join(folder, entry))
            except OSError:
                continue
            files += 1
            size += st.st_size
    return f"{files} file{'s' if files != 1 else ''}, {_bytes(size)}"


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
