"""Changing specs on a user's behalf: validated whole first, written under the object's lock.

The lock is the same one controllers take, so a user's edit and a controller's decision never
interleave; a stale `metadata.generation` is refused (compare-and-swap) instead of silently
overwriting someone else's change.

Longer than most modules here: what `apply` means for each field and the locked writes it ends
in are one contract, kept where it can be read at once.
"""

from __future__ import annotations

import difflib
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml
from pydantic.alias_generators import to_snake
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_random_exponential

from winslow.api.server import yamlfile
from winslow.api.server.deps import ApiContext
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.controller.subjects import manifest_subject
from winslow.resources.errors import ConflictError, InvalidFileError, ManifestError, NotFoundError
from winslow.resources.manifest import USER_KINDS, dump, parse
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project
from winslow.resources.quota import Quota
from winslow.resources.reading import manifest_limits, read_regular
from winslow.resources.store import atomic_write, load_yaml

Spec = Pipeline | Project | Quota
Authorize = Callable[[Spec, Spec | None], None]
CREATED_BY = "winslow/created-by"
CREATED_AT = "winslow/created-at"
OWNER_SET_BY = "winslow/owner-set-by"
SERVER_ANNOTATIONS = (CREATED_BY, CREATED_AT, OWNER_SET_BY)
"""Who made an object, when, and who named an owner other than its creator: set by the server
only, so a file cannot claim another author."""
LOCK_SECONDS = 10.0
LOCK_WAIT = 5.0
log = logging.getLogger(__name__)


@dataclass
class Outcome:
    kind: str
    name: str
    result: str
    diff: str
    kept: list[str] = field(default_factory=list)
    """Action fields the file does not mention, kept from the current spec."""
    removed: list[str] = field(default_factory=list)
    """Fields of the current spec that the file does not mention, removed."""

    def wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "result": self.result,
            "diff": self.diff,
            "kept": self.kept,
            "removed": self.removed,
        }


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
    if not retrying(ctx.leases.acquire, manifest_subject(kind, name), LOCK_SECONDS, issuer=issuer):
        holder = ctx.events.view().locks.holder(manifest_subject(kind, name))
        raise ConflictError(f"{kind} {name!r} is busy (held by {holder}); try again in a moment")
    try:
        yield issuer
    finally:
        with suppress(Rejected):
            ctx.events.publish(Command.RELEASE, manifest_subject(kind, name), issuer=issuer)


def announce(ctx: ApiContext, kind: str, name: str, issuer: str, generation: int) -> None:
    """The log names the spec version just written (-1: deleted), so that every node waits for
    that version instead of deciding on an older copy its share client still shows."""
    ctx.events.publish(
        Command.VERSION,
        manifest_subject(kind, name),
        issuer=issuer,
        payload={"file": "spec", "version": generation},
    )


def current(ctx: ApiContext, kind: str, name: str) -> Spec | None:
    try:
        found = ctx.layout.store.read_spec(kind, name)
    except NotFoundError:
        return None
    except ManifestError:
        return None
    assert isinstance(found, Pipeline | Project | Quota)
    return found


def _read(ctx: ApiContext, kind: str, name: str) -> tuple[str | None, Spec | None]:
    """The file's text and what it means (None: missing, or not a valid manifest). Should a hand
    edit land between the two reads, `render`'s check sees the mismatch."""
    path = ctx.layout.store.spec_path(kind, name)
    try:
        text: str | None = read_regular(
            path, ctx.layout.store.source(path), manifest_limits().max_bytes
        ).decode()
    except NotFoundError:
        return None, None
    except (InvalidFileError, UnicodeDecodeError):
        text = None  # a FIFO, a huge or a binary file: never edited in place, replaced whole
    return text, current(ctx, kind, name)


