"""`apply`'s warning for a stage image that no live node holds yet: not a refusal (the node that
runs the stage pulls it when the stage starts), but a typo in an image name is cheaper to see now
than after a pull fails hours later in the queue."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from winslow.controller.monitor import NodeDirectory, readiness
from winslow.resources.node import Node

DEFAULT_REGISTRY_PREFIXES = (
    "docker.io/library/",
    "docker.io/",
    "index.docker.io/library/",
    "index.docker.io/",
)


def normal(image: str) -> str:
    """`busybox` and `docker.io/library/busybox:latest` are one image; a digest stays as it is."""
    name = image.strip()
    for prefix in DEFAULT_REGISTRY_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def held(image: str, nodes: Iterable[Node]) -> bool:
    wanted = normal(image)
    for node in nodes:
        for local in node.status.images or []:
            if wanted in {normal(t) for t in local.tags}:
                return True
            bare = image.removeprefix("sha256:")
            if image.startswith("sha256:") and local.id.removeprefix("sha256:")[:12] == bare[:12]:
                return True
    return False


def stages_of(documents: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(subject, stage) of every stage the documents define (a project's own stages too), as
    decoded, before validation: what `apply` warns about is looked at whatever else is wrong."""
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") not in ("Pipeline", "Project"):
            continue
        name = (doc.get("metadata") or {}).get("name")
        stages = (doc.get("spec") or {}).get("stages") or []
        for stage in stages if isinstance(stages, list) else []:
            if isinstance(stage, dict):
                yield f"{str(doc['kind']).lower()}/{name}", stage


def stage_images(documents: list[Any]) -> list[tuple[str, str, str]]:
    """(subject, stage, image) of every stage the documents define."""
    return [
        (subject, str(stage.get("name")), stage["image"])
        for subject, stage in stages_of(documents)
        if isinstance(stage.get("image"), str)
    ]


def missing_images(folder: Any, documents: list[Any], now: float | None = None) -> list[str]:
    """Warnings for images no live, executing node reports; nothing when no node reports images
    (nodes of an older version): then nothing is known."""
    wanted = stage_images(documents)
    if not wanted:
        return []
    directory = NodeDirectory(folder)
    at = time.time() if now is None else now
    live = [
        n
        for n in directory.all()
        if n.status.executes and readiness(n, at, directory.beat(n.metadata.name)).ready
    ]
    reporting = [n for n in live if n.status.images is not None]
    if not reporting:
        return []
    warnings = []
    for subject, stage, image in wanted:
        if not held(image, reporting):
            warnings.append(
                f"{subject}: stage {stage}: no live node has image {image!r} yet; the node that runs the "
                "stage will pull it when the stage starts (a failed pull fails the stage)"
            )
    return warnings
