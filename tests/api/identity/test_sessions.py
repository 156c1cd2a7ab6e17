"""The session store (api.sessions) on a real folder with an injected clock: expiry, the once-a-minute
note of use, hashed names, ending sessions, and whatever hostile files the share may hold instead."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from winslow.api.identity import sessions
from winslow.api.identity.sessions import SessionStore, csrf_value, file_name

HOUR = 3600.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SessionStore:
    return SessionStore(tmp_path / "sessions", clock)


def record_of(store: SessionStore, session_id: str) -> Path:
    return store.folder / f"{file_name(session_id)}.yaml"


def seen_of(store: SessionStore, session_id: str) -> Path:
    return store.folder / f"{file_name(session_id)}.seen"


def test_a_session_is_found_by_its_id_and_its_files_hold_no_id(store: SessionStore) -> None:
    session_id = store.create("alice", "t1")
    assert session_id.startswith("wss_") and len(session_id) > 40
    found = store.find(session_id)
    assert found is not None and (found.user, found.token) == ("alice", "t1")
    assert found.expires == found.created + sessions.MAX_SECONDS
    for path in store.folder.iterdir():
        content = path.read_bytes()
        assert session_id.encode() not in content and session_id[4:].encode() not in content
        assert session_id not in path.name
        assert csrf_value(session_id).encode() not in content
    assert store.find(session_id + "x") is None
    assert store.find("wsl_" + session_id[4:]) is None  # an API token's shape is never looked up
    assert store.find("wss_" + "a" * 500) is None


def test_idle_sessions_expire_and_use_keeps_them_alive(store: SessionStore, clock: Clock) -> None:
    idle = store.create("alice", "t1")
    used = store.create("alice", "t1")
    for _ in range(13):  # 13 h of use, an hour apart
        clock.now += HOUR
        assert store.find(used) is not None
    assert store.find(idle) is None
    assert not record_of(store, idle).exists()  # an expired session found is removed
    clock.now += 12 * HOUR - 1
    assert store.find(used) is not None
    clock.now += 12 * HOUR
    assert store.find(used) is None


def test_an_idle_session_lasts_12_hours_to_the_second(store: SessionStore, clock: Clock) -> None:
    session_id = store.create("alice", "t1")
    clock.now += 12 * HOUR - 1
    assert store.find(session_id) is not None
    clock.now += 12 * HOUR - 1
    assert store.find(session_id) is not None
    clock.now += 12 * HOUR
    assert store.find(session_id) is None


def test_sessions_end_after_7_days_however_much_they_are_used(store: SessionStore, clock: Clock) -> None:
    session_id = store.create("alice", "t1")
    start = clock.now
    while clock.now < start + 7 * 24 * HOUR - HOUR:
        clock.now += HOUR
        assert store.find(session_id) is not None
    clock.now = start + 7 * 24 * HOUR
    assert store.find(session_id) is None


def test_limits_come_from_the_environment_and_count_for_older_sessions(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = SessionStore(tmp_path / "s", clock)
    session_id = before.create("alice", "t1")
    monkeypatch.setenv(sessions.IDLE_ENV, "60")
    monkeypatch.setenv(sessions.MAX_ENV, "100")
    after = SessionStore(tmp_path / "s", clock)
    assert (after.idle_seconds, after.max_seconds) == (60, 100)
    clock.now += 50
    assert after.find(session_id) is not None
    clock.now += 55
    assert after.find(session_id) is None  # created 105 s ago: over the new maximum
    monkeypatch.setenv(sessions.IDLE_ENV, "-1")
    monkeypatch.setenv(sessions.MAX_ENV, "soon")
    fallback = SessionStore(tmp_path / "s", clock)
    assert (fallback.idle_seconds, fallback.max_seconds) == (sessions.IDLE_SECONDS, sessions.MAX_SECONDS)


def test_use_is_noted_at_most_once_a_minute_and_the_record_is_never_rewritten(
    store: SessionStore, clock: Clock
) -> None:
    session_id = store.create("alice", "t1")
    record = record_of(store, session_id)
    stamp = record.stat()
    for _ in range(30):
        clock.now += 1
        assert store.find(session_id) is not None
    assert not seen_of(store, session_id).exists()
    clock.now += 30
    assert store.find(session_id) is not None
    seen = seen_of(store, session_id).stat()
    clock.now += 59
    assert store.find(session_id) is not None
    assert seen_of(store, session_id).stat().st_ino == seen.st_ino
    clock.now += 1
    found = store.find(session_id)
    assert found is not None and seen_of(store, session_id).stat().st_ino != seen.st_ino
    assert store.find(session_id).seen == clock.now  # type: ignore[union-attr]
    after = record.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)


def test_a_share_that_cannot_be_written_never_fails_a_request_and_is_logged_once(
    store: SessionStore, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = store.create("alice", "t1")

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sessions, "atomic_write", full)
    with caplog.at_level(logging.WARNING, logger="winslow.api.identity.sessions"):
        for _ in range(3):
            clock.now += 120
            assert store.find(session_id) is not None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "No space left" in caplog.records[0].getMessage()
    with pytest.raises(OSError):
        store.create("alice", "t1")  # a sign-in that cannot be stored fails (the API says 503)


def test_a_session_ended_while_its_use_is_noted_stays_ended(store: SessionStore, clock: Clock) -> None:
    """Another node ends the session between this node's read and its note of use: the note may
    come back, the session does not."""
    session_id = store.create("alice", "t1")
    clock.now += 120
    name = file_name(session_id)
    session = store._read(name)
    assert session is not None
    assert store.end(session_id) is True  # the other node
    store._touch(name, clock.now)  # this node, a moment later
    assert seen_of(store, session_id).exists() and not record_of(store, session_id).exists()
    assert store.find(session_id) is None
    assert store.prune() == 0 and not seen_of(store, session_id).exists()
    assert store.end(session_id) is False


def test_end_user_ends_only_that_users_sessions_or_those_of_some_tokens(store: SessionStore) -> None:
    a1, a2, b = store.create("alice", "t1"), store.create("alice", "t2"), store.create("bob", "t3")
    assert sorted(s.token for s in store.of_user("alice")) == ["t1", "t2"]
    assert store.end_user("alice", ["t2"]) == 1
    assert store.find(a1) is not None and store.find(a2) is None
    assert store.end_user("alice") == 1
    assert store.find(a1) is None and store.find(b) is not None
    assert store.end_user("nobody") == 0


def test_expired_sessions_are_pruned_when_others_sign_in(store: SessionStore, clock: Clock) -> None:
    old = store.create("alice", "t1")
    clock.now += 13 * HOUR
    store.create("bob", "t1")
    assert not record_of(store, old).exists()
    assert len(list(store.folder.glob("*.yaml"))) == 1


def _hostile(path: Path, kind: str) -> None:
    path.unlink(missing_ok=True)
    if kind == "not utf-8":
        path.write_bytes(b"user: \xff\xfe\nexpires: 1\n")
    elif kind == "huge":
        path.write_bytes(b"user: alice\n" + b"#" * (sessions.LIMITS.max_bytes + 10))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        target = path.with_name("elsewhere")
        target.write_text("user: alice\ntoken: t1\ncreated: 0\nexpires: 9e99\n")
        path.symlink_to(target)
    elif kind == "not a record":
        path.write_text("- user\n- alice\n")
    elif kind == "deep":
        path.write_text("[" * 100 + "]" * 100)
    elif kind == "nan":
        path.write_text("user: alice\ntoken: t1\ncreated: .nan\nexpires: .inf\n")


HOSTILE = ["not utf-8", "huge", "fifo", "directory", "symlink", "not a record", "deep", "nan"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_record_is_no_session_and_never_a_crash(store: SessionStore, kind: str) -> None:
    session_id = store.create("alice", "t1")
    other = store.create("alice", "t1")
    _hostile(record_of(store, session_id), kind)
    assert store.find(session_id) is None
    assert store.find(session_id) is None  # and again, from what the reader remembers
    assert [s.user for s in store.of_user("alice")] == ["alice"]
    store.prune()
    assert store.end_user("alice") == 1 and store.find(other) is None
    store.end(session_id)  # whatever is there: no crash


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_note_of_use_is_no_session(store: SessionStore, kind: str) -> None:
    session_id = store.create("alice", "t1")
    _hostile(seen_of(store, session_id), kind)
    assert store.find(session_id) is None


def test_the_csrf_value_belongs_to_one_session(store: SessionStore) -> None:
    a, b = store.create("alice", "t1"), store.create("alice", "t1")
    assert csrf_value(a) == csrf_value(a) != csrf_value(b)
    assert a not in csrf_value(a) and len(csrf_value(a)) >= 40