def _read_logged(ctx: ApiContext, kind: str, name: str) -> tuple[str | None, Spec | None]:
    """`_read`, waiting (for LOCK_WAIT at most) until the file is the version the log names: a
    network share's client may show a file another node wrote a moment ago as missing or old, and
    a decision under the lock must not rest on that. Past the wait (the file was removed or
    rewritten by hand) the file counts as it is, as the reconcilers do."""
    logged = ctx.events.view().version(manifest_subject(kind, name), "spec")

    def stale(found: tuple[str | None, Spec | None]) -> bool:
        old = found[1]
        if old is None:
            return logged > 0
        return old.metadata.generation is not None and old.metadata.generation < logged

    retrying = Retrying(
        retry=retry_if_result(stale),
        stop=stop_after_delay(LOCK_WAIT),
        wait=wait_random_exponential(multiplier=0.02, max=0.5),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else (None, None),
    )
    found: tuple[str | None, Spec | None] = retrying(_read, ctx, kind, name)
    return found


def _content(spec: Spec) -> dict[str, Any]:
    meta = spec.metadata
    return {"labels": meta.labels, "annotations": meta.annotations, "spec": spec.spec.model_dump(mode="json")}


def compact(spec: Spec) -> dict[str, Any]:
    """The manifest as a file says it: defaults and empty fields left out."""
    body = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude_none=True)
    return {"apiVersion": spec.api_version, "kind": spec.kind, **body}


def _stamp(new: Spec, old: Spec | None, now: float) -> Spec:
    """Server-set fields: uid and creation time when the API creates the object (a file written
    by hand keeps what it has: an action adds nothing it does not need), generation bumped on
    every change, because every node waits for the version the log names."""
    meta = new.metadata.model_copy(
        update={
            "uid": old.metadata.uid if old else secrets.token_hex(8),
            "creation_timestamp": (
                old.metadata.creation_timestamp if old else datetime.fromtimestamp(now, UTC)
            ),
            "generation": ((old.metadata.generation or 1) + 1) if old else 1,
        }
    )
    return new.model_copy(update={"metadata": meta})


def render(text: str | None, old: Spec | None, new: Spec, given: dict[str, Any] | None) -> str:
    """The file's new text: the old text with only what changed edited in (api.yamlfile), or a
    new file in the order the user gave. Checked to mean exactly `new` before it is used."""
    after = compact(new)
    try:
        if text is not None and old is not None:
            body = yamlfile.edited(text, compact(old), after, given)
        else:
            body = yamlfile.edited(yamlfile.plain(given if given is not None else after), {}, after, given)
        if parse(load_yaml(body), "edited", (new.kind,)) == new:
            return body
        problem = "the edited file would not mean the change"
    except (yamlfile.NotEditable, ManifestError, yaml.YAMLError) as exc:
        problem = f"cannot edit the file in place ({exc})"
    log.warning("%s %s: %s; writing it whole", new.kind, new.metadata.name, problem)
    return dump(new)


