"""A StageRun's container: its name (derived from the run, so the engine itself refuses a
second one) and its labels (how a restarted node finds it again)."""

from __future__ import annotations

from winslow.controller.context import NodeContext
from winslow.controller.runtime import ContainerInfo
from winslow.controller.subjects import lease_subject
from winslow.controller.watchdog import LEASE_LABEL
from winslow.resources.stagerun import StageRun


def container_name(ctx: NodeContext, run: str) -> str:
    return f"winslow-{ctx.layout.uid[:8]}-{run}"


def labels(ctx: NodeContext, run: StageRun) -> dict[str, str]:
    return {
        "winslow.share": ctx.layout.uid,
        "winslow.project": run.spec.project,
        "winslow.stage": run.spec.stage,
        "winslow.stagerun": run.metadata.name,
        "winslow.node": ctx.name,
        LEASE_LABEL: lease_subject(run.metadata.name),  # what the node's watchdog fences it by
    }


def find_container(ctx: NodeContext, name: str) -> ContainerInfo | None:
    assert ctx.runtime is not None
    found = ctx.runtime.find(
        {"winslow.share": ctx.layout.uid, "winslow.stagerun": name, "winslow.node": ctx.name}
    )
    return found[0] if found else None
