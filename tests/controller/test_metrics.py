from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.contexts import node_context
from winslow.controller import metrics
from winslow.controller.capacity import Capacity, GpuInfo
from winslow.controller.context import NodeContext
from winslow.controller.events import Command
from winslow.controller.loop import LoopRunner, WorkQueue
from winslow.controller.metrics import LoopMetrics, split_working_hours
from winslow.controller.reconciler import Key, Result
from winslow.controller.records import RunRecord
from winslow.resources.stagerun import StageRunPhase, Trigger


def test_working_hours_split():
    monday_7 = datetime(2026, 11, 23, 7, 30)
    working, off = split_working_hours(monday_7, monday_7 + timedelta(hours=2))
    assert (working, off) == (5400.0, 1800.0)
    saturday = datetime(2026, 11, 28, 10, 0)
    assert split_working_hours(saturday, saturday + timedelta(hours=3)) == (0.0, 10800.0)


def context(tmp_path, name="n1", layout=None) -> NodeContext:
    return node_context(layout or tmp_path / "share", name, capacity=Capacity(cpu=8, memory=16 << 30))


def run_to_end(ctx: NodeContext, name: str, start: datetime, hours: float, trigger=Trigger.AUTO) -> None:
    """What the node that runs a stage puts on the log: the run, then its end."""
    project, number, stage = name.split(".")
    record = RunRecord(
        name=name,
        project=project,
        number=int(number),
        stage=stage,
        index=0,
        node=ctx.name,
        created=start,
        trigger=trigger,
    )
    assert ctx.leases.acquire(f"project/{project}")
    ctx.events.publish(Command.RECORD, f"stagerun/{name}", payload=record.creation())
    done = replace(
        record, phase=StageRunPhase.SUCCEEDED, start_time=start, finish_time=start + timedelta(hours=hours)
    )
    ctx.events.publish(Command.RECORD, f"stagerun/{name}", payload=done.update())
    ctx.leases.release(f"project/{project}")


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    """Every sample as `name{label="value",...}` (labels sorted) to its value."""
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_units_are_base_units_and_ratios(tmp_path):
    ctx = context(tmp_path)
    registry = CollectorRegistry()
    metrics.register(registry, ctx)
    samples = scrape(registry)
    assert samples['winslow_node_capacity{node="n1",resource="cpu",unit="core"}'] == 8.0
    assert samples['winslow_node_capacity{node="n1",resource="memory",unit="byte"}'] == float(16 << 30)
    assert samples['winslow_node_capacity{node="n1",resource="gpu",unit="integer"}'] == 0.0
    assert not [name for name in samples if "percent" in name], "ratios, not percent"
    ratios = [v for k, v in samples.items() if k.startswith("winslow_node_cpu_utilisation_ratio{")]
    assert ratios and all(0.0 <= v <= 1.0 for v in ratios)
    assert any(k.startswith("winslow_node_cpu_seconds_total{") and 'mode="idle"' in k for k in samples)
    assert any(k.startswith("winslow_node_network_receive_bytes_total{") for k in samples)
    assert not any('device="lo"' in k for k in samples), "loopback is not the node's traffic"
    assert samples['winslow_node_memory_total_bytes{node="n1"}'] > 0
    assert "process_cpu_seconds_total{}" in samples
    assert "process_resident_memory_bytes{}" in samples


