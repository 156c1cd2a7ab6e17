"""What the StageRun reconciler reads: the run's record on the log (its state), its file (its
frozen spec), its container (found by label), its lease, a kill, what a start thread found, and
whether the log of an ended container is complete (from the position file its streamer keeps
beside it, so that a restarted node knows it too), with its last lines for the run's message."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from winslow.controller.context import NodeContext
from winslow.controller.events import Event
from winslow.controller.parsedlogs import ParsedLog
from winslow.controller.reconciler import Key
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo, ContainerState
from winslow.controller.stagelogs import DrainState, Streamer, drain_state, tail
from winslow.controller.subjects import lease_subject
from winslow.reconcilers.stagerun.containers import find_container
from winslow.reconcilers.stagerun.start import Outcome, Starts
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.pipeline import ProgressForm
from winslow.resources.stageoutput import StageOutput
from winslow.resources.stagerun import StageRun, StageRunPhase

log = logging.getLogger(__name__)


LAST_LINES = 3  # lines of a failed run's log its message quotes
RECALL_BYTES = 8 << 20  # of a run's log read back after a restart, for the results it printed


class Reported:
    """What a stage reported in its output so far: fed on its log's streamer thread, read on
    the loop thread. The rows of its log parsers go to their files on the streamer thread."""

    def __init__(self, form: ProgressForm, parsed: ParsedLog | None = None) -> None:
        self._output = StageOutput(form)
        self._lock = threading.Lock()
        self.parsed = parsed

    def feed(self, data: bytes, stamp: str) -> None:
        with self._lock:
            self._output.feed(data)
        if self.parsed is not None:
            self.parsed.feed(data, stamp)

    def recall(self, logfile: Path, limit: int = RECALL_BYTES) -> None:
        """Read what the stage printed before this process took over its log (its last `limit`
        bytes): the streamer resumes after it, and a result that a killed process had read but
        not recorded yet would otherwise be lost. Only results and progress: the parsers' files
        continue where they were."""
        try:
            fd = os.open(logfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return  # no log yet: nothing was read before
        try:
            size = os.fstat(fd).st_size
            os.lseek(fd, max(0, size - limit), os.SEEK_SET)
            data = os.read(fd, limit)
        except OSError as exc:
            log.warning("could not read back %s to recall what the stage reported: %s", logfile, exc)
            return
        finally:
            os.close(fd)
        if size > limit:  # begin at a whole line
            data = data[data.find(b"\n") + 1 :]
        with self._lock:
            self._output.feed(data)

    def seen(self) -> Seen:
        with self._lock:
            return Seen(dict(self._output.results), self._output.progress)


@dataclass(frozen=True)
class Seen:
    results: dict[str, str]
    progress: float | None


@dataclass
class StageRunContext:
    """What the StageRun reconciler works with: the node's services, and what it keeps between
    passes: the loop thread's alone, except `stopping`, which a stop thread clears when done."""

    node: NodeContext
    starts: Starts
    watchers: dict[str, Streamer] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    """Runs a write of which the share refused, said once until one goes through."""
    known: set[str] = field(default_factory=set)
    """Runs whose container may exist: found at the node's start, or started since."""
    stopping: set[str] = field(default_factory=set)
    """Containers a stop thread is at work on (a stop waits for the container to end)."""
    reported: dict[str, Reported] = field(default_factory=dict)
    """What each run's output reported, as its streamer read it."""


@dataclass(frozen=True)
class Observation:
    name: str
    record: RunRecord | None
    """The run's state, from the log: the only one decisions read."""
    run: StageRun | None
    """Its file, for the frozen spec; None while this node cannot read it."""
    node: str
    now: float
    container: ContainerInfo | None
    lease_mine: bool
    kill: Event | None
    watching: bool
    starting: bool = False
    """A start thread is at work on it."""
    outcome: Outcome | None = None
    """What a start thread found and nothing has recorded yet."""
    drained: bool = False
    """The run's log is complete: its container ended and the streamer copied every byte."""
    drain_since: float | None = None
    """When the streamer now at work on the log began (wall clock), if it said so."""
    last_lines: tuple[str, ...] = ()
    """The end of the log of a container that failed, once the log is complete."""
    seen: Seen | None = None
    """What its output reported, as far as this process's streamer read it (None: none read)."""


def observe(ctx: StageRunContext, key: Key) -> Observation:
    """A run this process has not started nor found at its start (not `known`) has no container
    yet while its record says it is Pending: the engine is not asked."""
    node, name = ctx.node, key.name
    node.events.poll()
    view = node.events.view()
    record = view.runs.get(name)
    run: StageRun | None = None
    if record is not None and record.node == node.name and record.phase.active:
        try:
            run = node.layout.store.stagerun(name)
        except (NotFoundError, ManifestError, ValueError) as exc:
            log.info("cannot read the file of StageRun %s yet: %s", name, exc)
    outcome = ctx.starts.peek(name)
    container = _container(node, name, record, outcome, fresh=name not in ctx.known)
    drain = DrainState(False, None)
    last: tuple[str, ...] = ()
    if container is not None and container.state is ContainerState.EXITED and record is not None:
        logfile = node.layout.log_file(record.project, name)
        drain = drain_state(logfile)  # only where it can matter
        if drain.drained and container.exit_code:
            last = tuple(tail(logfile, LAST_LINES))
    watcher, reported = ctx.watchers.get(name), ctx.reported.get(name)
    return Observation(
        name=name,
        record=record,
        run=run,
        node=node.name,
        now=node.clock(),
        container=container,
        lease_mine=node.leases.held(lease_subject(name), view=view),
        # run names are never reused, and nodes' clocks may differ: no time check
        kill=view.kills.get(lease_subject(name)),
        watching=watcher is not None and watcher.is_alive(),
        starting=ctx.starts.busy(name),
        outcome=outcome,
        drained=drain.drained,
        drain_since=drain.since,
        last_lines=last,
        seen=reported.seen() if reported is not None else None,
    )


def _container(
    ctx: NodeContext, name: str, record: RunRecord | None, outcome: Outcome | None, fresh: bool
) -> ContainerInfo | None:
    """The engine is asked only when what this process knows cannot tell: a run it never started
    has no container yet, and one whose start thread just saw its container running has it."""
    if fresh and _unstarted(record, outcome):
        return None
    if outcome is not None and outcome.container_id is not None:
        return ContainerInfo(outcome.container_id, "", {}, ContainerState.RUNNING)
    return find_container(ctx, name)


def _unstarted(record: RunRecord | None, outcome: Outcome | None) -> bool:
    return (
        record is not None
        and record.phase is StageRunPhase.PENDING
        and record.container_id is None
        and outcome is None
    )
