"""Changing specs on a user's behalf: validated whole first, written under the object's lock.

The lock is the same one controllers take, so a user's edit and a controller's decision never
interleave; a stale `metadata.generation` is refused (compare-and-swap) instead of silently
overwriting someone else's change.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_random_exponential

from winslow.api.deps import ApiContext
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.resources.errors import ConflictError, ManifestError, NotFoundError
from winslow.resources.manifest import USER_KINDS, dump, parse
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project

Spec = Pipeline | Project
CREATED_BY = "winslow/created-by"
LOCK_SECONDS = 10.0
LOCK_WAIT = 5.0


@dataclass
class Outcome:
    kind: str
    name: str
    result: str
    diff: str

    def wire(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "result": self.result, "diff": self.diff}


def subject(kind: str, name: str) -> str:
    return f"{kind.lower()}/{name}"


@contextmanager
def locked(ctx: ApiContext, kind: str, name: str) -> Iterator[str]:
    """The request holds the lock under its own name (yielded), never the node's: the node's
    reconciler (and a concurrent request) must not pass it as if it were theirs. A busy lock is
    asked for again with short jittered waits, so requests that met never retry in step, for
    LOCK_WAIT; a lock whose holder died is taken over once it has expired here."""
    issuer = f"{ctx.node}/api/{secrets.token_hex(4)}"
    retrying = Retrying(
        retry=retry_if_result(lambda acquired: not acquired),
        stop=stop_after_delay(LOCK_WAIT),
        wait=wait_random_exponential(multiplier=0.01, max=0.2),
        retry_error_callback=lambda _: False,
    )
    if not retrying(ctx.locks.acquire, subject(kind, name), LOCK_SECONDS, issuer=issuer):
        holder = ctx.events.state.locks.holder(subject(kind, name))
        raise ConflictError(f"{kind} {name!r} is busy (held by {holder}); try again in a moment")
    try:
        yield issuer
    finally:
        with suppress(Rejected):
            ctx.events.publish(Command.RELEASE, subject(kind, name), issuer=issuer)


def announce(ctx: ApiContext, kind: str, name: str, issuer: str, generation: int) -> None:
    """The log names the spec version just written (-1: deleted), so that every node waits for
    that version instead of deciding on an older copy its share client still shows."""
    ctx.events.publish(
        Command.VERSION, subject(kind, name), issuer=issuer, payload={"file": "spec", "version": generation}
    )


def current(ctx: ApiContext, kind: str, name: str) -> Spec | None:
    try:
        found = ctx.layout.store.read_spec(kind, name)
    except NotFoundError:
        return None
    except ManifestError:
        return None
    assert isinstance(found, Pipeline | Project)
    return found


def _content(spec: Spec) -> dict[str, Any]:
    meta = spec.metadata
    return {"labels": meta.labels, "annotations": meta.annotations, "spec": spec.spec.model_dump(mode="json")}


def _stamp(new: Spec, old: Spec | None, now: float) -> Spec:
    """Server-set fields: uid and creation time once, generation bumped on every change."""
    meta = new.metadata.model_copy(
        update={
            "uid": old.metadata.uid if old and old.metadata.uid else secrets.token_hex(8),
            "creation_timestamp": (old.metadata.creation_timestamp if old else None)
            or datetime.fromtimestamp(now, UTC),
            "generation": ((old.metadata.generation or 1) + 1) if old else 1,
        }
    )
    return new.model_copy(update={"metadata": meta})


def parse_documents(documents: list[Any], source: str) -> list[Spec]:
    specs: list[Spec] = []
    problems: list[tuple[str, str]] = []
    for index, doc in enumerate(documents):
        label = source if len(documents) == 1 else f"{source}[document {index}]"
        try:
            manifest = parse(doc, label, USER_KINDS)
        except ManifestError as exc:
            problems += [(f"{exc.source}: {f}" if exc.source != source else f, m) for f, m in exc.problems]
            continue
        assert isinstance(manifest, Pipeline | Project)
        specs.append(manifest)
    if problems:
        raise ManifestError(source, problems)
    return specs


def pipeline_exists(ctx: ApiContext, name: str) -> bool:
    """Asked by exact name and of the log, never of a listing: a pipeline applied through another
    node a moment ago is known to the log before this node's share client lists it."""
    return (
        ctx.events.state.version(subject("Pipeline", name), "spec") > 0
        or ctx.layout.store.spec_path("Pipeline", name).exists()
    )


