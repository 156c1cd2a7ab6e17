"""Recording a StageRun's state: on the event log first, then in its file.

The log's RECORD is the commit: a node that lost its lease, or a run that ended meanwhile, is
refused there, and the file is written only after the log took the change. The file is then a
projection for people, the API and the UI; whoever holds the run's lease or its project's lock
rewrites it from the record when it lags.

Thread use: the loop thread only (`unprojected` is its own).
"""

from __future__ import annotations

import logging

from winslow.controller.context import NodeContext
from winslow.controller.events import Command
from winslow.controller.records import RunRecord
from winslow.controller.subjects import lease_subject
from winslow.resources.errors import ManifestError, NotFoundError

log = logging.getLogger(__name__)
RECENT = 600.0  # seconds back that a restarted node checks the files of runs it recorded


def record(ctx: NodeContext, run: RunRecord, *, create: bool = False) -> None:
    """Raises Rejected when the log refuses the change."""
    ctx.events.publish(
        Command.RECORD,
        lease_subject(run.name),
        payload=run.creation() if create else run.update(),
    )


def write_file(ctx: NodeContext, run: RunRecord) -> None:
    """Write the file's status from the record. A file this node cannot read yet (a network
    share's client may not show it for a while) is tried again later by `reproject`."""
    store = ctx.layout.store
    try:
        spec = store.stagerun(run.name)
        # not synced: the log holds the state, and the spec in the file was synced at creation
        store.write_stagerun(spec.model_copy(update={"status": run.status()}), durable=False)
    except (NotFoundError, ManifestError, ValueError, OSError) as exc:
        log.debug("the file of StageRun %s lags its record for now: %s", run.name, exc)
        ctx.unprojected[run.name] = run.seq
        return
    ctx.unprojected.pop(run.name, None)


def check_recent(ctx: NodeContext, within: float = RECENT) -> None:
    """At start: files of runs this node recorded last, lately, may lag their record (it died
    between the two writes); anything found lagging is rewritten by `reproject`."""
    now = ctx.clock()
    for run in ctx.events.view().runs.runs.values():
        if run.recorder != ctx.name or now - run.recorded_at > within:
            continue
        try:
            on_file = ctx.layout.store.stagerun(run.name).status
        except (NotFoundError, ManifestError, ValueError, OSError):
            ctx.unprojected[run.name] = run.seq
            continue
        if on_file.phase is not run.phase or on_file.finish_time != run.finish_time:
            ctx.unprojected[run.name] = run.seq


def reproject(ctx: NodeContext) -> None:
    """Files left behind their records; one whose record changed since is someone else's."""
    for name, seq in list(ctx.unprojected.items()):
        current = ctx.events.view().runs.get(name)
        if current is None or current.seq != seq:
            ctx.unprojected.pop(name, None)
        else:
            write_file(ctx, current)
