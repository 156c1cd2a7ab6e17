"""Pipeline: an ordered list of stage definitions plus pipeline-wide env."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from winslow.resources import conditions, matrix
from winslow.resources.amount import Amount
from winslow.resources.base import DnsLabel, Env, Metadata, Model
from winslow.resources.graph import Graph, graph, problems
from winslow.resources.labels import Selector
from winslow.resources.logparsers import LogParsers
from winslow.resources.quantity import parse_cpu, parse_memory


def _memory(value: str | int) -> str | int:
    parse_memory(value)
    return value


Cpu = Annotated[float, BeforeValidator(parse_cpu)]
Memory = Annotated[str | int, AfterValidator(_memory)]


class Resources(Model):
    """What the stage needs of a node: it runs only where this much is free, and its container is
    limited to it."""

    cpu: Cpu = Field(
        default=1.0,
        description="CPU cores reserved for the stage and the container's CPU limit",
        examples=["500m"],
    )
    memory: Memory = Field(
        default="256Mi",
        description="memory reserved for the stage; the container is killed if it uses more",
        examples=["16Gi"],
    )
    gpu: int = Field(
        default=0,
        ge=0,
        description="whole GPUs the stage gets to itself (visible in the container)",
        examples=[1],
    )
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
    """Where a stage's `/workspace` starts from."""

    INCREMENTAL = "incremental"
    STANDALONE = "standalone"
    CONTINUATION = "continuation"


class WorkspacePolicy(Model):
    """What `/workspace` holds when the stage starts."""

    mode: WorkspaceMode = Field(
        default=WorkspaceMode.INCREMENTAL,
        description="incremental: a copy of the workspace of the stage it needs (the first of its "
        "`needs`; a stage after a sweep copies the combination with its own values, else the last "
        "to finish); standalone: empty; continuation: a copy of the workspace of the stage named in `from`",
        examples=["continuation"],
    )
    from_stage: DnsLabel | None = Field(
        default=None,
        alias="from",
        description="with mode continuation: a stage this one needs (directly or through others) whose "
        "last successful workspace to copy; for a join, which of its needs it continues from",
        examples=["detect"],
    )

    @model_validator(mode="after")
    def _continuation_names_a_stage(self) -> WorkspacePolicy:
        if self.mode is WorkspaceMode.CONTINUATION and not self.from_stage:
            raise ValueError("mode continuation needs `from: STAGE`, the stage whose workspace to reuse")
        return self


class RetryPolicy(Model):
    """Run a failed stage again by itself, before the project is marked Failed."""

    count: int = Field(
        default=0, ge=0, le=100, description="how many times a failed run is started again", examples=[2]
    )
    backoff_seconds: float = Field(
        default=10.0, ge=0, description="seconds to wait after a failure before the next try", examples=[60]
    )


class ProgressForm(StrEnum):
    """How a stage's output reports progress. Only the marker by default: a percentage that a
    tool prints for its own reasons (a download, a copy) is not the stage's progress."""

    MARKER = "marker"  # lines `WINSLOW_PROGRESS: 42`
    PERCENT_LINES = "percent-lines"  # also any `42 %` or `42%` in a line, as the original Winslow read it


def valid_matrix(sweep: Mapping[str, Any] | None) -> Any:
    """A stage's `matrix`, or a resume's; its every problem named by variable otherwise."""
    found = matrix.check(sweep) if sweep is not None else []
    if found:
        shown = "; ".join(f"{name}: {problem}" if name else problem for name, problem in found)
        raise PydanticCustomError("matrix", "{problem}", {"problem": shown})
    return sweep


