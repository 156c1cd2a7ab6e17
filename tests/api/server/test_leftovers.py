"""Unfinished uploads expire: the rule with an injected clock, then the sweep over a real share."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
from pathlib import Path

import pytest

from tests.harness import wait_for
from winslow.api.server import leftovers
from winslow.api.server.leftovers import Partial, Sweeper, expired
from winslow.controller.layout import ShareLayout

HOUR = 3600.0
NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_only_partials_untouched_for_longer_than_the_age_expire() -> None:
    found = [
        Partial(".old.upload", NOW - 25 * HOUR),
        Partial(".edge.upload", NOW - 24 * HOUR),
        Partial(".fresh.upload", NOW - 60),
        Partial(".future.upload", NOW + HOUR),  # a clock that went back: not old
    ]
    assert expired(found, NOW, 24 * HOUR) == [found[0]]
    assert expired(found, NOW + 1, 24 * HOUR) == found[:2]
    assert expired([], NOW, 24 * HOUR) == []


@pytest.fixture
def share(tmp_path: Path) -> ShareLayout:
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    return layout


def aged(path: Path, age: float, data: bytes = b"part") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (NOW - age, NOW - age), follow_symlinks=False)
    return path


def sweeper(layout: ShareLayout, max_depth: int = leftovers.MAX_DEPTH) -> Sweeper:
    return Sweeper(layout.root, 24 * HOUR, clock=Clock(NOW), max_depth=max_depth)


def test_the_sweep_removes_old_partials_and_keeps_fresh_ones_and_everything_else(share: ShareLayout) -> None:
    old = aged(share.resources / "videos" / ".a.mp4.upload", 25 * HOUR)
    deep_old = aged(share.project_input("p") / "x" / "y" / ".b.bin.upload", 48 * HOUR)
    fresh = aged(share.project_input("p") / ".c.bin.upload", HOUR)
    plain = aged(share.resources / "old.bin", 100 * HOUR)
    not_partial = aged(share.resources / ".upload", 100 * HOUR)
    done = sweeper(share).sweep()
    assert sorted(done) == ["resources/videos/.a.mp4.upload", "workspaces/p/input/x/y/.b.bin.upload"]
    assert not old.exists() and not deep_old.exists()
    assert fresh.exists() and plain.exists() and not_partial.exists()


def test_time_moves_on_and_the_fresh_one_goes_too(share: ShareLayout) -> None:
    fresh = aged(share.resources / ".c.bin.upload", HOUR)
    clock = Clock(NOW)
    sweep = Sweeper(share.root, 24 * HOUR, clock=clock)
    assert sweep.sweep() == [] and fresh.exists()
    clock.now += 23.5 * HOUR
    assert sweep.sweep() == ["resources/.c.bin.upload"] and not fresh.exists()


def test_an_upload_holding_its_partial_is_never_removed(share: ShareLayout) -> None:
    busy = aged(share.resources / ".busy.bin.upload", 100 * HOUR)
    fd = os.open(busy, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what api.uploads holds while it writes
        assert sweeper(share).sweep() == [] and busy.exists()
    finally:
        os.close(fd)
    assert sweeper(share).sweep() == ["resources/.busy.bin.upload"]


def test_the_sweep_never_follows_a_link_out_of_the_trees(share: ShareLayout, tmp_path: Path) -> None:
    outside = aged(tmp_path / "elsewhere" / ".secret.upload", 100 * HOUR)
    (share.resources / "link").symlink_to(outside.parent)
    (share.resources / ".file.upload").symlink_to(outside)  # a link named like a partial
    logs = aged(share.logs / ".l.upload", 100 * HOUR)  # another folder of the share
    assert sweeper(share).sweep() == []
    assert outside.exists() and logs.exists() and (share.resources / ".file.upload").is_symlink()


def test_a_tree_that_is_a_link_is_not_swept(share: ShareLayout, tmp_path: Path) -> None:
    outside = aged(tmp_path / "elsewhere" / ".secret.upload", 100 * HOUR)
    share.workspaces.rmdir()
    share.workspaces.symlink_to(outside.parent)
    assert sweeper(share).sweep() == [] and outside.exists()


def test_depth_is_bounded_and_what_is_deeper_is_told_once(
    share: ShareLayout, caplog: pytest.LogCaptureFixture
) -> None:
    shallow = aged(share.resources / "a" / ".s.upload", 100 * HOUR)
    deep = aged(share.resources / "a" / "b" / "c" / ".d.upload", 100 * HOUR)
    sweep = sweeper(share, max_depth=2)
    with caplog.at_level(logging.WARNING, logger="winslow.api.server.leftovers"):
        assert sweep.sweep() == ["resources/a/.s.upload"]
        sweep.sweep()
    assert not shallow.exists() and deep.exists()
    told = [r for r in caplog.records if "folders deep" in r.getMessage()]
    assert len(told) == 1 and "resources/a/b" in told[0].getMessage()


def test_an_unreadable_folder_is_skipped_and_told_once(
    share: ShareLayout, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root (a node on a share usually is) no mode bits stop a read: the refusal is staged."""
    aged(share.resources / "locked" / ".x.upload", 100 * HOUR)
    other = aged(share.resources / ".y.upload", 100 * HOUR)
    scandir = os.scandir

    def refusing(fd: int) -> object:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/locked"):
            raise PermissionError(13, "Permission denied")
        return scandir(fd)

    monkeypatch.setattr(leftovers.os, "scandir", refusing)
    sweep = sweeper(share)
    with caplog.at_level(logging.WARNING, logger="winslow.api.server.leftovers"):
        assert sweep.sweep() == ["resources/.y.upload"]
        sweep.sweep()
    assert not other.exists() and (share.resources / "locked" / ".x.upload").exists()
    assert len([r for r in caplog.records if "resources/locked" in r.getMessage()]) == 1


