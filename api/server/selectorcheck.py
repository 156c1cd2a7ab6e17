"""`apply`'s warning for a stage whose nodeSelector no live node matches: not a refusal (the node
may be down for a moment, or not started yet), but a typo in a label is cheaper to see now than
after a stage waited for hours for a node that does not exist."""

from __future__ import annotations

import time
from typing import Any

from winslow.api.server.imagecheck import stages_of
from winslow.controller.monitor import NodeDirectory, readiness
from winslow.resources import labels


def stage_selectors(documents: list[Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(subject, stage, selector) of every stage of the documents that has a nodeSelector."""
    found = []
    for subject, stage in stages_of(documents):
        selector = stage.get("nodeSelector")
        if isinstance(selector, dict) and selector:
            wanted = {str(k): str(v) for k, v in selector.items()}
            found.append((subject, str(stage.get("name")), wanted))
    return found


def unmatched(folder: Any, documents: list[Any], now: float | None = None) -> list[str]:
    """Warnings for stages whose nodeSelector no live, executing node matches."""
    wanted = stage_selectors(documents)
    if not wanted:
        return []
    directory = NodeDirectory(folder)
    at = time.time() if now is None else now
    live = {
        n.metadata.name: n.metadata.labels
        for n in directory.all()
        if n.status.executes and readiness(n, at, directory.beat(n.metadata.name)).ready
    }
    return [
        f"{subject}: stage {stage}: {labels.no_match(selector, live)}; the stage waits until a node with "
        "them runs (`winslow node --label`)"
        for subject, stage, selector in wanted
        if not any(labels.matches(selector, have) for have in live.values())
    ]
