"""Pipeline: an ordered list of stage definitions plus pipeline-wide env."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from winslow.resources.amount import Amount
from winslow.resources.base import DnsLabel, Env, Metadata, Model
from winslow.resources.quantity import parse_cpu, parse_memory


def _memory(value: str | int) -> str | int:
    parse_memory(value)
    return value


Cpu = Annotated[float, BeforeValidator(parse_cpu)]
Memory = Annotated[str | int, AfterValidator(_memory)]


class Resources(Model):
    cpu: Cpu = 1.0
    memory: Memory = "256Mi"
    gpu: int = Field(default=0, ge=0)
    pids: int = Field(
        default=4096,
        ge=16,
        le=4_194_304,
        description="processes and threads the stage may have at once: a fork bomb stops here, "
        "not at the host",
    )

    @property
    def memory_bytes(self) -> int:
        return parse_memory(self.memory)

    @property
    def amount(self) -> Amount:
        """What the stage asks for, as every other part of the node counts it."""
        return Amount(self.cpu, self.memory_bytes, self.gpu)


class WorkspaceMode(StrEnum):
    INCREMENTAL = "incremental"
    STANDALONE = "standalone"
    CONTINUATION = "continuation"


class WorkspacePolicy(Model):
    mode: WorkspaceMode = WorkspaceMode.INCREMENTAL
    from_stage: DnsLabel | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _continuation_names_a_stage(self) -> WorkspacePolicy:
        if self.mode is WorkspaceMode.CONTINUATION and not self.from_stage:
            raise ValueError("mode continuation needs `from: STAGE`, the stage whose workspace to reuse")
        return self


class RetryPolicy(Model):
    count: int = Field(default=0, ge=0, le=100)
    backoff_seconds: float = Field(default=10.0, ge=0)


class StageSpec(Model):
    name: DnsLabel
    image: str
    command: list[str] | None = None
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    confirm: bool = False
    retry: RetryPolicy | None = None
    workspace: WorkspacePolicy = Field(default_factory=WorkspacePolicy)
    timeout_seconds: float | None = Field(default=None, gt=0)

    @field_validator("image")
    @classmethod
    def _image_not_blank(cls, image: str) -> str:
        if not image.strip():
            raise ValueError("image is empty; name the container image, for example busybox:latest")
        return image


def check_stage_list(stages: list[StageSpec]) -> list[StageSpec]:
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        if stage.name in seen:
            raise ValueError(
                f"stage name {stage.name!r} is used twice (again at index {index}); "
                "give each stage its own name"
            )
        seen.add(stage.name)
        policy = stage.workspace
        if policy.mode is WorkspaceMode.CONTINUATION and policy.from_stage not in seen - {stage.name}:
            raise ValueError(
                f"stage {stage.name!r}: workspace.from {policy.from_stage!r} must name an earlier stage"
            )
    return stages


StageList = Annotated[list[StageSpec], Field(min_length=1), AfterValidator(check_stage_list)]


class PipelineSpec(Model):
    env: Env = Field(default_factory=dict)
    stages: StageList


class Pipeline(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: Metadata
    spec: PipelineSpec
