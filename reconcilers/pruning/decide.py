"""Which of this node's containers to remove: a pure function of what the engine and the log show."""

from __future__ import annotations

from collections.abc import Callable

from winslow.controller.runtime import ContainerInfo, ContainerState


def decide(
    containers: list[ContainerInfo], now: float, keep_seconds: float, finished: Callable[[str], bool]
) -> list[str]:
    """Ids of exited containers older than `keep_seconds` whose StageRun has its result recorded."""
    return [
        c.id
        for c in containers
        if c.state is ContainerState.EXITED
        and c.finished_at is not None
        and now - c.finished_at > keep_seconds
        and finished(c.labels.get("winslow.stagerun", ""))
    ]