def test_odd_things_named_like_partials_are_left_alone(share: ShareLayout) -> None:
    os.mkfifo(share.resources / ".pipe.upload")
    aged(share.resources / ".dir.upload" / "inner", 100 * HOUR)
    assert sweeper(share).sweep() == []
    assert (share.resources / ".pipe.upload").exists() and (
        share.resources / ".dir.upload" / "inner"
    ).exists()


def test_a_partial_gone_or_touched_since_it_was_listed_is_kept(
    share: ShareLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = aged(share.resources / ".gone.upload", 100 * HOUR)
    touched = aged(share.resources / ".touched.upload", 100 * HOUR)
    listed = Sweeper._list

    def then_changed(self: Sweeper, fd: int, where: str) -> tuple[list[str], list[Partial]]:
        found = listed(self, fd, where)
        if where == "resources":
            gone.unlink()
            os.utime(touched, (NOW, NOW))  # an upload resumed meanwhile
        return found

    monkeypatch.setattr(Sweeper, "_list", then_changed)
    assert sweeper(share).sweep() == [] and touched.exists()


def test_a_sweep_out_of_time_stops_and_the_next_starts_over(share: ShareLayout) -> None:
    for name in ("a", "b", "c"):
        aged(share.resources / name / ".f.upload", 100 * HOUR)
    ticks = iter(range(1000))
    sweep = Sweeper(share.root, HOUR, clock=Clock(NOW), monotonic=lambda: float(next(ticks)), budget=1.5)
    first = sweep.sweep()
    assert 0 < len(first) < 3
    while len(first) < 3:
        first += sweep.sweep()
    assert sorted(first) == [f"resources/{n}/.f.upload" for n in "abc"]


def test_the_thread_sweeps_and_stops(share: ShareLayout) -> None:
    old = aged(share.resources / ".a.upload", 100 * HOUR)
    sweep = Sweeper(share.root, HOUR, clock=Clock(NOW), every=0.05)
    sweep.start(first=0.0)
    try:
        wait_for(lambda: not old.exists(), 5, "the sweep to remove the old partial")
    finally:
        sweep.stop()
    assert sweep._thread is not None and not sweep._thread.is_alive()


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan"])
def test_upload_max_age_must_be_hours_above_zero(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        leftovers.hours(text)
    assert leftovers.hours("0.5") == 0.5