class StageSpec(Model):
    """One step of the pipeline: a container that runs to completion in the stage's workspace, with
    `/input` (read-only), `/output`, `/resources` (read-only) and `/workspace` mounted."""

    name: DnsLabel = Field(
        description="the stage's name, unique in the pipeline; `resume --from NAME` and StageRun names "
        "use it",
        examples=["detect"],
    )
    image: str = Field(
        description="the container image; a node that does not have it pulls it before the stage starts",
        examples=["python:3.12-slim"],
    )
    command: list[str] | None = Field(
        default=None,
        description="the program and its arguments, replacing the image's entrypoint; not run through a "
        "shell unless you write one (`[sh, -c, ...]`); default: the image's entrypoint",
        examples=[["sh", "-c", "python3 detect.py > /output/log.txt"]],
    )
    args: list[str] = Field(
        default_factory=list,
        description="arguments appended to `command` (or to the image's entrypoint)",
        examples=[["--fps", "25"]],
    )
    env: Env = Field(
        default_factory=dict,
        description="environment variables of this stage; they override the pipeline's, and the "
        "project's override them",
        examples=[{"THRESHOLD": "0.5"}],
    )
    resources: Resources = Field(
        default_factory=Resources, description="what the stage needs of a node (cpu, memory, gpu, pids)"
    )
    node_selector: Selector = Field(
        default_factory=dict,
        description="run only on a node with all of these labels (`winslow node --label gpu=a100`); "
        "default: any node",
        examples=[{"gpu": "a100"}],
    )
    confirm: bool = Field(
        default=False,
        description="wait for a user's `winsctl confirm PROJECT` (or the UI's Confirm) before this stage "
        "starts: the human-in-the-loop gate",
        examples=[True],
    )
    retry: RetryPolicy | None = Field(
        default=None, description="start a failed run again by itself; default: no retries"
    )
    workspace: WorkspacePolicy = Field(
        default_factory=WorkspacePolicy, description="what `/workspace` holds when the stage starts"
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="stop the container and fail the run after this many seconds of running (time "
        "spent pulling the image does not count); default: no limit",
        examples=[3600],
    )
    progress: ProgressForm = Field(
        default=ProgressForm.MARKER,
        description="how the stage reports progress: `marker` reads only lines `WINSLOW_PROGRESS: N`; "
        "`percent-lines` also takes any `N %` in a line. Results always come from lines "
        "`WINSLOW_RESULT: key=value`",
    )
    log_parsers: LogParsers = Field(
        default_factory=list,
        description="turn lines of the output into CSV for charts: each line in which a parser's "
        "pattern is found adds a row to `.winslow/parsed/NAME.csv` in the run's workspace (the "
        "line's time in ISO 8601 UTC, then the pattern's named groups); the project's Charts tab "
        "draws them, one series per run",
        examples=[[{"name": "loss", "pattern": r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"}]],
    )

    needs: list[DnsLabel] | None = Field(
        default=None,
        description="the stages that must be done (succeeded or skipped) before this one starts; "
        "several make a join. Default: the stage before it in the list; `[]` starts at once",
        examples=[["train", "judge"]],
    )
    when: str | None = Field(
        default=None,
        max_length=conditions.MAX_EXPRESSION,
        description="a condition in CEL over `results` (`results.judge.verdict`; for a sweep a list of "
        "`{matrix, results}`), `env` and `phases`; false skips the stage (phase Skipped), which "
        "counts as done for the stages that need it",
        examples=['results.judge.verdict == "good"'],
    )
    matrix: dict[str, Any] | None = Field(
        default=None,
        description="a sweep: one run per combination of these variables' values, each with them in "
        'its env. A value is a list (`["0.1", "0.01"]`) or a range in exact decimals '
        "(`{from: 8, to: 64, step: 8}`; the end is always included)",
        examples=[{"LR": ["0.1", "0.01"], "BATCH": {"from": 8, "to": 64, "step": 8}}],
    )
    max_parallel: int | None = Field(
        default=None,
        ge=1,
        description="a sweep: at most this many of its combinations run at once, across all nodes; "
        "default: as many as the nodes fit",
        examples=[4],
    )
    fail_fast: bool = Field(
        default=True,
        description="a sweep: after a combination fails, start no more; false runs every combination "
        "and fails the stage at the end if any failed",
    )

    @field_validator("when")
    @classmethod
    def _valid_condition(cls, when: str | None) -> str | None:
        problem = conditions.check(when) if when is not None else None
        if problem:
            raise PydanticCustomError("condition", "{problem}", {"problem": problem})
        return when

    _valid_matrix = field_validator("matrix")(lambda sweep: valid_matrix(sweep))

    def combinations(self) -> list[dict[str, str]]:
        """The sweep's combinations, or one with no variables for a stage that is no sweep."""
        return matrix.expand(self.matrix) if self.matrix else [{}]

    @field_validator("image")
    @classmethod
    def _image_not_blank(cls, image: str) -> str:
        if not image.strip():
            raise ValueError("image is empty; name the container image, for example busybox:latest")
        return image


def stage_graph(stages: list[StageSpec]) -> Graph:
    """The graph of a valid stage list (one that passed `check_stage_list`); a project's planner
    asks on every pass, so the graph of the same names and needs is made once."""
    return _graph(tuple((s.name, tuple(s.needs) if s.needs is not None else None) for s in stages))


@functools.lru_cache(maxsize=1024)
def _graph(declared: tuple[tuple[str, tuple[str, ...] | None], ...]) -> Graph:
    return graph(declared)


def _invalid(message: str, at: tuple[int | str, ...]) -> PydanticCustomError:
    """`at` is where in the stage list the problem is: the file's line is found by it
    (resources.wording.problem_loc), not only the list's."""
    return PydanticCustomError("stage_graph", "{message}", {"message": message, "at": list(at)})


def check_stage_list(stages: list[StageSpec]) -> list[StageSpec]:
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        if stage.name in seen:
            raise _invalid(
                f"stage name {stage.name!r} is used twice (again at index {index}); "
                "give each stage its own name",
                (index, "name"),
            )
        seen.add(stage.name)
    found = problems([(s.name, s.needs) for s in stages], prefix="")
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more problem(s) in needs)" if len(found) > 1 else ""
        at = tuple(int(p) if p.isdigit() else p for p in re.findall(r"\w+", first.field))
        raise _invalid(f"{first.message}{more}", at)
    shape = stage_graph(stages)
    for index, stage in enumerate(stages):
        policy = stage.workspace
        if policy.mode is WorkspaceMode.CONTINUATION and policy.from_stage not in shape.upstream(stage.name):
            raise _invalid(
                f"stage {stage.name!r} continues {policy.from_stage!r}, which is not a stage it needs "
                "(directly or through others); name one of those, or add it to `needs`",
                (index, "workspace", "from"),
            )
    return stages


StageList = Annotated[list[StageSpec], Field(min_length=1), AfterValidator(check_stage_list)]


class Retention(Model):
    """Which StageRun workspaces (`workspaces/<project>/stages/<run>/`) stay on the share once their
    runs ended; the others are removed. Only the workspace folder goes: the StageRun, its log and its
    record stay, and a file `<run>.removed` beside the folders says when and why. Whatever the
    policy says, a workspace is never removed while its run is Pending or Running, while a Pending or
    Running run copies from it, or while it is the newest succeeded run of its stage (of its
    combination, for a sweep): the one a next run, a resume or a `continuation` copies from."""

    keep_succeeded: int | None = Field(
        default=None,
        ge=0,
        description="per stage, how many of its newest succeeded runs keep their workspaces (each "
        "combination of a sweep is one run); default: all of them",
        examples=[3],
    )
    keep_failed: bool = Field(
        default=True,
        description="keep the workspaces of runs that ended Failed, Killed or Lost; false removes them",
    )
    keep_latest: bool = Field(
        default=True,
        description="keep the workspace of each stage's newest run, whatever it ended with",
    )


class PipelineSpec(Model):
    env: Env = Field(
        default_factory=dict,
        description="environment variables for every stage (a stage's or the project's `env` overrides them)",
        examples=[{"FPS": "25"}],
    )
    stages: StageList = Field(description="the stages, run in this order")
    retention: Retention | None = Field(
        default=None,
        description="which workspaces of ended runs stay on the share (a project's own `retention` "
        "replaces it as a whole); default: all of them",
        examples=[{"keepSucceeded": 3, "keepFailed": True, "keepLatest": True}],
    )


class Pipeline(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: Metadata = Field(description="the pipeline's name, labels and annotations")
    spec: PipelineSpec = Field(description="the stages and their shared environment")
