"""Waiting for a busy lock: a spec's coordination lock (the event log says no) and an upload's
file lock (flock says no) are asked for again with short jittered waits, for a bounded time."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from winslow.api import specs, uploads
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.resources.errors import ConflictError


class BusyLog:
    """Rejects the first `busy` LOCK requests, as the event log does while another holds it."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.published: list[tuple[Command, str, str]] = []
        self.rejected = 0

    def publish(self, command: Command, subject: str, issuer: str, **_: Any) -> None:
        if command is Command.LOCK and self.rejected < self.busy:
            self.rejected += 1
            raise Rejected(f"lock {subject} held by node-b")
        self.published.append((command, subject, issuer))


def test_a_spec_lock_is_asked_for_again_until_it_is_free():
    events = BusyLog(busy=5)
    with specs.locked(SimpleNamespace(node="node-a", events=events), "Project", "p"):  # type: ignore[arg-type]
        assert [c for c, _, _ in events.published] == [Command.LOCK]
    assert events.rejected == 5
    assert [c for c, _, _ in events.published] == [Command.LOCK, Command.RELEASE]
    issuers = {issuer for _, _, issuer in events.published}
    assert len(issuers) == 1 and issuers.pop().startswith("node-a/api/"), "the request's own name"


def test_a_spec_lock_that_stays_busy_is_a_conflict_after_the_wait(monkeypatch):
    monkeypatch.setattr(specs, "LOCK_WAIT", 0.3)
    events = BusyLog(busy=10**6)
    with (
        pytest.raises(ConflictError, match="project 'p' is busy \\(lock project/p held by node-b\\)"),
        specs.locked(SimpleNamespace(node="node-a", events=events), "project", "p"),  # type: ignore[arg-type]
    ):
        pytest.fail("the body must not run without the lock")
    assert 3 <= events.rejected < 300, "jittered waits, neither one try nor a busy loop"
    assert events.published == []


def _holder(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_an_upload_lock_is_taken_once_the_other_upload_lets_go(tmp_path):
    path = tmp_path / ".video.mp4.upload"
    held = _holder(path)
    fd = os.open(path, os.O_RDWR)

    async def scenario() -> None:
        waiter = asyncio.create_task(uploads._lock(fd, fcntl.LOCK_EX))
        await asyncio.sleep(0.2)
        assert not waiter.done(), "waits while the other upload holds the file"
        os.close(held)
        await asyncio.wait_for(waiter, 2)

    try:
        asyncio.run(scenario())
    finally:
        os.close(fd)


def test_an_upload_lock_that_stays_busy_is_409_after_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "LOCK_WAIT", 0.3)
    path = tmp_path / ".video.mp4.upload"
    held = _holder(path)
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(HTTPException) as refused:
            asyncio.run(uploads._lock(fd, fcntl.LOCK_SH))
        assert refused.value.status_code == 409
        assert "another upload of this file is in progress" in refused.value.detail
    finally:
        os.close(fd)
        os.close(held)
