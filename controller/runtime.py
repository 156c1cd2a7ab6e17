"""The container runtime port: the small interface reconcilers need, whatever runs containers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class ImageNotFound(Exception):
    """The stage's image is not on this node and cannot be pulled."""


class RuntimeFailure(Exception):
    """The runtime refused to create or start the container; the message says why."""


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: list[str] | None
    args: list[str]
    env: dict[str, str]
    mounts: list[Mount]
    labels: dict[str, str]
    cpu: float = 0.0
    memory: int = 0
    gpus: list[int] = field(default_factory=list)
    pids: int = 4096
    time_limit: float | None = None
    """The stage's timeoutSeconds. The node stops a Docker container itself at that time; a
    runtime with limits of its own is also given it (Slurm's `--time`), so that it ends the job
    where the node cannot."""


class ContainerState(StrEnum):
    CREATED = "created"
    QUEUED = "queued"  # waiting in its runtime's own queue (Slurm's): it starts by itself
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: dict[str, str]
    state: ContainerState
    exit_code: int | None = None
    oom_killed: bool = False
    finished_at: float | None = None
    ended_by: str | None = None
    """Why the runtime ended it, where the node did not ask it to (Slurm's `TIMEOUT`,
    `NODE_FAIL`, `PREEMPTED`, a cancel by someone else): the first words of a failed run's message."""
    time_limit: float | None = None
    """Seconds after its start at which the runtime itself ends it (Slurm rounds a limit up to
    whole minutes), if it does: the node then stops it itself only well after that, so that the
    runtime's own account of the end (`TIMEOUT`) is the one recorded."""


@dataclass(frozen=True)
class LogEntry:
    """One piece of a container's output as the runtime stored it, with the runtime's time of
    it: fixed-width UTC (Docker: `2026-01-02T03:04:05.123456789Z`), so that ordering the strings
    orders the times. A restarted node continues the log after the last entry it copied, found by
    this time, because the runtime's own log is bounded and no longer starts at the first byte."""

    stamp: str
    data: bytes


class Runtime(Protocol):
    def run(self, spec: ContainerSpec) -> str: ...

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]: ...

    def inspect(self, container_id: str) -> ContainerInfo | None: ...

    def start(self, container_id: str) -> None:
        """Start a container that was created but never started (its node died in between)."""
        ...

    def stop(self, container_id: str, timeout: float = 10) -> None: ...

    def remove(self, container_id: str) -> None: ...

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        """The last `tail` entries the runtime holds now (all of them for None), in order; it
        does not follow (Docker's follow stream skips and repeats once its log rotates)."""
        ...

    def wait(self, container_id: str) -> int: ...
