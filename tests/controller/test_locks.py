from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.events import Command, Event
from winslow.controller.locks import LockTable


def ev(command, issuer, t, duration=10.0, subject="s", seq=0, supersedes=None):
    return Event(
        issuer=issuer,
        command=command,
        subject=subject,
        timestamp=t,
        duration=duration,
        seq=seq,
        supersedes=supersedes,
    )


def test_lock_only_if_free_or_naming_the_lease_it_takes_over():
    table = LockTable()
    assert table.check(ev(Command.LOCK, "a", 0)) is None
    table.apply(ev(Command.LOCK, "a", 0, seq=1))
    assert "held by a" in (table.check(ev(Command.LOCK, "b", 1)) or "")
    assert "held by a" in (table.check(ev(Command.LOCK, "b", 999)) or ""), "clocks never free a lock"
    assert "held by a" in (table.check(ev(Command.LOCK, "b", 20, supersedes=0)) or ""), "not that lease"
    assert table.check(ev(Command.LOCK, "b", 20, supersedes=1)) is None
    table.apply(ev(Command.LOCK, "b", 20, seq=2, supersedes=1))
    assert table.holder("s") == "b"
    assert table.check(ev(Command.EXTEND, "a", 21)) is not None, "the old holder lost it"


def test_extend_and_release_only_by_holder():
    table = LockTable()
    table.apply(ev(Command.LOCK, "a", 0, seq=1))
    assert table.check(ev(Command.EXTEND, "b", 1)) is not None
    assert table.check(ev(Command.RELEASE, "b", 1)) is not None
    assert table.check(ev(Command.EXTEND, "a", 5)) is None
    table.apply(ev(Command.EXTEND, "a", 5, seq=2))
    lease = table.lease("s")
    assert lease is not None and lease.holder == "a" and lease.seq == 2 and lease.expires == 15
    table.apply(ev(Command.RELEASE, "a", 6, seq=3))
    assert table.holder("s") is None


commands = st.sampled_from([Command.LOCK, Command.EXTEND, Command.RELEASE])
event_lists = st.lists(
    st.tuples(
        commands,
        st.sampled_from("abc"),
        st.sampled_from("xy"),
        st.one_of(st.none(), st.integers(0, 40)),
    ),
    max_size=60,
)


@given(event_lists)
def test_replay_never_shows_two_holders(raw):
    """Whatever nodes publish (any takeover claims), the fold keeps one holder per subject and
    a holder changes only through a LOCK that names the lease it replaces."""
    table = LockTable()
    for seq, (command, issuer, subject, supersedes) in enumerate(raw):
        event = ev(command, issuer, float(seq), 5.0, subject, seq, supersedes)
        before = table.lease(subject)
        if table.check(event) is not None:
            continue
        table.apply(event)
        after = table.lease(subject)
        if before is not None and after is not None and after.holder != before.holder:
            assert command is Command.LOCK and supersedes == before.seq
