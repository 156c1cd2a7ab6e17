"""Leases judged on each node's monotonic clock: whatever the wall clocks say, a holder stops
acting before anyone may take over, and a dead holder's lock is taken over after its lease."""

from pathlib import Path

from winslow.controller.eventlog import EventLog
from winslow.controller.leases import Leases


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def node(folder: Path, name: str, wall: Clock, mono: Clock) -> Leases:
    return Leases(EventLog(folder, name, wall, monotonic=mono), lease_seconds=10, grace_seconds=2)


def test_a_lock_is_taken_over_only_after_the_lease_and_grace_on_the_takers_clock(tmp_path):
    # a's wall clock is an hour ahead, b's an hour behind: neither matters
    a_mono, b_mono = Clock(0.0), Clock(500.0)
    a = node(tmp_path, "a", Clock(1_000_000 + 3600), a_mono)
    b = node(tmp_path, "b", Clock(1_000_000 - 3600), b_mono)
    assert a.acquire("project/p")
    assert a.held("project/p")
    assert not b.acquire("project/p")
    assert b.holder("project/p") == "a"
    a_mono.t = b_mono.t = 0  # time passes alike on both: 9.5 s later
    a_mono.t, b_mono.t = 9.5, 509.5
    assert not a.held("project/p"), "the holder stopped acting (margin) before its lease ended"
    assert b.holder("project/p") == "a" and not b.acquire("project/p"), "not before lease + grace"
    b_mono.t = 512.5
    assert b.holder("project/p") is None, "a dead holder is noticed on b's own clock"
    assert b.acquire("project/p")
    assert b.held("project/p")
    a.events.poll()
    assert a.renew(["project/p"]) == ["project/p"], "a learns it lost the lock"


def test_the_holder_keeps_its_lock_by_extending_it(tmp_path):
    a_mono, b_mono = Clock(0.0), Clock(0.0)
    a = node(tmp_path, "a", Clock(0), a_mono)
    b = node(tmp_path, "b", Clock(0), b_mono)
    assert a.acquire("stagerun/p.1.x")
    for step in range(1, 10):
        a_mono.t = b_mono.t = step * 6.0
        assert a.renew(["stagerun/p.1.x"]) == []
        b.events.poll()
        assert not b.acquire("stagerun/p.1.x")
    assert a.held("stagerun/p.1.x")


def test_our_own_lease_found_after_a_restart_is_not_younger_to_us_than_to_others(tmp_path):
    wall = Clock(1000.0)
    a = node(tmp_path, "a", wall, Clock(0.0))
    assert a.acquire("project/p")
    wall.t = 1009.0  # a restarts 9 s later, with a fresh monotonic clock
    again = node(tmp_path, "a", wall, Clock(70.0))
    again.events.poll()
    assert not again.held("project/p"), "1 s of a 10 s lease is left: within the safety margin"


def test_a_long_lease_is_renewed_often_by_its_own_duration_and_outlives_a_full_share(tmp_path, caplog):
    """A run's lease lasts the stage tolerance (minutes) and is extended every RENEW_EVERY seconds,
    so a share that refuses writes for most of it takes nothing away (issue 18)."""
    mono = Clock(0.0)
    a = node(tmp_path, "a", Clock(0), mono)
    assert a.acquire("stagerun/p.1.x", 300)
    mono.t = 20
    published = a.events.view().locks.lease("stagerun/p.1.x")
    assert a.renew(["stagerun/p.1.x"]) == [] and a.events.view().locks.lease("stagerun/p.1.x") == published
    mono.t = 31
    assert a.renew(["stagerun/p.1.x"]) == []
    lease = a.events.view().locks.lease("stagerun/p.1.x")
    assert lease is not None and lease.duration == 300 and lease.observed == 31, "extended by its own 300 s"

    def full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    real = a.events.publish
    a.events.publish = full  # type: ignore[method-assign]
    with caplog.at_level("WARNING"):
        for t in range(62, 290, 10):
            mono.t = t
            assert a.renew(["stagerun/p.1.x"]) == [], f"kept at {t}s of a full share"
            assert a.held("stagerun/p.1.x") == (t < 31 + 270)
    assert caplog.text.count("cannot extend stagerun/p.1.x") == 1, "said once"
    a.events.publish = real  # type: ignore[method-assign]
    mono.t = 295
    assert a.renew(["stagerun/p.1.x"]) == [] and a.held("stagerun/p.1.x"), "room again: renewed in time"


def test_a_stop_extends_at_once_when_asked(tmp_path):
    mono = Clock(0.0)
    a = node(tmp_path, "a", Clock(0), mono)
    assert a.acquire("stagerun/p.1.x", 300)
    mono.t = 1
    assert a.renew(["stagerun/p.1.x"], now=True) == []
    assert a.events.view().locks.lease("stagerun/p.1.x").observed == 1
