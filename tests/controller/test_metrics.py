import time
from dataclasses import replace
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from winslow.controller.capacity import Capacity
from winslow.controller.context import NodeConfig, NodeContext
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Locks
from winslow.controller.loop import WorkQueue
from winslow.controller.metrics import ShareCollector, split_working_hours
from winslow.controller.records import RunRecord
from winslow.resources.stagerun import StageRunPhase


def test_working_hours_split():
    monday_7 = datetime(2026, 11, 23, 7, 30)
    working, off = split_working_hours(monday_7, monday_7 + timedelta(hours=2))
    assert (working, off) == (5400.0, 1800.0)
    saturday = datetime(2026, 11, 28, 10, 0)
    assert split_working_hours(saturday, saturday + timedelta(hours=3)) == (0.0, 10800.0)


def test_collector_reports_capacity_phases_and_auto_off_hours(tmp_path):
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    events = EventLog(layout.events, "n1", time.time)
    ctx = NodeContext(
        config=NodeConfig(name="n1", capacity=Capacity(cpu=8, memory=16 << 30)),
        layout=layout,
        events=events,
        locks=Locks(events, 30),
        runtime=None,
        clock=time.time,
        queue=WorkQueue(time.time),
    )
    start = datetime(2026, 11, 28, 22, 0).astimezone()  # a Saturday night
    record = RunRecord(
        name="p.1.detect", project="p", number=1, stage="detect", index=0, node="n1", created=start
    )
    assert ctx.locks.acquire("project/p")
    events.publish(Command.RECORD, "stagerun/p.1.detect", payload=record.creation())
    done = replace(
        record, phase=StageRunPhase.SUCCEEDED, start_time=start, finish_time=start + timedelta(hours=1)
    )
    events.publish(Command.RECORD, "stagerun/p.1.detect", payload=done.update())
    registry = CollectorRegistry()
    registry.register(ShareCollector(ctx))
    text = generate_latest(registry).decode()
    assert 'winslow_node_capacity{node="n1",resource="cpu"} 8.0' in text
    assert 'winslow_stageruns{phase="Succeeded"} 1.0' in text
    assert 'winslow_stage_seconds_total{period="off",trigger="auto"} 3600.0' in text
    assert 'winslow_stage_duration_seconds_count{stage="detect"} 1.0' in text
