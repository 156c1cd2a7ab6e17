"""Quota: what one user, one group or one project may run at once across the cluster.

A lab's manifests, in `quotas/` beside pipelines and projects, written by admins only. A stage
that would take a covered scope past any of `hard` waits, with the quota named, and starts when
its runs leave room; the check is made again under the quota's lock when the run is created, so
two nodes never both start past it (reconcilers/project/quotas.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from winslow.resources.amount import Amount
from winslow.resources.base import DnsLabel, Metadata, Model
from winslow.resources.pipeline import Cpu, Memory
from winslow.resources.quantity import parse_memory


class Hard(Model):
    """The most a scope may hold at once; a resource left out is not limited."""

    cpu: Cpu | None = Field(default=None, description="CPU cores reserved by running stages", examples=[8])
    memory: Memory | None = Field(
        default=None, description="memory reserved by running stages", examples=["32Gi"]
    )
    gpu: int | None = Field(default=None, ge=0, description="GPUs held by running stages", examples=[2])

    def exceeded(self, used: Amount) -> list[str]:
        """The resources over the limit (`gpu`, `cpu`, `memory`) with `used` in them."""
        over = []
        if self.gpu is not None and used.gpu > self.gpu:
            over.append("gpu")
        if self.cpu is not None and used.cpu > self.cpu + 1e-9:
            over.append("cpu")
        if self.memory is not None and used.memory > parse_memory(self.memory):
            over.append("memory")
        return over

    def limit(self, resource: str) -> str:
        value = getattr(self, resource)
        return f"{value:g}" if isinstance(value, float) else str(value)


class QuotaSpec(Model):
    user: str | None = Field(default=None, description="the projects this user owns", examples=["alice"])
    group: str | None = Field(
        default=None, description="the projects owned by members of this group (settings/users.yaml)"
    )
    project: DnsLabel | None = Field(default=None, description="one project")
    hard: Hard = Field(description="what the scope may run at once across all nodes")

    @model_validator(mode="after")
    def _one_scope(self) -> QuotaSpec:
        given = [k for k in ("user", "group", "project") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "name exactly one of user, group or project (write one Quota for each); "
                f"this one names {', '.join(given) or 'none'}"
            )
        return self

    @property
    def scope(self) -> str:
        if self.user is not None:
            return f"user {self.user}"
        if self.group is not None:
            return f"group {self.group}"
        return f"project {self.project}"

    def covers(self, project: str, owner: str | None, groups: frozenset[str]) -> bool:
        """`groups`: those of the project's owner."""
        if self.project is not None:
            return project == self.project
        if self.user is not None:
            return owner == self.user
        return self.group in groups


class Quota(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Quota"] = "Quota"
    metadata: Metadata = Field(description="the quota's name, as reasons and `get quotas` show it")
    spec: QuotaSpec = Field(description="whom it covers and how much")
