"""Which of this node's containers to remove: a pure function of what the engine and the log show."""

from __future__ import annotations

from dataclasses import dataclass

from winslow.controller.runtime import ContainerInfo, ContainerState


@dataclass(frozen=True)
class Observation:
    containers: tuple[ContainerInfo, ...]
    """This node's containers on this share, found by label."""
    ended: frozenset[str]
    """Of the StageRuns they belong to, those whose result is recorded (or that the log does not
    know): only their containers may go, since a live run's container is its ground truth."""
    now: float
    keep_seconds: float


@dataclass(frozen=True)
class Remove:
    container_id: str


def decide(obs: Observation) -> list[Remove]:
    """Exited containers older than `keep_seconds` whose StageRun has its result recorded."""
    return [
        Remove(c.id)
        for c in obs.containers
        if c.state is ContainerState.EXITED
        and c.finished_at is not None
        and obs.now - c.finished_at > obs.keep_seconds
        and c.labels.get("winslow.stagerun", "") in obs.ended
    ]
