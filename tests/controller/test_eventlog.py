import json
import multiprocessing
import os
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.controller import eventlog
from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Ballot, Command, Event
from winslow.controller.logstate import LogState
from winslow.resources.amount import Amount


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(folder: Path, node: str, clock=None, **kw) -> EventLog:
    clock = clock or Clock()
    return EventLog(folder / "events", node, clock, monotonic=clock, **kw)


def test_a_view_is_one_snapshot_that_later_events_leave_as_it_was(tmp_path):
    """Readers decide on a view while other threads publish: what they read must not move."""
    a = make(tmp_path, "a")
    a.publish(Command.LOCK, "project/p", duration=10)
    a.publish(Command.ELECTION_START, "project/p", duration=5, request=Amount(cpu=1))
    before = a.view()
    assert a.view() is before, "nothing changed: the same snapshot, no copy"
    a.publish(Command.ELECTION_PARTICIPATE, "project/p", ballot=Ballot(True, 1.0, 0.0, ""))
    a.publish(Command.ELECTION_STOP, "project/p", winner="a")
    a.publish(Command.RELEASE, "project/p")
    after = a.view()
    assert before.locks.holder("project/p") == "a" and after.locks.holder("project/p") is None
    assert before.elections.open["project/p"].ballots == {} and "project/p" not in after.elections.open
    assert after.elections.results["project/p"].winner == "a" and before.elections.results == {}
    assert before.seq == 1 and after.seq == 4


def test_publish_is_seen_by_followers(tmp_path):
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    a.publish(Command.LOCK, "s", duration=10)
    assert [e.command for e in b.poll()] == [Command.LOCK]
    assert b.view().locks.holder("s") == "a"
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
        assert reader.view().seq == a.view().seq
        assert reader.view().locks.leases == a.view().locks.leases
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
    assert b.view().seq == 0, "waits: the file may still be being written"
    clock.t += 3
    b.poll()
    assert b.view().seq == 1
    assert b.publish(Command.LOCK, "t", duration=10).seq == 2


def test_snapshot_round_trip(tmp_path):
    a = make(tmp_path, "a")
    a.publish(Command.LOCK, "s", duration=10)
    a.publish(Command.KILL, "stagerun/p.1.x", message="alice")
    data = a.view().to_snapshot()
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
    assert event.seq == 0 and a.view().locks.holder("s") == "a", "recognised by its nonce"
    assert a.publish(Command.EXTEND, "s", duration=10).seq == 1