def check_references(ctx: ApiContext, specs: list[Spec], source: str) -> None:
    batch = {s.metadata.name for s in specs if isinstance(s, Pipeline)}
    ctx.events.poll()
    problems = []
    for spec in specs:
        wanted = spec.spec.pipeline if isinstance(spec, Project) else None
        if wanted and wanted not in batch and not pipeline_exists(ctx, wanted):
            known = set(ctx.layout.store.names("Pipeline")) | batch
            problems.append(
                (
                    f"project {spec.metadata.name}: spec.pipeline",
                    f"pipeline {wanted!r} does not exist; apply it first or fix the name "
                    f"(known: {', '.join(sorted(known)) or 'none'})",
                )
            )
    if problems:
        raise ManifestError(source, problems)


def apply(
    ctx: ApiContext,
    documents: list[Any],
    source: str,
    *,
    dry_run: bool = False,
    owner: str | None = None,
    create_only: bool = False,
    authorize: Callable[[Spec, Spec | None], None] | None = None,
) -> list[Outcome]:
    """All or nothing: every document is validated, and the caller's rights checked, before any write."""
    specs = parse_documents(documents, source)
    check_references(ctx, specs, source)
    specs.sort(key=lambda s: 0 if isinstance(s, Pipeline) else 1)
    outcomes = []
    for spec in specs:
        kind, name = spec.kind, spec.metadata.name
        old = current(ctx, kind, name)
        if create_only and old is not None:
            raise ConflictError(f"{kind} {name!r} already exists; use PUT (winsctl apply) to change it")
        if authorize is not None:
            authorize(spec, old)
        outcomes.append(_plan_one(spec, old, owner))
    if dry_run:
        return outcomes
    for spec, outcome in zip(specs, outcomes, strict=True):
        if outcome.result != "unchanged":
            write(ctx, spec.kind, spec.metadata.name, _owner_setter(spec, owner), spec.metadata.generation)
    return outcomes


def _owner_setter(spec: Spec, owner: str | None) -> Callable[[Spec | None], Spec]:
    return lambda old: _owned(spec, old, owner)


def _owned(spec: Spec, old: Spec | None, owner: str | None) -> Spec:
    if isinstance(spec, Pipeline):
        creator = old.metadata.annotations.get(CREATED_BY) if old is not None else owner
        if creator and CREATED_BY not in spec.metadata.annotations:
            annotations = {**spec.metadata.annotations, CREATED_BY: creator}
            return spec.model_copy(
                update={"metadata": spec.metadata.model_copy(update={"annotations": annotations})}
            )
        return spec
    if isinstance(spec, Project) and spec.spec.owner is None:
        inherited = old.spec.owner if isinstance(old, Project) else None
        if inherited or owner:
            return spec.model_copy(
                update={"spec": spec.spec.model_copy(update={"owner": inherited or owner})}
            )
    return spec


def _plan_one(spec: Spec, old: Spec | None, owner: str | None) -> Outcome:
    new = _owned(spec, old, owner)
    if old is not None and _content(old) == _content(new):
        return Outcome(spec.kind, spec.metadata.name, "unchanged", "")
    before = dump(old).splitlines(keepends=True) if old else []
    after = dump(new).splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(before, after, "current", "applied"))
    return Outcome(spec.kind, spec.metadata.name, "updated" if old else "created", diff)


def write(
    ctx: ApiContext,
    kind: str,
    name: str,
    change: Callable[[Spec | None], Spec],
    expected_generation: int | None = None,
) -> Spec:
    """Read-modify-write under the object's lock, refusing a stale generation."""
    with locked(ctx, kind, name) as issuer:
        old = current(ctx, kind, name)
        if (
            expected_generation is not None
            and old is not None
            and old.metadata.generation is not None
            and expected_generation != old.metadata.generation
        ):
            raise ConflictError(
                f"{kind} {name!r} changed since you read it (generation {old.metadata.generation}, "
                f"yours {expected_generation}); get it again and re-apply"
            )
        new = change(old)
        if old is not None and _content(old) == _content(new):
            return old
        stamped = _stamp(new, old, ctx.clock())
        ctx.layout.store.write_spec(stamped)
        announce(ctx, kind, name, issuer, stamped.metadata.generation or 1)
        return stamped


def update_project(
    ctx: ApiContext, name: str, edit: Callable[[Project], dict[str, Any]], source: str
) -> Project:
    """Change some spec fields (wire names) of an existing project under its lock: pause, env, run-from."""

    def change(old: Spec | None) -> Spec:
        if not isinstance(old, Project):
            raise NotFoundError(f"Project {name!r} not found")
        data = old.to_wire()
        data["spec"] = {**data["spec"], **edit(old)}
        manifest = parse(data, source, ("Project",))
        assert isinstance(manifest, Project)
        return manifest

    result = write(ctx, "Project", name, change)
    assert isinstance(result, Project)
    return result
