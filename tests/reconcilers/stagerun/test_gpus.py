"""A stage's GPUs from NVML (faked at its boundary) to Docker's device request and the log's
first line, through the StageRun reconciler's start with a fake runtime."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.contexts import node_context
from tests.controller.test_capacity import FakeNvml
from winslow.controller.capacity import detect
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo, ContainerSpec, ContainerState, LogEntry, RuntimeFailure
from winslow.controller.subjects import lease_subject
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun.start import run_container
from winslow.resources.amount import Amount
from winslow.resources.stagerun import StageRun

NAME = "p.1.train"


class RecordingRuntime:
    def __init__(self) -> None:
        self.specs: list[ContainerSpec] = []

    def run(self, spec: ContainerSpec) -> str:
        self.specs.append(spec)
        return "c1"

    def inspect(self, container_id: str) -> ContainerInfo:
        return ContainerInfo(id=container_id, name=NAME, labels={}, state=ContainerState.EXITED, exit_code=0)

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        yield from ()


def _start(tmp_path, gpus_found: list[str], gpus_offered: int | None, requested: int, granted: int):
    simulate = gpus_offered is not None
    nvml = FakeNvml(gpus_found)
    capacity = detect(cpus=8, memory=16 << 30, gpus=gpus_offered, nvml=nvml, simulate_gpus=simulate)
    runtime = RecordingRuntime()
    ctx = node_context(tmp_path / "share", "ws-01", capacity=capacity, runtime=runtime)  # type: ignore[arg-type]
    layout = ctx.layout
    run = StageRun.model_validate(
        {
            "metadata": {"name": NAME},
            "spec": {
                "project": "p",
                "stage": "train",
                "index": 0,
                "image": "trainer:1",
                "resources": {"cpu": 1, "memory": "1Gi", "gpu": requested},
            },
            "status": {"node": "ws-01", "gpus": list(range(granted))},
        }
    )
    layout.store.write_stagerun(run)
    record = RunRecord(
        name=NAME, project="p", number=1, stage="train", index=0, node="ws-01", created=datetime.now(UTC)
    )
    assert ctx.leases.acquire("project/p")
    runfiles.record(ctx, record, create=True)
    assert ctx.leases.acquire(lease_subject(NAME))
    ctx.reservations.grant(NAME, Amount(1, 1 << 30, granted), list(range(granted)))
    run_container(ctx, run)
    first = next(line for line in layout.log_file("p", NAME).read_text().splitlines() if "starting" in line)
    return runtime.specs, first


def test_real_gpus_go_to_docker_by_index_and_are_named(tmp_path):
    specs, first = _start(tmp_path, ["NVIDIA H100 80GB HBM3"] * 2, None, requested=2, granted=2)
    assert [s.gpus for s in specs] == [[0, 1]]
    models = "NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3"
    assert f"starting trainer:1 on ws-01 with GPUs 0,1 ({models}) (attempt 1" in first


def test_simulated_gpus_pass_no_device_and_say_so(tmp_path):
    specs, first = _start(tmp_path, ["NVIDIA A100"], 2, requested=2, granted=2)
    assert [s.gpus for s in specs] == [[0]]
    assert "with GPUs 0 (NVIDIA A100) and simulated GPUs 1 (this node runs with --simulate-gpus" in first


def test_a_stage_without_gpus_has_the_plain_line(tmp_path):
    specs, first = _start(tmp_path, ["NVIDIA A100"], None, requested=0, granted=0)
    assert [s.gpus for s in specs] == [[]]
    assert "starting trainer:1 on ws-01 (attempt 1" in first


def test_a_stage_short_of_gpus_does_not_start(tmp_path):
    with pytest.raises(RuntimeFailure, match="requests 2 GPU"):
        _start(tmp_path, ["NVIDIA A100"], None, requested=2, granted=1)
