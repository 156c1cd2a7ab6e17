from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.events import Command, Event
from winslow.controller.locks import LockTable


def ev(command, issuer, t, duration=10.0, subject="s"):
    return Event(issuer=issuer, command=command, subject=subject, timestamp=t, duration=duration)


def test_lock_only_if_free():
    table = LockTable(grace=5)
    assert table.check(ev(Command.LOCK, "a", 0)) is None
    table.apply(ev(Command.LOCK, "a", 0))
    assert "held by a" in (table.check(ev(Command.LOCK, "b", 1)) or "")
    assert table.holder("s", 14.9) == "a"
    assert table.check(ev(Command.LOCK, "b", 15.1)) is None, "free once expiry plus grace has passed"


def test_extend_and_release_only_by_holder():
    table = LockTable(grace=5)
    table.apply(ev(Command.LOCK, "a", 0))
    assert table.check(ev(Command.EXTEND, "b", 1)) is not None
    assert table.check(ev(Command.RELEASE, "b", 1)) is not None
    assert table.check(ev(Command.EXTEND, "a", 5)) is None
    table.apply(ev(Command.EXTEND, "a", 5))
    assert table.holder("s", 19) == "a"
    table.apply(ev(Command.RELEASE, "a", 6))
    assert table.holder("s", 6) is None


def test_expired_holder_cannot_extend():
    table = LockTable(grace=1)
    table.apply(ev(Command.LOCK, "a", 0, duration=2))
    assert table.check(ev(Command.EXTEND, "a", 3.5)) is not None


commands = st.sampled_from([Command.LOCK, Command.EXTEND, Command.RELEASE])
event_lists = st.lists(
    st.tuples(commands, st.sampled_from("abc"), st.floats(0, 5), st.floats(0.1, 10), st.sampled_from("xy")),
    max_size=60,
)


@given(event_lists)
def test_replay_never_shows_two_holders(raw):
    """Whatever nodes publish, the fold keeps at most one live holder per subject at any time."""
    table = LockTable(grace=1.0)
    t = 0.0
    history: list[tuple[str, str, float, float]] = []
    for command, issuer, dt, duration, subject in raw:
        t += dt
        event = ev(command, issuer, t, duration, subject)
        if table.check(event) is None:
            table.apply(event)
            lease = table.lease(subject)
            if command is Command.LOCK:
                for other_subject, holder, start, end in history:
                    if other_subject == subject and holder != issuer:
                        assert t > end + 1.0 or not (start <= t <= end), "a live lock was taken over"
            if lease is not None:
                history = [h for h in history if not (h[0] == subject and h[1] == issuer)]
                history.append((subject, issuer, t, lease.expires))
            else:
                history = [h for h in history if not (h[0] == subject and h[1] == issuer)]