def parse_documents(documents: list[Any], source: str) -> list[tuple[Spec, dict[str, Any]]]:
    """Each valid document with what it says (its `status`, set by servers, left out: the
    output of `winsctl get -o yaml` applies as it is)."""
    specs: list[tuple[Spec, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    for index, doc in enumerate(documents):
        label = source if len(documents) == 1 else f"{source}[document {index}]"
        body = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
        try:
            manifest = parse(body, label, USER_KINDS)
        except ManifestError as exc:
            problems += [(f"{exc.source}: {f}" if exc.source != source else f, m) for f, m in exc.problems]
            continue
        assert isinstance(manifest, Pipeline | Project | Quota)
        specs.append((manifest, body))
    if problems:
        raise ManifestError(source, problems)
    return specs


def pipeline_exists(ctx: ApiContext, name: str) -> bool:
    """Asked by exact name and of the log, never of a listing: a pipeline applied through another
    node a moment ago is known to the log before this node's share client lists it."""
    return (
        ctx.events.view().version(manifest_subject("Pipeline", name), "spec") > 0
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
    actor: str | None = None,
    create_only: bool = False,
    authorize: Authorize | None = None,
) -> list[Outcome]:
    """All or nothing: every document is validated, and the caller's rights checked, before any write.
    The rights are checked again on the file as read under the lock each write holds, and a name
    planned as new that another request created meanwhile is a conflict, never a merge: what a
    user was told (`created`) is what the file holds.

    What apply means for fields a file leaves out (kubectl's apply keeps the fields it does not
    manage): the file is the desired state of everything it could say, so a field it omits is
    removed and the outcome names it (`removed`, and the diff); but the fields that actions set
    on a user's behalf (`spec.paused`, `spec.runFrom`, `spec.confirm`: pause, resume, confirm)
    and the server-set metadata (uid, generation, creationTimestamp, the owner, the creator
    annotations) are kept when the file does not mention them, and the outcome names the kept
    action fields (`kept`). A file that mentions one sets it: `paused: false` resumes. `actor`,
    the user applying, is recorded as the creator (and owner of a new project, unless an admin
    names another) and as the user behind a resume or confirmation the file requests.
    """
    pairs = parse_documents(documents, source)
    check_references(ctx, [spec for spec, _ in pairs], source)
    pairs.sort(key=lambda pair: 0 if isinstance(pair[0], Pipeline) else 1)
    outcomes = []
    for spec, doc in pairs:
        kind, name = spec.kind, spec.metadata.name
        text, old = _read(ctx, kind, name)
        if create_only and old is not None:
            raise ConflictError(f"{kind} {name!r} already exists; use PUT (winsctl apply) to change it")
        if authorize is not None:
            authorize(spec, old)
        outcomes.append(_plan_one(ctx, spec, doc, text, old, actor))
    if dry_run:
        return outcomes
    for (spec, doc), outcome in zip(pairs, outcomes, strict=True):
        if outcome.result != "unchanged":
            write(
                ctx,
                spec.kind,
                spec.metadata.name,
                _desired_setter(ctx, spec, doc, actor),
                spec.metadata.generation,
                given=_spelled(doc),
                check=_checker(spec, authorize, create=outcome.result == "created"),
            )
    return outcomes


def _checker(spec: Spec, authorize: Authorize | None, *, create: bool) -> Callable[[Spec | None], None]:
    def check(old: Spec | None) -> None:
        if create and old is not None:
            raise ConflictError(
                f"{spec.kind} {spec.metadata.name!r} was created a moment ago by {author(old)}; nothing "
                "was changed: get it (winsctl get) and apply again to change it, or pick another name"
            )
        if authorize is not None:
            authorize(spec, old)

    return check


def author(spec: Spec) -> str:
    """Who made it: a project's owner, a pipeline's creator, or "hand" for a file written on the share."""
    owner = spec.spec.owner if isinstance(spec, Project) else None
    return owner or spec.metadata.annotations.get(CREATED_BY) or "hand"


ACTION_FIELDS = ("paused", "runFrom", "confirm")
SERVER_METADATA = ("uid", "generation", "creationTimestamp", "creation_timestamp")


def _spelled(doc: dict[str, Any]) -> dict[str, Any]:
    """What the user wrote, less what the server sets: the spelling new values are written in."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return doc
    return {**doc, "metadata": {k: v for k, v in meta.items() if k not in SERVER_METADATA}}


def _mentioned(doc: dict[str, Any], field: str) -> bool:
    spec = doc.get("spec")
    return isinstance(spec, dict) and any(key in spec for key in (field, to_snake(field)))


def _desired_setter(
    ctx: ApiContext, spec: Spec, doc: dict[str, Any], actor: str | None
) -> Callable[[Spec | None], Spec]:
    return lambda old: _desired(spec, doc, old, actor, ctx.clock())[0]


def _server_annotations(spec: Spec, old: Spec | None, actor: str | None, now: float) -> dict[str, str]:
    """The current object's record of its making, or a new one; never what the file says."""
    if old is not None:
        made = {k: v for k, v in old.metadata.annotations.items() if k in SERVER_ANNOTATIONS}
    elif actor is not None:
        made = {CREATED_BY: actor, CREATED_AT: datetime.fromtimestamp(now, UTC).isoformat()}
    else:
        made = {}
    previous = old.spec.owner if isinstance(old, Project) else actor
    if isinstance(spec, Project) and actor and spec.spec.owner not in (None, previous):
        made[OWNER_SET_BY] = actor
    return made


def _requests_by(spec: Project, old: Spec | None, actor: str | None) -> dict[str, Any]:
    """A resume or confirmation that the file asks for anew is the applying user's."""
    update: dict[str, Any] = {}
    for request in ("run_from", "confirm"):
        asked = getattr(spec.spec, request)
        before = getattr(old.spec, request) if isinstance(old, Project) else None
        if asked is not None and actor is not None and asked != before:
            update[request] = asked.model_copy(update={"by": actor})
    return update


def _desired(
    spec: Spec, doc: dict[str, Any], old: Spec | None, actor: str | None, now: float
) -> tuple[Spec, list[str]]:
    """The applied manifest with what apply keeps of the current one, and the kept action fields."""
    annotations = {k: v for k, v in spec.metadata.annotations.items() if k not in SERVER_ANNOTATIONS}
    annotations.update(_server_annotations(spec, old, actor, now))
    if annotations != spec.metadata.annotations:
        spec = spec.model_copy(
            update={"metadata": spec.metadata.model_copy(update={"annotations": annotations})}
        )
    if not isinstance(spec, Project):
        return spec, []
    update: dict[str, Any] = _requests_by(spec, old, actor)
    if spec.spec.owner is None:
        inherited = old.spec.owner if isinstance(old, Project) else None
        if inherited or actor:
            update["owner"] = inherited or actor
    kept = []
    if isinstance(old, Project):
        current = old.spec.model_dump(by_alias=True)
        for field in ACTION_FIELDS:
            if not _mentioned(doc, field) and current[field] != spec.spec.model_dump(by_alias=True)[field]:
                update[to_snake(field)] = getattr(old.spec, to_snake(field))
                kept.append(f"spec.{field}")
    if update:
        spec = spec.model_copy(update={"spec": spec.spec.model_copy(update=update)})
    return spec, kept


def removed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Paths of the fields `before` has and `after` does not (server-set metadata aside)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    found = []
    for key, value in before.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in {f"metadata.{m}" for m in SERVER_METADATA}:
            continue
        if key not in after:
            found.append(path)
        else:
            found += removed_fields(value, after[key], path)
    return found


def _plan_one(
    ctx: ApiContext, spec: Spec, doc: dict[str, Any], text: str | None, old: Spec | None, actor: str | None
) -> Outcome:
    new, kept = _desired(spec, doc, old, actor, ctx.clock())
    kind, name = spec.kind, spec.metadata.name
    if old is not None and _content(old) == _content(new):
        return Outcome(kind, name, "unchanged", "", kept)
    stamped = _stamp(new, old, ctx.clock())
    after = render(text if old is not None else None, old, stamped, _spelled(doc))
    before = (text or "").splitlines(keepends=True)
    where = str(ctx.layout.store.spec_path(kind, name).relative_to(ctx.layout.root))
    diff = "".join(difflib.unified_diff(before, after.splitlines(keepends=True), where, f"{where} (applied)"))
    removed = removed_fields(compact(old), compact(new)) if old is not None else []
    return Outcome(kind, name, "updated" if text is not None else "created", diff, kept, removed)


def write(
    ctx: ApiContext,
    kind: str,
    name: str,
    change: Callable[[Spec | None], Spec],
    expected_generation: int | None = None,
    *,
    given: dict[str, Any] | None = None,
    check: Callable[[Spec | None], None] | None = None,
) -> Spec:
    """Read-modify-write under the object's lock, refusing a stale generation. The change is
    validated whole (it is a manifest) and edited into the user's file (`render`), which is
    replaced atomically; `given`, the document a user applied, spells the values it sets.
    `check` decides on the file as read under the lock whether the caller may make the change."""
    with locked(ctx, kind, name) as issuer:
        text, old = _read_logged(ctx, kind, name)
        if check is not None:
            check(old)
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
        body = render(text if old is not None else None, old, stamped, given)
        atomic_write(ctx.layout.store.spec_path(kind, name), body.encode())
        announce(ctx, kind, name, issuer, stamped.metadata.generation or 1)
        return stamped


def update_project(
    ctx: ApiContext, name: str, edit: Callable[[Project], dict[str, Any]], source: str
) -> Project:
    """Change some spec fields (wire names) of an existing project under its lock: pause, env,
    run-from. Only those fields change in the file; its comments and layout stay."""

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
