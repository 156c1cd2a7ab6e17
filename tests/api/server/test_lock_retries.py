"""Waiting for a busy lock: a spec's coordination lock (the event log says no) and an upload's
file lock (flock says no) are asked for again with short jittered waits, for a bounded time."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from winslow.api.server import spec_changes, uploads
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.controller.leases import Leases
from winslow.resources.errors import ConflictError


def _api(tmp_path: Path, holder: str) -> tuple[SimpleNamespace, EventLog]:
    """An API context on a real event log where `holder` (another node) holds project/p."""
    folder = tmp_path / "events"
    other = EventLog(folder, holder, time.time)
    other.publish(Command.LOCK, "project/p", duration=60)
    events = EventLog(folder, "node-a", time.time)
    return SimpleNamespace(node="node-a", events=events, leases=Leases(events, 30)), other


def test_a_spec_lock_is_asked_for_again_until_it_is_free(tmp_path):
    ctx, other = _api(tmp_path, "node-b")
    threading.Timer(0.3, lambda: other.publish(Command.RELEASE, "project/p")).start()
    with spec_changes.locked(ctx, "Project", "p") as issuer:  # type: ignore[arg-type]
        assert issuer.startswith("node-a/api/"), "the request's own name"
        assert ctx.events.view().locks.holder("project/p") == issuer
    assert ctx.events.view().locks.holder("project/p") is None, "released"


def test_a_spec_lock_that_stays_busy_is_a_conflict_after_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_changes, "LOCK_WAIT", 0.3)
    ctx, _ = _api(tmp_path, "node-b")
    attempts = 0
    acquire = ctx.leases.acquire

    def counted(*args: Any, **kwargs: Any) -> bool:
        nonlocal attempts
        attempts += 1
        return acquire(*args, **kwargs)

    ctx.leases.acquire = counted
    with (
        pytest.raises(ConflictError, match="project 'p' is busy \\(held by node-b\\)"),
        spec_changes.locked(ctx, "project", "p"),  # type: ignore[arg-type]
    ):
        pytest.fail("the body must not run without the lock")
    assert 3 <= attempts < 300, "jittered waits, neither one try nor a busy loop"


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
