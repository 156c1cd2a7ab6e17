"""Issue 22: retention's apply on a real share folder and a real event log (no node process): it
removes what decide says under the project's lock, never follows a link out of a workspace, and
leaves a marker; and the disk-use walk counts as `du` does without following links."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import yaml

from tests.contexts import node_context
from winslow.controller.context import NodeContext
from winslow.controller.diskuse import DiskUse, measure
from winslow.controller.events import Command
from winslow.controller.reconciler import Key
from winslow.controller.records import RunRecord
from winslow.controller.subjects import lock_subject
from winslow.reconcilers.retention import KIND, RetentionReconciler
from winslow.reconcilers.retention.trash import remove_tree, set_aside
from winslow.resources.stagerun import StageRunPhase

pytestmark = pytest.mark.timeout(60)


def record(ctx: NodeContext, n: int, stage: str, phase: StageRunPhase, copy_of: str | None = None) -> str:
    name = f"p.{n}.{stage}"
    run = RunRecord(name=name, project="p", number=n, stage=stage, index=0, node=ctx.name,
                    created=datetime.now(UTC), copy_of=copy_of)  # fmt: skip
    assert ctx.leases.acquire(lock_subject("p"))
    ctx.events.publish(Command.RECORD, f"stagerun/{name}", payload=run.creation())
    if phase is not StageRunPhase.PENDING:
        ctx.events.publish(Command.RECORD, f"stagerun/{name}", payload=replace(run, phase=phase).update())
    ctx.leases.release(lock_subject("p"))
    workspace = ctx.layout.stage_workspace("p", name)
    workspace.mkdir(parents=True)
    (workspace / "data").write_bytes(b"x" * 5000)
    return name


def write_project(ctx: NodeContext, retention: dict | None) -> None:
    spec = {"stages": [{"name": "a", "image": "x"}], **({"retention": retention} if retention else {})}
    path = ctx.layout.store.spec_path("Project", "p")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(
            {"apiVersion": "winslow/v1", "kind": "Project", "metadata": {"name": "p"}, "spec": spec}
        )
    )


def settled(ctx: NodeContext) -> set[str]:
    stages = ctx.layout.project_dir("p") / "stages"
    deadline = time.monotonic() + 10
    while any(n.startswith(".") for n in os.listdir(stages)) and time.monotonic() < deadline:
        time.sleep(0.02)  # the trash is deleted on a thread of its own
    return set(os.listdir(stages))


def test_it_removes_under_the_lock_keeps_lineage_and_leaves_a_marker(tmp_path):
    ctx = node_context(tmp_path / "share")
    write_project(ctx, {"keepSucceeded": 1, "keepFailed": False})
    one = record(ctx, 1, "a", StageRunPhase.SUCCEEDED)
    two = record(ctx, 2, "a", StageRunPhase.FAILED)
    three = record(ctx, 3, "a", StageRunPhase.SUCCEEDED)
    four = record(ctx, 4, "b", StageRunPhase.RUNNING, copy_of=one)  # a resume copying an older one
    reconciler = RetentionReconciler(ctx)
    assert reconciler.reconcile(Key(KIND, "p")).error is None
    assert settled(ctx) == {one, three, four, f"{two}.removed"}
    assert (
        "p.2.a (stage a, Failed)" in (ctx.layout.project_dir("p") / "stages" / f"{two}.removed").read_text()
    )
    assert ctx.events.view().locks.holder(lock_subject("p")) is None, "the lock is released"
    assert ctx.leases.acquire(lock_subject("p"))
    ctx.events.publish(Command.RECORD, f"stagerun/{four}", payload={"phase": "Succeeded"})
    ctx.leases.release(lock_subject("p"))
    assert reconciler.reconcile(Key(KIND, "p")).error is None
    assert settled(ctx) == {three, four, f"{one}.removed", f"{two}.removed"}


def test_without_a_policy_or_while_its_own_node_holds_the_lock_nothing_goes(tmp_path):
    ctx = node_context(tmp_path / "share")
    write_project(ctx, None)
    names = {record(ctx, n, "a", StageRunPhase.FAILED) for n in (1, 2, 3)}
    reconciler = RetentionReconciler(ctx)
    reconciler.reconcile(Key(KIND, "p"))
    assert settled(ctx) == names
    write_project(ctx, {"keepFailed": False, "keepLatest": False})
    assert ctx.leases.acquire(lock_subject("p"))  # the Project reconciler between two passes
    assert reconciler.reconcile(Key(KIND, "p")).after is not None
    assert settled(ctx) == names
    ctx.leases.release(lock_subject("p"))
    reconciler.reconcile(Key(KIND, "p"))
    assert settled(ctx) == {f"{n}.removed" for n in names}


def test_it_wakes_on_the_ends_this_node_records(tmp_path):
    ctx = node_context(tmp_path / "share")
    write_project(ctx, None)
    reconciler = RetentionReconciler(ctx)
    seen = []
    ctx.events.listeners.append(lambda e: seen.extend(reconciler.wakes(e)))
    record(ctx, 1, "a", StageRunPhase.SUCCEEDED)
    record(ctx, 2, "a", StageRunPhase.PENDING)
    assert seen == [Key(KIND, "p")]


def test_removing_never_follows_a_link_and_empties_read_only_folders(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    ws = tmp_path / "stages" / "p.1.a"
    (ws / "deep" / "er").mkdir(parents=True)
    (ws / "deep" / "er" / "f").write_text("x")
    (ws / "to-outside").symlink_to(outside)
    (ws / "deep" / "file-link").symlink_to(outside / "keep")
    os.chmod(ws / "deep" / "er", stat.S_IRUSR | stat.S_IXUSR)
    os.chmod(ws / "deep", stat.S_IRUSR | stat.S_IXUSR)
    trash = set_aside(ws)
    assert trash is not None and not ws.exists() and trash.name.endswith(".removing")
    remove_tree(trash)
    assert not trash.exists() and (outside / "keep").read_text() == "precious"
    link = tmp_path / "stages" / "p.2.a"
    link.symlink_to(outside)
    assert set_aside(link) is None and not link.is_symlink() and (outside / "keep").exists()


def test_disk_use_counts_as_du_without_following_links(tmp_path):
    ctx = node_context(tmp_path / "share")
    root = ctx.layout.project_dir("p")
    (root / "stages" / "p.1.a").mkdir(parents=True)
    (root / "stages" / "p.1.a" / "f").write_bytes(os.urandom(50_000))
    (root / "stages" / "p.1.a" / "etc").symlink_to("/usr")
    os.link(root / "stages" / "p.1.a" / "f", root / "stages" / "p.1.a" / "g")
    (root / "input").mkdir()
    (root / "input" / "video").write_bytes(os.urandom(20_000))
    (root / "notes").write_text("hello")
    ctx.layout.log_file("p", "p.1.a").parent.mkdir(parents=True)
    ctx.layout.log_file("p", "p.1.a").write_text("line\n" * 1000)
    usage = measure(ctx.layout, "p")
    du = subprocess.run(["du", "-s", "-c", "-B1", str(root), str(ctx.layout.logs / "p")], capture_output=True,
                        text=True, check=True)  # fmt: skip
    assert usage.total == int(du.stdout.splitlines()[-1].split()[0])
    assert usage.workspaces == 1 and not usage.partial and usage.bytes["output"] == 0
    assert usage.bytes["workspaces"] < 1_000_000, "/usr was not walked"
    capped = measure(ctx.layout, "p", max_entries=2)
    assert capped.partial and capped.total < usage.total
    cache = DiskUse(ctx.layout, ttl=60)
    first = cache.project("p")
    (root / "input" / "more").write_bytes(os.urandom(20_000))
    assert cache.project("p") == first, "cached for a while"
