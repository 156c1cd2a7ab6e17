"""Node: what each daemon publishes about itself (thesis Appendix B)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from winslow.resources.amount import Amount, Weights
from winslow.resources.base import Metadata, Model


class Gpu(Model):
    index: int
    model: str = ""
    memory_bytes: int = 0
    utilisation: float | None = None
    memory_used_bytes: int | None = None


class LocalImage(Model):
    """One container image that Docker holds on the node."""

    id: str = Field(description="the image id (sha256:...)")
    tags: list[str] = Field(default_factory=list, description="its names (repository:tag), at most a few")


class Utilisation(Model):
    cpu_percent_per_core: list[float] = Field(default_factory=list)
    memory_used: int = 0
    disk_free: int = 0
    net_bytes_sent: int = 0
    net_bytes_recv: int = 0
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    net_sent_per_second: float = 0.0
    net_recv_per_second: float = 0.0
    disk_read_per_second: float = 0.0
    disk_write_per_second: float = 0.0


class NodeHistory(Model):
    """The last hour of a node's load, one sample per `step` seconds, oldest first; sample i covers
    [start + i * step, start + (i + 1) * step) and the last one is still filling. None: no heartbeat
    in that step. CPU and GPU are ratios of the whole (0..1); throughput in bytes per second."""

    step: float = 60.0
    start: datetime
    cpu: list[float | None] = Field(default_factory=list)
    memory: list[float | None] = Field(default_factory=list)
    gpu: list[float | None] = Field(default_factory=list)
    net_in: list[float | None] = Field(default_factory=list)
    net_out: list[float | None] = Field(default_factory=list)
    disk_read: list[float | None] = Field(default_factory=list)
    disk_write: list[float | None] = Field(default_factory=list)
    running: list[float | None] = Field(default_factory=list)


class NodeStatus(Model):
    capacity: Amount
    gpus: list[Gpu] = Field(default_factory=list)
    reservations: Amount = Field(default_factory=Amount)
    multipliers: Weights = Field(default_factory=Weights)
    utilisation: Utilisation = Field(default_factory=Utilisation)
    executes: bool = True
    running: list[str] = Field(default_factory=list)
    api: str | None = None
    build: str = ""
    started: datetime | None = None
    heartbeat: datetime
    heartbeat_seconds: float = 5.0
    """How often the node publishes this file: a reader tells a silent node by it."""
    stopped: datetime | None = None
    """Set by a node stopping gracefully (a restart, as far as it knows): NotReady at once."""
    stage_tolerance: float | None = None
    """How long its stages outlive its silence (`winslow node --stage-tolerance`)."""
    history: NodeHistory | None = None
    clock_offsets: dict[str, float] = Field(default_factory=dict)
    images: list[LocalImage] | None = None
    """The images Docker holds on the node (a bounded list, refreshed every few minutes), so that
    `apply` can warn about an image no node has yet; None: not known (yet)."""
    """Each peer's wall clock minus this node's, as far as the events it published tell."""


class Node(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Node"] = "Node"
    metadata: Metadata
    status: NodeStatus
