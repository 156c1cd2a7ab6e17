"""Prometheus metrics, computed from the share and this node at scrape time.

Nothing is counted in memory: every node reports the same cluster-wide figures from the share
(a restarted node loses nothing), plus its own capacity and utilisation. The thesis's question,
how many compute hours ran outside working hours and were started automatically, is answered
by `winslow_stage_seconds` split by `trigger` and `period`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from winslow.controller.capacity import gpu_utilisation
from winslow.controller.context import NodeContext
from winslow.controller.records import RunRecord
from winslow.controller.utilisation import WorkingHours

BUCKETS = (10.0, 60.0, 300.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0, 72 * 3600.0)


def split_working_hours(start: datetime, end: datetime) -> tuple[float, float]:
    """Seconds of [start, end) inside and outside working hours (local time, Mon-Fri 8-18): the
    rule of the utilisation report, so both say the same."""
    return WorkingHours().split(start, end)


class ShareCollector(Collector):
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing: registering must not read the share (a node starts even if a file is bad)."""
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        yield from self._node()
        yield from self._work()

    def _node(self) -> Iterator[GaugeMetricFamily]:
        ctx, node = self.ctx, self.ctx.name
        cap, reserved = ctx.config.capacity, ctx.reservations.total()
        capacity = GaugeMetricFamily(
            "winslow_node_capacity", "Schedulable capacity", labels=["node", "resource"]
        )
        held = GaugeMetricFamily(
            "winslow_node_reserved", "Reserved by running stages", labels=["node", "resource"]
        )
        for resource, total, used in (
            ("cpu", cap.cpu, reserved.cpu),
            ("memory_bytes", cap.memory, reserved.memory),
            ("gpu", len(cap.gpus), reserved.gpu),
        ):
            capacity.add_metric([node, resource], float(total))
            held.add_metric([node, resource], float(used))
        yield capacity
        yield held
        cpu = GaugeMetricFamily(
            "winslow_node_cpu_percent", "CPU utilisation per core", labels=["node", "core"]
        )
        for core, percent in enumerate(psutil.cpu_percent(percpu=True)):
            cpu.add_metric([node, str(core)], percent)
        yield cpu
        memory = GaugeMetricFamily("winslow_node_memory_used_bytes", "Memory in use", labels=["node"])
        memory.add_metric([node], float(psutil.virtual_memory().used))
        yield memory
        gpu = GaugeMetricFamily("winslow_gpu_utilisation_percent", "GPU utilisation", labels=["node", "gpu"])
        gpu_memory = GaugeMetricFamily(
            "winslow_gpu_memory_used_bytes", "GPU memory in use", labels=["node", "gpu"]
        )
        for index, (percent, used_bytes) in (gpu_utilisation() if cap.gpus else {}).items():
            gpu.add_metric([node, str(index)], percent)
            gpu_memory.add_metric([node, str(index)], float(used_bytes))
        yield gpu
        yield gpu_memory
        skew = GaugeMetricFamily(
            "winslow_node_clock_offset_seconds",
            "A peer's wall clock minus this node's, estimated from the events it publishes",
            labels=["node", "peer"],
        )
        for peer, offset in sorted(self.ctx.events.skew.estimates().items()):
            skew.add_metric([self.ctx.name, peer], offset)
        yield skew

    def _work(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        store = self.ctx.layout.store
        phases: Counter[str] = Counter()
        state = self.ctx.events.state
        for name in store.names("Project"):
            # read once the log says it exists (a name asked for too early stays "absent" on NFS)
            written = state.version(f"project/{name}", "status") > 0
            status = store.project_status(name) if written else None
            phases[status.phase.value if status else "Waiting"] += 1
        projects = GaugeMetricFamily("winslow_projects", "Projects by phase", labels=["phase"])
        for phase in ("Waiting", "Running", "Paused", "Failed", "Succeeded"):
            projects.add_metric([phase], phases[phase])
        yield projects

        runs = list(state.runs.runs.values())
        by_phase = Counter(r.phase.value for r in runs)
        stageruns = GaugeMetricFamily("winslow_stageruns", "StageRuns by phase", labels=["phase"])
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Killed", "Lost"):
            stageruns.add_metric([phase], by_phase[phase])
        yield stageruns
        yield from _durations(runs)


def _durations(runs: list[RunRecord]) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
    seconds = CounterMetricFamily(
        "winslow_stage_seconds",
        "Wall-clock seconds of finished StageRuns, by who started them and when they ran",
        labels=["trigger", "period"],
    )
    totals: dict[tuple[str, str], float] = defaultdict(float)
    histogram = HistogramMetricFamily(
        "winslow_stage_duration_seconds", "Duration of finished StageRuns", labels=["stage"]
    )
    per_stage: dict[str, list[float]] = {}
    for run in runs:
        start, end = run.start_time, run.finish_time
        if start is None or end is None or end < start:
            continue
        working, off = split_working_hours(start, end)
        totals[(run.trigger.value, "working")] += working
        totals[(run.trigger.value, "off")] += off
        per_stage.setdefault(run.stage, []).append((end - start).total_seconds())
    for trigger in ("auto", "user"):
        for period in ("working", "off"):
            seconds.add_metric([trigger, period], totals[(trigger, period)])
    yield seconds
    for stage, values in sorted(per_stage.items()):
        buckets = [(str(b), float(sum(1 for v in values if v <= b))) for b in BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        histogram.add_metric([stage], buckets, sum(values))
    yield histogram
