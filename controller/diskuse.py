"""How much of the share each project takes: its workspaces, logs, input and output.

Sizes are for display (`winsctl top projects`, the UI, `winslow_project_disk_bytes`), so they
come from a bounded walk that is cached for a while: every entry is looked at with lstat and a
link is never followed, a file with several links is counted once, and a walk that meets its cap
of entries or time stops and says that its figures are partial. Bytes are what the files take on
disk (st_blocks · 512, folders included), the figure `du -s -B1` gives for the same folders.

The parts of a project:
- workspaces: `workspaces/<project>/stages/` (the StageRun workspaces; `count` is how many run
  folders it holds, the trash that retention is still deleting included in its bytes)
- input, output: `workspaces/<project>/input/` and `output/`
- logs: `logs/<project>/` (the stages' logs and their positions)
- other: whatever else is under `workspaces/<project>/`, and that folder itself

Thread use: any thread (API requests, a metrics scrape); the cache is under a lock, and two
threads may walk the same project at once (both get a right answer).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from winslow.controller.layout import ShareLayout

KINDS = ("workspaces", "logs", "input", "output", "other")
TTL = 60.0
MAX_ENTRIES = 1_000_000
MAX_SECONDS = 10.0


@dataclass
class _Budget:
    deadline: float
    entries: int
    seen: set[tuple[int, int]] = field(default_factory=set)

    def spent(self) -> bool:
        return self.entries <= 0 or time.monotonic() > self.deadline


@dataclass(frozen=True)
class ProjectUsage:
    project: str
    bytes: dict[str, int]
    """Per kind (KINDS)."""
    workspaces: int
    """How many StageRun workspace folders there are."""
    partial: bool
    """A walk met its cap: the figures are what it counted until then, so at least this much."""
    measured: float
    """Wall clock of the walk."""

    @property
    def total(self) -> int:
        return sum(self.bytes.values())


def _size(st: os.stat_result, budget: _Budget) -> int:
    budget.entries -= 1
    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in budget.seen:
            return 0
        budget.seen.add(key)
    return st.st_blocks * 512


def walk(path: Path, budget: _Budget, skip: Iterable[str] = ()) -> tuple[int, bool]:
    """(bytes, partial) of `path` and all it holds, never following a link; the names in `skip`
    (directly under `path`) are left out."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0, False
    total = _size(st, budget)
    if not stat.S_ISDIR(st.st_mode):
        return total, False
    left_out = set(skip)
    pending = [str(path)]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if budget.spent():
                return total, True
            if folder == str(path) and entry.name in left_out:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            total += _size(st, budget)
            if stat.S_ISDIR(st.st_mode):
                pending.append(entry.path)
    return total, False


def measure(
    layout: ShareLayout, project: str, max_entries: int = MAX_ENTRIES, max_seconds: float = MAX_SECONDS
) -> ProjectUsage:
    """One bounded walk of the project's folders."""
    budget = _Budget(time.monotonic() + max_seconds, max_entries)
    root = layout.project_dir(project)
    parts = {
        "workspaces": walk(root / "stages", budget),
        "input": walk(layout.project_input(project), budget),
        "output": walk(layout.project_output(project), budget),
        "other": walk(root, budget, skip=("stages", "input", "output")),
        "logs": walk(layout.logs / project, budget),
    }
    try:
        with os.scandir(root / "stages") as it:
            count = sum(1 for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        count = 0
    return ProjectUsage(
        project=project,
        bytes={kind: parts[kind][0] for kind in KINDS},
        workspaces=count,
        partial=any(p for _, p in parts.values()),
        measured=time.time(),
    )


class DiskUse:
    """Each project's last walk, kept for `ttl` seconds."""

    def __init__(self, layout: ShareLayout, ttl: float = TTL, max_seconds: float = MAX_SECONDS) -> None:
        self.layout = layout
        self.ttl = ttl
        self.max_seconds = max_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ProjectUsage]] = {}

    def project(self, name: str) -> ProjectUsage:
        return self.projects([name])[0]

    def projects(self, names: Iterable[str], budget_seconds: float | None = None) -> list[ProjectUsage]:
        """Fresh from the cache, else walked now; past `budget_seconds` in all, a project with an
        older walk gets that one (shown as partial), and one never walked is left out."""
        start = time.monotonic()
        found: list[ProjectUsage] = []
        for name in names:
            with self._lock:
                cached = self._cache.get(name)
            now = time.monotonic()
            if cached is not None and now - cached[0] < self.ttl:
                found.append(cached[1])
                continue
            if budget_seconds is not None and now - start > budget_seconds:
                if cached is not None:
                    found.append(_partial(cached[1]))
                continue
            usage = measure(self.layout, name, max_seconds=self.max_seconds)
            with self._lock:
                self._cache[name] = (time.monotonic(), usage)
            found.append(usage)
        return found


def _partial(usage: ProjectUsage) -> ProjectUsage:
    return ProjectUsage(usage.project, usage.bytes, usage.workspaces, True, usage.measured)


_SHARED: dict[Path, DiskUse] = {}
_SHARED_LOCK = threading.Lock()


def for_share(layout: ShareLayout) -> DiskUse:
    """The one cache of a share in this process, which the API and the metrics both read."""
    with _SHARED_LOCK:
        found = _SHARED.get(layout.root)
        if found is None:
            found = _SHARED[layout.root] = DiskUse(layout)
        return found
