"""A node's recent load: rates from counters and one-minute samples for an hour."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.controller.loadhistory import LoadHistory
from winslow.resources.node import Node, Utilisation


def usage(net_in: int = 0, cpu: float = 50.0, memory: int = 1 << 30) -> Utilisation:
    return Utilisation(cpu_percent_per_core=[cpu, cpu], memory_used=memory, net_bytes_recv=net_in)


def test_rates_come_from_counter_differences_and_never_go_negative():
    history = LoadHistory()
    assert history.observe(1000.0, usage(net_in=0), 0.0, 0).net_recv_per_second == 0.0
    assert history.observe(1002.0, usage(net_in=4000), 0.0, 0).net_recv_per_second == 2000.0
    assert history.observe(1003.0, usage(net_in=10), 0.0, 0).net_recv_per_second == 0.0  # counters reset


def test_one_sample_per_step_averaged_with_the_current_one_last():
    history = LoadHistory(step=60.0, keep=60)
    history.observe(60.0, usage(cpu=20.0), 0.5, 1)
    history.observe(90.0, usage(cpu=40.0), 0.5, 1)
    history.observe(120.0, usage(cpu=100.0), 0.0, 3)
    wire = history.wire()
    assert wire is not None
    assert wire.start.timestamp() == 60.0
    assert wire.cpu == [0.3, 1.0]
    assert wire.gpu == [0.5, 0.0]
    assert wire.running == [1.0, 3.0]


def test_steps_without_heartbeats_are_gaps_and_an_hour_is_kept():
    history = LoadHistory(step=60.0, keep=60)
    history.observe(0.0, usage(), 0.0, 0)
    history.observe(180.0, usage(), 0.0, 0)
    assert history.wire().cpu == [0.5, None, None, 0.5]
    for minute in range(200):
        history.observe(600.0 + minute * 60, usage(), 0.0, 0)
    wire = history.wire()
    assert len(wire.cpu) == 60
    assert wire.start.timestamp() == 600.0 + 140 * 60


def test_the_history_travels_in_the_node_file_and_back():
    history = LoadHistory()
    history.observe(0.0, usage(), 0.0, 0)
    node = Node.model_validate(
        {
            "metadata": {"name": "n"},
            "status": {
                "capacity": {"cpu": 2},
                "heartbeat": "2026-01-01T00:00:00Z",
                "history": history.wire().to_wire(),
            },
        }
    )
    assert node.status.history is not None and node.status.history.memory == [1.074e9]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_samples_stay_within_an_hour_and_in_step(gaps):
    history = LoadHistory(step=60.0, keep=60)
    now = 0.0
    for gap in gaps:
        now += gap
        history.observe(now, usage(), 0.0, 0)
    wire = history.wire()
    assert wire is not None and 1 <= len(wire.cpu) <= 60
    end = wire.start.timestamp() + len(wire.cpu) * 60
    assert end - 60 <= now < end
    assert all(v is None or v == pytest.approx(0.5) for v in wire.cpu)
