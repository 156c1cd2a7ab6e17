"""Prometheus metrics of a node, following Prometheus's and Kubernetes' conventions.

- Base units and ratios: seconds, bytes, utilisation as a ratio 0..1; capacity and reservations
  carry a `unit` label as kube-state-metrics does (`resource="cpu", unit="core"`).
- Counters count at the node that saw the event and never go down: a StageRun's seconds,
  completion and duration are counted by the node that recorded its end on the event log (an
  `EventLog` listener on its own RECORD events), so summing over nodes counts each run once. A
  restarted node starts again from zero, which `rate()` and `increase()` handle.
- Throughput is a counter of bytes (network, disk) and of CPU seconds; Prometheus computes rates.
- The reconcile loop and its work queue report as controller-runtime's do (`LoopMetrics`).
- Gauges of the cluster's state (projects and StageRuns by phase) are read from the log's state
  at scrape time and are the same on every node: take `max` over nodes, not `sum`.
- The process itself: prometheus_client's process, platform and GC collectors.

The thesis's question, how many compute hours ran outside working hours and were started
automatically, is `increase(winslow_stage_seconds_total{trigger="auto", period="off"}[window])`.

Longer than most modules here: every metric a node serves, so that names, units and labels
can be checked against each other in one place.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from datetime import datetime

import psutil
from prometheus_client import Counter, Gauge, Histogram, gc_collector, platform_collector, process_collector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from winslow.controller.capacity import gpu_utilisation
from winslow.controller.context import NodeContext
from winslow.controller.diskuse import KINDS, for_share
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command, Event
from winslow.controller.loop import ERROR, REQUEUE_AFTER, SUCCESS, LoopObserver
from winslow.controller.monitor import NodeDirectory, readiness
from winslow.controller.records import RunRecord
from winslow.controller.subjects import lock_subject, subject_parts
from winslow.controller.utilisation import WorkingHours
from winslow.resources.errors import InvalidFileError
from winslow.resources.stagerun import StageRunPhase, Trigger

BUCKETS = (10.0, 60.0, 300.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0, 72 * 3600.0)
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)
CONTROLLERS = ("project", "stagerun")
ENDED = tuple(p for p in StageRunPhase if not p.active)
UNITS = {"cpu": "core", "memory": "byte", "gpu": "integer"}


def split_working_hours(start: datetime, end: datetime) -> tuple[float, float]:
    """Seconds of [start, end) inside and outside working hours (local time, Mon-Fri 8-18): the
    rule of the utilisation report, so both say the same."""
    return WorkingHours().split(start, end)


def register(registry: CollectorRegistry, ctx: NodeContext) -> RunCounters:
    """Everything but the loop's metrics (`LoopMetrics`, made before the work queue). Counting
    starts now: call it after the node caught up with the log, so that a restart does not count
    the runs it recorded before again."""
    registry.register(ShareCollector(ctx))
    registry.register(DiskCollector(ctx))
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    counters = RunCounters(registry, ctx.events)
    ctx.events.listeners.append(counters.on_event)
    return counters


class LoopMetrics(LoopObserver):
    """controller-runtime's reconcile and work-queue metrics, with their names under `winslow_`
    (the queue's `name` label is the controller, as controller-runtime names a controller's queue)."""

    def __init__(self, registry: CollectorRegistry, controllers: Iterable[str] = CONTROLLERS) -> None:
        self.total = Counter(
            "winslow_reconcile",
            "Reconciles per controller and result (success, requeue_after, error)",
            ["controller", "result"],
            registry=registry,
        )
        self.time = Histogram(
            "winslow_reconcile_time_seconds",
            "How long a reconcile took",
            ["controller"],
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "winslow_workqueue_depth", "Keys due and not yet reconciled", ["name"], registry=registry
        )
        self.adds = Counter(
            "winslow_workqueue_adds", "Keys queued, or made due sooner", ["name"], registry=registry
        )
        self.queue_duration = Histogram(
            "winslow_workqueue_queue_duration_seconds",
            "How long a key waited, once due, before its reconcile began",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        for controller in controllers:  # every series exists from the start, at zero
            for result in (SUCCESS, REQUEUE_AFTER, ERROR):
                self.total.labels(controller, result)
            self.time.labels(controller)
            self.queue_depth.labels(controller)
            self.adds.labels(controller)
            self.queue_duration.labels(controller)

    def added(self, controller: str) -> None:
        self.adds.labels(controller).inc()

    def depth(self, controller: str, keys: int) -> None:
        self.queue_depth.labels(controller).set(keys)

    def reconciled(self, controller: str, result: str, waited: float, seconds: float) -> None:
        self.total.labels(controller, result).inc()
        self.time.labels(controller).observe(seconds)
        self.queue_duration.labels(controller).observe(waited)


class NotifyCounters:
    """Notifications by the node that tried to send them: `result` is sent, retry (a round failed;
    tried again later) or failed (given up). Summed over nodes, each attempt counts once."""

    def __init__(self, registry: CollectorRegistry, node: str) -> None:
        self.node = node
        self.total = Counter(
            "winslow_notifications",
            "Notifications this node tried to send, by channel (webhook, email) and result "
            "(sent; retry: a round failed, tried again later; failed: given up)",
            ["node", "channel", "result"],
            registry=registry,
        )
        for channel in ("webhook", "email"):
            for result in ("sent", "retry", "failed"):
                self.total.labels(node, channel, result)

    def __call__(self, channel: str, result: str) -> None:
        self.total.labels(self.node, channel, result).inc()


class RunCounters:
    """StageRuns counted by the node that recorded their end, when it recorded it."""

    def __init__(self, registry: CollectorRegistry, events: EventLog) -> None:
        self.events = events
        self.node = events.node
        self.seconds = Counter(
            "winslow_stage_seconds",
            "Wall-clock seconds of ended StageRuns whose end this node recorded, by who started "
            "them (trigger: auto, user) and when they ran (period: working = Mon-Fri 8-18 local, off)",
            ["node", "trigger", "period"],
            registry=registry,
        )
        self.completions = Counter(
            "winslow_stage_completions",
            "StageRuns whose end this node recorded, by stage, phase and trigger",
            ["node", "stage", "phase", "trigger"],
            registry=registry,
        )
        self.durations = Histogram(
            "winslow_stage_duration_seconds",
            "Duration of StageRuns whose end this node recorded",
            ["node", "stage"],
            buckets=BUCKETS,
            registry=registry,
        )
        for trigger in Trigger:
            for period in ("working", "off"):
                self.seconds.labels(self.node, trigger.value, period)
        self._stages: set[str] = set()
        for run in events.view().runs.runs.values():
            self._known(run.stage)

    def _known(self, stage: str) -> None:
        """A stage's series exist, at zero, from the moment a run of it is created anywhere: a
        series that first appears with its first count already in it is one that `increase()`
        never sees grow."""
        if stage in self._stages:
            return
        self._stages.add(stage)
        self.durations.labels(self.node, stage)
        for phase in ENDED:
            for trigger in Trigger:
                self.completions.labels(self.node, stage, phase.value, trigger.value)

    def on_event(self, event: Event) -> None:
        """An EventLog listener: called with every event the node applies, under the log's lock."""
        if event.command is not Command.RECORD:
            return
        if "stage" in (event.payload or {}):  # a run created, by any node
            self._known(str((event.payload or {})["stage"]))
        if event.node != self.node:
            return
        phase = (event.payload or {}).get("phase")
        if phase not in {p.value for p in ENDED}:
            return
        record = self.events.view().runs.get(subject_parts(event.subject)[1])
        if record is not None and record.seq == event.seq:
            self.count(record)

    def count(self, run: RunRecord) -> None:
        trigger = run.trigger.value
        self.completions.labels(self.node, run.stage, run.phase.value, trigger).inc()
        start, end = run.start_time, run.finish_time
        if start is None or end is None or end < start:
            return  # never started (a kill while Pending), or a clock that went back
        working, off = split_working_hours(start, end)
        self.seconds.labels(self.node, trigger, "working").inc(working)
        self.seconds.labels(self.node, trigger, "off").inc(off)
        self.durations.labels(self.node, run.stage).observe((end - start).total_seconds())