def test_a_directory_at_the_next_number_is_skipped_by_everyone(tmp_path):
    clock = Clock()
    a = make(tmp_path, "a", clock, corrupt_wait=2.0, fallback_interval=0)
    a.publish(Command.LOCK, "s", duration=10)
    (tmp_path / "events" / f"{1:012d}").mkdir()
    a.poll()  # a listing shows it; like garbage, it may still be on its way: wait
    assert a.view().seq == 0
    clock.t += 3  # then every node skips it
    event = a.publish(Command.LOCK, "t", duration=10)
    assert event.seq >= 2
    b = make(tmp_path, "b", clock, corrupt_wait=2.0)
    b.poll()
    clock.t += 3
    b.poll()
    assert b.view().seq == a.view().seq and b.view().locks.holder("t") == "a"


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
    assert b.view().seq == 0 and sorted(n for n in os.listdir(tmp_path / "events") if n.isdigit()) == [
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
    assert b.view().seq == 1


def test_followers_see_a_new_nodes_first_event_through_the_shared_head(tmp_path):
    b = make(tmp_path, "b")
    b.poll()
    a = make(tmp_path, "a")
    a.publish(Command.LOCK, "s", duration=10)
    assert [e.issuer for e in b.poll()] == ["a"], "b had never heard of a"


# -- compaction under a node that fell behind ------------------------------------------------------
# Compaction frees the numbers it deletes, and `link` only arbitrates a number that is not free.
# A node that fell a window behind (descheduled, or stepping through conflicts one by one) without
# polling first (its last poll was under STALE_VIEW ago) used to link its event at a number that
# every other node had passed: the link "won", the node believed its LOCK, nobody else ever read
# it, and once the node caught up from the snapshot its own RELEASE was refused.


def test_a_publisher_left_behind_by_compaction_publishes_at_the_head_not_into_freed_numbers(
    tmp_path, monkeypatch
):
    """The reported `Rejected: node-6 does not hold node-6-66`, step by step."""
    monkeypatch.setattr(eventlog, "STALE_VIEW", float("inf"))  # b's view counts as fresh: no poll first
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    b = make(tmp_path, "b", clock, compact_every=5)
    b.publish(Command.LOCK, "mine", duration=30)  # 0: b is at the head
    for i in range(20):  # meanwhile a publishes 1..20, compacting at 10, 15, 20: 0..14 are deleted
        a.publish(Command.LOCK, f"a{i}", duration=30)
    assert not b.path(1).exists()
    lock = b.publish(Command.LOCK, "x", duration=30)
    assert lock.seq == 21, "at the head, not at the number compaction freed"
    a.poll()
    assert a.view().locks.holder("x") == "b", "everyone sees the lock its holder believes in"
    with pytest.raises(Rejected, match="held by b"):
        a.publish(Command.LOCK, "x", duration=30)
    b.publish(Command.RELEASE, "x")  # was: Rejected("b does not hold x")
    a.poll()
    assert (a.view().seq, a.view().locks.leases) == (b.view().seq, b.view().locks.leases)
    fresh = make(tmp_path, "fresh", clock, compact_every=5)
    fresh.poll()  # what b left at 1 (its link there looked won) is read by nobody
    assert (fresh.view().seq, fresh.view().locks.leases) == (a.view().seq, a.view().locks.leases)


def test_a_publisher_whose_peers_compact_right_after_its_link_keeps_its_event(tmp_path, monkeypatch):
    """The other side of the rule above: the event below ours may be gone because the others read
    ours and moved a window on before we looked (a descheduled publisher). The link alone cannot
    tell that from a link into a freed number; the snapshot can, and the event stays ours."""
    monkeypatch.setattr(eventlog, "STALE_VIEW", float("inf"))
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    b = make(tmp_path, "b", clock, compact_every=5)
    b.publish(Command.LOCK, "mine", duration=30)
    real_link = b._link
    paused = []

    def link_then_pause(event, seq):
        won = real_link(event, seq)
        if event.subject == "x" and not paused:  # b is descheduled right after its link: a reads
            paused.append(seq)  # it and goes on
            for i in range(20):
                a.publish(Command.LOCK, f"a{i}", duration=30)
        return won

    monkeypatch.setattr(b, "_link", link_then_pause)
    lock = b.publish(Command.LOCK, "x", duration=30)
    assert lock.seq == 1 and a.view().locks.holder("x") == "b" and b.view().locks.holder("x") == "b"
    assert b.path(1).exists() is False, "compacted: b caught up from the snapshot"
    b.publish(Command.RELEASE, "x")
    a.poll()
    assert (a.view().seq, a.view().locks.leases) == (b.view().seq, b.view().locks.leases)


def test_a_follower_left_behind_never_applies_an_event_linked_into_a_compacted_number(tmp_path):
    """Whatever sits at a number below the compaction window may have been linked there after the
    compaction freed it (by a node as above, or a NOOP probe): a node that reads it would hold a
    state no other node holds. Such a follower catches up from the snapshot instead."""
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    r = make(tmp_path, "r", clock, compact_every=5)
    a.publish(Command.LOCK, "s", duration=30)
    r.poll()  # r applied 0
    for i in range(20):
        a.publish(Command.LOCK, f"a{i}", duration=30)
    stale = Event(
        issuer="stale", command=Command.LOCK, subject="y", timestamp=clock(), duration=30, nonce="n", seq=1
    )
    a.path(1).write_bytes(stale.encode())  # what a node left behind linked at the freed number 1
    r.poll()
    assert r.view().locks.holder("y") is None
    assert (r.view().seq, r.view().locks.leases) == (a.view().seq, a.view().locks.leases)


def test_a_node_that_caught_up_from_a_late_snapshot_recognises_the_event_there_not_its_name(
    tmp_path, monkeypatch
):
    """A compactor descheduled before it replaced the snapshot puts back an older one after a
    newer compaction deleted past it, and a node left behind may have linked something at that
    snapshot's number since. That the number is taken proves nothing; the event there being the
    one the snapshot names does."""
    monkeypatch.setattr(eventlog, "STALE_VIEW", float("inf"))
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    b = make(tmp_path, "b", clock, compact_every=5)
    b.poll()
    for i in range(31):
        a.publish(Command.LOCK, f"a{i}", duration=30)
        if i == 10:
            late = a.snapshot_path.read_bytes()
    newest = a.snapshot_path.read_bytes()
    a.snapshot_path.write_bytes(late)  # the late compactor's replace; 0..24 are deleted
    stale = Event(
        issuer="stale", command=Command.LOCK, subject="y", timestamp=clock(), duration=30, nonce="n", seq=10
    )
    a.path(10).write_bytes(stale.encode())  # a node left behind linked at the freed number 10
    waits = []

    def next_compaction(seconds):  # while b waits for a snapshot that reaches its number
        waits.append(seconds)
        a.snapshot_path.write_bytes(newest)

    monkeypatch.setattr(eventlog.time, "sleep", next_compaction)
    lock = b.publish(Command.LOCK, "x", duration=30)
    assert lock.seq == 31 and waits, "not at 11, above the stale event"
    a.poll()
    assert a.view().locks.holder("x") == "b" and b.view().locks.holder("y") is None


def test_a_slow_compactor_does_not_put_back_an_older_snapshot(tmp_path):
    """Nodes whose events below were deleted by the later compaction would wait for a snapshot
    that reaches them until the next one."""
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    slow = make(tmp_path, "slow", clock, compact_every=5)
    for i in range(6):
        a.publish(Command.LOCK, f"a{i}", duration=30)
    slow.poll()  # at 5, about to compact, when it is descheduled
    for i in range(6, 11):
        a.publish(Command.LOCK, f"a{i}", duration=30)
    slow.compact()
    assert json.loads(a.snapshot_path.read_bytes())["seq"] == 10


def test_catching_up_from_a_snapshot_keeps_when_this_node_learnt_of_its_own_lease(tmp_path, monkeypatch):
    """The holder acts until its own clock, counted from just before it published the lease, says
    the lease minus a margin has passed; others take over after the duration plus a grace from
    when they learnt of it. A holder that caught up from a snapshot counted its lease from then,
    and acted on long after another node could take over."""
    monkeypatch.setattr(eventlog, "STALE_VIEW", float("inf"))
    clock = Clock()
    a = make(tmp_path, "a", clock, compact_every=5)
    b = make(tmp_path, "b", clock, compact_every=5)
    b.publish(Command.LOCK, "x", duration=30)
    a.poll()
    clock.t += 20
    for i in range(20):
        a.publish(Command.LOCK, f"a{i}", duration=30)
    b.poll()
    assert b.view().seq == a.view().seq == 20, "b caught up from the snapshot"
    lease = b.view().locks.lease("x")
    assert lease is not None and lease.observed == 1000.0, "counted from before b published it"
    assert a.view().locks.lease("x").observed == 1000.0


def test_a_directory_below_the_compaction_window_fails_no_publish(tmp_path):
    """Compaction cannot unlink a directory skipped as garbage; it used to raise out of the
    publish whose event had just been linked, so the caller took a published event for a failure."""
    a = make(tmp_path, "a", compact_every=5, corrupt_wait=0.0)
    a.publish(Command.LOCK, "s", duration=30)
    a.path(1).mkdir()
    for i in range(15):
        a.publish(Command.LOCK, f"a{i}", duration=30)
    assert a.view().seq == 16 and a.path(1).is_dir() and not a.path(2).exists()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["publish", "poll"]), st.integers(0, 2), st.integers(1, 8)),
        max_size=12,
    )
)
def test_any_interleaving_leaves_every_node_holding_exactly_what_the_log_says(steps):
    """Three nodes publish LOCK/RELEASE on their own subjects (in bursts) and poll in any order,
    with a small compaction window, never polling before they publish (as within STALE_VIEW). A
    fourth node that polls after every event is never behind: every node's own leases must be
    exactly the ones the log gives it, and no RELEASE of a lock its node believes in is refused."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(eventlog, "STALE_VIEW", float("inf"))
        clock = Clock()
        folder = Path(tmp)
        nodes = [make(folder, f"n{i}", clock, compact_every=3) for i in range(3)]
        oracle = make(folder, "oracle", clock, compact_every=3)
        for op, who, burst in steps:
            node = nodes[who]
            for k in range(burst if op == "publish" else 1):
                clock.t += 1
                if op == "poll":
                    node.poll()
                else:
                    name = f"{node.node}-{k % 2}"
                    held = node.view().locks.holder(name) == node.node
                    node.publish(Command.RELEASE if held else Command.LOCK, name, duration=30)
                oracle.poll()
                for n in nodes:
                    own = {s: le.seq for s, le in n.view().locks.leases.items() if le.holder == n.node}
                    truth = {s: le.seq for s, le in oracle.view().locks.leases.items() if le.holder == n.node}
                    assert own == truth, f"{n.node} believes {own}, the log says {truth}"