def test_counters_count_the_runs_whose_end_this_node_recorded(tmp_path):
    """Two nodes on one share: each counts only what it recorded, so the sum is each run once."""
    first = context(tmp_path, "n1")
    second = context(tmp_path, "n2", layout=first.layout)
    saturday_night = datetime(2026, 11, 28, 22, 0).astimezone()
    run_to_end(first, "p.1.detect", saturday_night, 1)  # before counting started: not counted
    registries = {}
    for ctx in (first, second):
        registries[ctx.name] = CollectorRegistry()
        metrics.register(registries[ctx.name], ctx)
    run_to_end(first, "p.2.detect", saturday_night, 2)
    run_to_end(second, "q.1.clean", saturday_night, 0.5, trigger=Trigger.USER)
    for ctx in (first, second):
        ctx.events.poll()
    one, two = scrape(registries["n1"]), scrape(registries["n2"])
    assert one['winslow_stage_seconds_total{node="n1",period="off",trigger="auto"}'] == 7200.0
    assert one['winslow_stage_seconds_total{node="n1",period="off",trigger="user"}'] == 0.0
    assert two['winslow_stage_seconds_total{node="n2",period="off",trigger="user"}'] == 1800.0
    assert two['winslow_stage_seconds_total{node="n2",period="off",trigger="auto"}'] == 0.0
    key = 'winslow_stage_completions_total{node="n1",phase="Succeeded",stage="detect",trigger="auto"}'
    assert one[key] == 1.0
    assert one['winslow_stage_duration_seconds_count{node="n1",stage="detect"}'] == 1.0
    assert two['winslow_stage_duration_seconds_count{node="n2",stage="detect"}'] == 0.0, (
        "a stage's series exist at zero on every node once a run of it was created: increase() sees the first"
    )
    # the cluster's gauges are the same on both nodes
    assert one['winslow_stageruns{phase="Succeeded"}'] == two['winslow_stageruns{phase="Succeeded"}'] == 3.0


def test_reconciles_and_the_queue_are_counted_per_controller():
    registry = CollectorRegistry()
    now = [100.0]
    queue = WorkQueue(lambda: now[0], observer=LoopMetrics(registry))
    results = {"a": Result.done(), "b": Result.requeue(5.0)}

    class Handler:
        def __init__(self, kind: str) -> None:
            self.kind = kind

        def reconcile(self, key: Key) -> Result:
            if key.name == "broken":
                raise RuntimeError("boom")
            return results[key.name]

    runner = LoopRunner(queue, [Handler("project"), Handler("stagerun")], [])  # type: ignore[list-item]
    for key in (Key("project", "a"), Key("project", "b"), Key("stagerun", "broken")):
        queue.add(key)
    queue.add(Key("project", "a"))  # already due: not another add
    now[0] += 2.0
    runner.run_once()
    samples = scrape(registry)
    assert samples['winslow_reconcile_total{controller="project",result="success"}'] == 1.0
    assert samples['winslow_reconcile_total{controller="project",result="requeue_after"}'] == 1.0
    assert samples['winslow_reconcile_total{controller="stagerun",result="error"}'] == 1.0
    assert samples['winslow_workqueue_adds_total{name="project"}'] == 3.0, "two keys, and b again later"
    assert samples['winslow_workqueue_adds_total{name="stagerun"}'] == 2.0, "one key, its retry"
    assert samples['winslow_workqueue_depth{name="project"}'] == 0.0
    assert samples['winslow_workqueue_queue_duration_seconds_count{name="project"}'] == 2.0
    assert samples['winslow_workqueue_queue_duration_seconds_sum{name="project"}'] == pytest.approx(4.0)
    assert samples['winslow_reconcile_time_seconds_count{controller="stagerun"}'] == 1.0


def test_gpu_utilisation_is_a_ratio(tmp_path, monkeypatch):
    ctx = context(tmp_path)
    gpus = [GpuInfo(index=0, model="NVIDIA H200", memory_bytes=140 << 30)]
    ctx.config = replace(ctx.config, capacity=Capacity(cpu=8, memory=16 << 30, gpus=gpus))
    monkeypatch.setattr(metrics, "gpu_utilisation", lambda: {0: (37.0, 3 << 30)})  # NVML's answer
    registry = CollectorRegistry()
    registry.register(metrics.ShareCollector(ctx))
    samples = scrape(registry)
    assert samples['winslow_gpu_utilisation_ratio{gpu="0",node="n1"}'] == 0.37
    assert samples['winslow_gpu_memory_used_bytes{gpu="0",node="n1"}'] == float(3 << 30)
    assert samples['winslow_gpu_memory_total_bytes{gpu="0",node="n1"}'] == float(140 << 30)
    assert samples['winslow_node_capacity{node="n1",resource="gpu",unit="integer"}'] == 1.0