class ShareCollector(Collector):
    """Read at scrape time: this node's machine, and the cluster's state from the log."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing: registering must not read the share (a node starts even if a file is bad)."""
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._resources()
        yield from self._machine()
        yield from self._gpus()
        yield from self._work()
        yield from self._nodes()

    def _nodes(self) -> Iterator[GaugeMetricFamily]:
        """Every node's condition as this node sees it (the same on every node): take `min` over
        scrapers, since a node cannot report its own silence."""
        ready = GaugeMetricFamily(
            "winslow_node_ready", "1 while it heartbeats, 0 once it stopped or fell silent", labels=["node"]
        )
        now, directory = self.ctx.clock(), NodeDirectory(self.ctx.layout.nodes)
        for node in directory.all():
            condition = readiness(node, now, directory.beat(node.metadata.name))
            ready.add_metric([node.metadata.name], 1.0 if condition.ready else 0.0)
        yield ready

    def _resources(self) -> Iterator[GaugeMetricFamily]:
        ctx, node = self.ctx, self.ctx.name
        cap, reserved = ctx.config.capacity, ctx.reservations.total()
        capacity = GaugeMetricFamily(
            "winslow_node_capacity",
            "Schedulable capacity, in the unit the `unit` label names",
            labels=["node", "resource", "unit"],
        )
        held = GaugeMetricFamily(
            "winslow_node_reserved",
            "Reserved by this node's active StageRuns, in the unit the `unit` label names",
            labels=["node", "resource", "unit"],
        )
        for resource, total, used in (
            ("cpu", cap.cpu, reserved.cpu),
            ("memory", cap.memory, reserved.memory),
            ("gpu", len(cap.gpus), reserved.gpu),
        ):
            capacity.add_metric([node, resource, UNITS[resource]], float(total))
            held.add_metric([node, resource, UNITS[resource]], float(used))
        yield capacity
        yield held
        skew = GaugeMetricFamily(
            "winslow_node_clock_offset_seconds",
            "A peer's wall clock minus this node's, estimated from the events it publishes",
            labels=["node", "peer"],
        )
        for peer, offset in sorted(ctx.events.skew.estimates().items()):
            skew.add_metric([node, peer], offset)
        yield skew

    def _machine(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        node = self.ctx.name
        seconds = CounterMetricFamily(
            "winslow_node_cpu_seconds",
            "CPU time per core and mode (rate: the share of a core)",
            labels=["node", "core", "mode"],
        )
        for core, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, value in times._asdict().items():
                seconds.add_metric([node, str(core), mode], value)
        yield seconds
        ratio = GaugeMetricFamily(
            "winslow_node_cpu_utilisation_ratio",
            "CPU utilisation per core, 0..1, since the node last sampled it (about every heartbeat)",
            labels=["node", "core"],
        )
        for core, percent in enumerate(psutil.cpu_percent(percpu=True)):
            ratio.add_metric([node, str(core)], percent / 100)
        yield ratio
        memory = psutil.virtual_memory()
        for name, help_text, value in (
            ("winslow_node_memory_used_bytes", "Memory in use", memory.used),
            ("winslow_node_memory_total_bytes", "Memory of the machine", memory.total),
            ("winslow_node_share_free_bytes", "Free space on the share", _free(self.ctx.layout.root)),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["node"])
            gauge.add_metric([node], float(value))
            yield gauge
        yield from _io_counters(node)

    def _gpus(self) -> Iterator[GaugeMetricFamily]:
        node, gpus = self.ctx.name, self.ctx.config.capacity.gpus
        utilisation = GaugeMetricFamily(
            "winslow_gpu_utilisation_ratio", "GPU utilisation, 0..1 (NVML)", labels=["node", "gpu"]
        )
        used = GaugeMetricFamily("winslow_gpu_memory_used_bytes", "GPU memory in use", labels=["node", "gpu"])
        total = GaugeMetricFamily("winslow_gpu_memory_total_bytes", "GPU memory", labels=["node", "gpu"])
        for gpu in gpus:
            total.add_metric([node, str(gpu.index)], float(gpu.memory_bytes))
        for index, (percent, used_bytes) in (gpu_utilisation() if gpus else {}).items():
            utilisation.add_metric([node, str(index)], percent / 100)
            used.add_metric([node, str(index)], float(used_bytes))
        yield utilisation
        yield used
        yield total

    def _work(self) -> Iterator[GaugeMetricFamily]:
        store = self.ctx.layout.store
        phases: Tally[str] = Tally()
        state = self.ctx.events.view()
        for name in store.names("Project"):
            # read once the log says it exists (a name asked for too early stays "absent" on NFS)
            written = state.version(lock_subject(name), "status") > 0
            try:
                status = store.project_status(name) if written else None
            except InvalidFileError:  # never readable on this node; logged once by the reader
                continue
            phases[status.phase.value if status else "Waiting"] += 1
        projects = GaugeMetricFamily(
            "winslow_projects", "Projects by phase (the cluster's: the same on every node)", labels=["phase"]
        )
        for phase in ("Waiting", "Running", "Paused", "Failed", "Succeeded"):
            projects.add_metric([phase], phases[phase])
        yield projects
        by_phase = Tally(r.phase.value for r in state.runs.runs.values())
        stageruns = GaugeMetricFamily(
            "winslow_stageruns",
            "StageRuns by phase (the cluster's: the same on every node)",
            labels=["phase"],
        )
        for phase in StageRunPhase:
            stageruns.add_metric([phase.value], by_phase[phase.value])
        yield stageruns
        progress = GaugeMetricFamily(
            "winslow_stage_progress_percent",
            "The progress a running stage reported (`WINSLOW_PROGRESS: N` lines), 0 to 100; "
            "from the node that runs it",
            labels=["node", "project", "stage"],
        )
        for name in self.ctx.reservations.names():
            run = state.runs.get(name)
            if run is not None and run.phase is StageRunPhase.RUNNING and run.progress is not None:
                progress.add_metric([self.ctx.name, run.project, run.stage], run.progress)
        yield progress


def _free(path: os.PathLike[str] | str) -> int:
    try:
        return psutil.disk_usage(str(path)).free
    except OSError:
        return 0


def _io_counters(node: str) -> Iterator[CounterMetricFamily]:
    """Bytes through each network interface and each disk since boot. Loopback and containers'
    veth ends are left out (the latter come and go with every stage), and so are partitions,
    loop and RAM devices (their bytes are their disk's)."""
    received = CounterMetricFamily(
        "winslow_node_network_receive_bytes", "Bytes received per interface", labels=["node", "device"]
    )
    sent = CounterMetricFamily(
        "winslow_node_network_transmit_bytes", "Bytes sent per interface", labels=["node", "device"]
    )
    for device, io in sorted(psutil.net_io_counters(pernic=True, nowrap=True).items()):
        if device == "lo" or device.startswith("veth"):
            continue
        received.add_metric([node, device], float(io.bytes_recv))
        sent.add_metric([node, device], float(io.bytes_sent))
    yield received
    yield sent
    read = CounterMetricFamily(
        "winslow_node_disk_read_bytes", "Bytes read per disk", labels=["node", "device"]
    )
    written = CounterMetricFamily(
        "winslow_node_disk_written_bytes", "Bytes written per disk", labels=["node", "device"]
    )
    for device, io in sorted((psutil.disk_io_counters(perdisk=True, nowrap=True) or {}).items()):
        if device.startswith(("loop", "ram")) or not os.path.exists(f"/sys/block/{device}"):
            continue
        read.add_metric([node, device], float(io.read_bytes))
        written.add_metric([node, device], float(io.write_bytes))
    yield read
    yield written


class DiskCollector(Collector):
    """Each project's disk use on the share (controller/diskuse.py), read at scrape time from walks
    cached for a minute; a scrape walks for at most `budget_seconds` and serves older walks for
    the rest. The cluster's figure, the same on every node: take `max` over nodes, not `sum`."""

    def __init__(self, ctx: NodeContext, budget_seconds: float = 5.0) -> None:
        self.ctx = ctx
        self.budget_seconds = budget_seconds

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        disk = GaugeMetricFamily(
            "winslow_project_disk_bytes",
            "Bytes a project takes on the share, by kind: workspaces (its StageRuns'), logs, input, "
            "output, other (the cluster's: the same on every node)",
            labels=["project", "kind"],
        )
        names = self.ctx.layout.store.names("Project")
        for usage in for_share(self.ctx.layout).projects(names, budget_seconds=self.budget_seconds):
            for kind in KINDS:
                disk.add_metric([usage.project, kind], float(usage.bytes[kind]))
        yield disk
