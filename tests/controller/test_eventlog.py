import multiprocessing
import os
import time
from contextlib import suppress
from pathlib import Path

import pytest

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command, Event
from winslow.controller.logstate import LogState


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(folder: Path, node: str, clock=None, **kw) -> EventLog:
    clock = clock or Clock()
    return EventLog(folder / "events", node, clock, monotonic=clock, **kw)


def test_publish_is_seen_by_followers(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    a.publish(Command.LOCK, "s", duration=10)
    assert [e.command for e in b.poll()] == [Command.LOCK]
    assert b.state.locks.holder("s") == "a"
    with pytest.raises(Rejected, match="held by a"):
        b.publish(Command.LOCK, "s", duration=10)


def test_conflicting_publisher_applies_the_winner_and_rechecks(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    b.poll()
    a.publish(Command.LOCK, "s", duration=10)
    # b has not seen a's event; its link to the same number fails, it reads a's event and re-checks.
    with pytest.raises(Rejected):
        b.publish(Command.LOCK, "s", duration=10)
    event = b.publish(Command.LOCK, "t", duration=10)
    assert event.seq == 1


def test_followers_read_forward_by_name_without_listing_the_log(tmp_path, monkeypatch):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    for i in range(5):
        a.publish(Command.LOCK, f"s{i}", duration=10)
    listdir = os.listdir

    def only_heads(path="."):
        if Path(path) == tmp_path / "events":
            raise AssertionError("listed the log")
        return listdir(path)

    monkeypatch.setattr(os, "listdir", only_heads)
    monkeypatch.setattr(os, "scandir", only_heads)
    assert len(b.poll()) == 5


def test_compaction_keeps_late_readers_correct(tmp_path):
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=10)
    late = make(tmp_path, "late", clock, compact_every=10)
    late.poll()
    for i in range(35):
        a.publish(Command.LOCK, f"s{i}", duration=10_000)
    remaining = sorted(int(n) for n in os.listdir(tmp_path / "events") if n.isdigit())
    assert remaining[0] > 0, "old events were deleted"
    assert (tmp_path / "events.snapshot").exists()
    late.poll()
    fresh = make(tmp_path, "fresh", clock, compact_every=10)
    fresh.poll()
    for reader in (late, fresh):
        assert reader.state.seq == a.state.seq
        assert reader.state.locks.leases == a.state.locks.leases
    # a reader that was behind publishes at the head, not into the compacted range
    event = late.publish(Command.LOCK, "new", duration=10)
    assert event.seq == 35


def test_corrupt_event_is_skipped_after_a_bounded_wait(tmp_path):
    clock = Clock()
    a = make(tmp_path, "a", clock, corrupt_wait=2.0)
    a.publish(Command.LOCK, "s", duration=10)
    (tmp_path / "events" / f"{1:012d}").write_bytes(b"{not json")
    b = make(tmp_path, "b", clock, corrupt_wait=2.0, fallback_interval=0)
    b.poll()
    b.poll()
    assert b.state.seq == 0, "waits: the file may still be being written"
    clock.t += 3
    b.poll()
    assert b.state.seq == 1
    assert b.publish(Command.LOCK, "t", duration=10).seq == 2


def test_snapshot_round_trip(tmp_path):
    a = make(tmp_path, "a")
    a.publish(Command.LOCK, "s", duration=10)
    a.publish(Command.KILL, "stagerun/p.1.x", message="alice")
    data = a.state.to_snapshot()
    copy = LogState.from_snapshot(data, observed=1.0)
    assert copy.to_snapshot() == data


def _hammer(folder: str, node: str, rounds: int) -> None:
    log = EventLog(Path(folder) / "events", node, time.time, compact_every=100_000)
    won = []
    for i in range(rounds):
        with suppress(Rejected):
            won.append(log.publish(Command.LOCK, f"s{i % 3}", duration=0.05).seq)
        with suppress(Rejected):
            log.publish(Command.RELEASE, f"s{i % 3}")
    (Path(folder) / f"won-{node}").write_text(" ".join(map(str, won)))


@pytest.mark.timeout(120)
def test_concurrent_publishers_agree_with_the_replayed_log(tmp_path):
    """Every LOCK a publisher believed it won is valid in the replay, which never has two holders."""
    procs = [
        multiprocessing.get_context("spawn").Process(target=_hammer, args=(str(tmp_path), f"n{i}", 60))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(100)
        assert p.exitcode == 0
    claimed = {
        int(seq): f.name.removeprefix("won-") for f in tmp_path.glob("won-*") for seq in f.read_text().split()
    }
    state = LogState()
    folder = tmp_path / "events"
    seq = 0
    accepted_locks = 0
    while (folder / f"{seq:012d}").exists():
        event = Event.decode((folder / f"{seq:012d}").read_bytes(), seq)
        if event.command is Command.LOCK:
            holder = state.locks.holder(event.subject)
            valid = state.check(event) is None
            if seq in claimed:
                assert valid and holder in (None, event.issuer), f"event {seq} was claimed but is invalid"
            accepted_locks += valid
        state.apply(event)
        seq += 1
    assert seq > 100 and accepted_locks == len(claimed)


def test_a_lost_reply_to_our_own_link_is_not_a_lost_race(tmp_path, monkeypatch):
    """On NFS a retried link can report "exists" for the name its first try made."""
    a = make(tmp_path, "a")
    real_link = os.link
    calls = []

    def link_then_lose_the_reply(src, dst):
        real_link(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", link_then_lose_the_reply)
    event = a.publish(Command.LOCK, "s", duration=10)
    assert event.seq == 0 and a.state.locks.holder("s") == "a", "recognised by its nonce"
    assert a.publish(Command.EXTEND, "s", duration=10).seq == 1


def test_a_directory_at_the_next_number_is_skipped_by_everyone(tmp_path):
    clock = Clock()
    a = make(tmp_path, "a", clock, corrupt_wait=2.0, fallback_interval=0)
    a.publish(Command.LOCK, "s", duration=10)
    (tmp_path / "events" / f"{1:012d}").mkdir()
    a.poll()  # a listing shows it; like garbage, it may still be on its way: wait
    assert a.state.seq == 0
    clock.t += 3  # then every node skips it
    event = a.publish(Command.LOCK, "t", duration=10)
    assert event.seq >= 2
    b = make(tmp_path, "b", clock, corrupt_wait=2.0)
    b.poll()
    clock.t += 3
    b.poll()
    assert b.state.seq == a.state.seq and b.state.locks.holder("t") == "a"


def test_a_number_a_head_names_but_this_client_still_thinks_absent_is_looked_up_again(tmp_path, monkeypatch):
    """A caching share client answers "no such file" until something makes it ask the server;
    a failed link to the name does (FUSE revalidates, NFS drops the cached answer)."""
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    b.poll()
    a.publish(Command.LOCK, "s", duration=10)
    from winslow.controller import eventlog

    real_read = eventlog.read_file
    stale = {a.path(0)}
    real_link = os.link

    def cached_read(path, limit):
        if path in stale:
            raise FileNotFoundError(path)
        return real_read(path, limit)

    def link(src, dst):
        stale.discard(Path(dst))  # the client asked the server
        return real_link(src, dst)

    monkeypatch.setattr(eventlog, "read_file", cached_read)
    monkeypatch.setattr(os, "link", link)
    assert [e.command for e in b.poll()] == [Command.LOCK]
    assert b.state.seq == 0 and sorted(n for n in os.listdir(tmp_path / "events") if n.isdigit()) == [
        f"{0:012d}"
    ], "no NOOP was needed"


def test_a_head_that_names_a_number_nobody_wrote_costs_one_noop(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    a.publish(Command.LOCK, "s", duration=10)
    (tmp_path / "heads" / "liar").write_bytes(b"%020d %020d\n" % (50, 50))
    b.discover_interval = 0
    for _ in range(5):
        b.poll()
    numbers = sorted(int(n) for n in os.listdir(tmp_path / "events") if n.isdigit())
    assert numbers == [0, 1], "one NOOP fills the number the hint named, then the hint is ignored"
    assert b.state.seq == 1


def test_followers_see_a_new_nodes_first_event_through_the_shared_head(tmp_path):
    b = make(tmp_path, "b")
    b.poll()
    a = make(tmp_path, "a")
    a.publish(Command.LOCK, "s", duration=10)
    assert [e.issuer for e in b.poll()] == ["a"], "b had never heard of a"
