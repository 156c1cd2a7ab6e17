"""The watchdog: fencing that does not need the node process to run.

A node stops its own container when it can no longer renew the run's lease (reconcilers/stagerun
decides so), but a node process that is frozen (SIGSTOP, a stalled VM) or killed does not run,
and its containers would go on while another node, once the lease has expired there, starts the
stage again. So each executing node starts one watchdog process per host and node name, in a
session of its own (a signal to the node's process group does not reach it). The node writes
its fence to a local file (`Fence`): for each lease it keeps, the monotonic time until which it
may act on it, which is also when the node itself would stop the container. The watchdog kills
every container of that node whose lease's time has passed. Both read the same monotonic clock
(one machine), and the others take over only after the lease's full duration plus a grace, each
counted from when it learnt of the lease, which is later: so a container is dead before anyone
may start its stage again.

The file is local, never on the share: fencing must work while the share is full, slow or gone.
A watchdog leaves once its node process is gone and no container of the node runs; the next
node process under that name starts a new one (a lock on the file keeps it to one).

A Slurm node's watchdog (`--slurm-root`) cancels the node's jobs instead, pending or running:
USR2 to the job's wrapper, which kills its container at once (a `podman kill`, as Docker's), then
`scancel`. Its jobs' files are on the share, so this watchdog needs the share to find them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from winslow.controller.leases import Leases
from winslow.controller.runtime import ContainerState
from winslow.controller.slurm_runtime import SlurmRuntime

log = logging.getLogger(__name__)
LEASE_LABEL = "winslow.lease"
POLL = 0.5  # seconds between looks: well inside the smallest grace a cluster may use


def state_dir() -> Path:
    """Where fences live on this machine: /run/winslow for root (a tmpfs, gone at reboot with the
    containers it speaks of), else the user's runtime or temporary folder."""
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return Path("/run/winslow")
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"winslow-{os.geteuid()}"


def fence_path(folder: Path, share_uid: str, node: str) -> Path:
    return folder / f"{share_uid[:16]}-{node}.fence"


@dataclass(frozen=True)
class FenceState:
    pid: int
    deadlines: dict[str, float]
    """Lease subject -> monotonic time after which its container must not run."""


class Fence:
    """The node's side: the file the watchdog reads, rewritten from the node's leases.

    Thread use: the lease keeper refreshes it every tick, and a start thread just before it starts
    a container (so that no container runs that the file does not name); a lock orders them. The
    keeper also makes sure, now and then, that a watchdog runs (`ensure_watched`): one that left
    while this node restarted is started again."""

    def __init__(
        self,
        path: Path,
        leases: Leases,
        kept: Callable[[str], bool],
        share_uid: str,
        slurm_root: Path | None = None,
    ) -> None:
        self.path = path
        self.leases = leases
        self.kept = kept
        self.share_uid = share_uid
        self.slurm_root = slurm_root
        self._lock = threading.Lock()
        self._said = False
        self._checked = float("-inf")

    def ensure_watched(self, every: float = 5.0) -> None:
        if time.monotonic() - self._checked >= every:
            self._checked = time.monotonic()
            spawn(self.path, self.share_uid, self.leases.node, self.slurm_root)

    def refresh(self) -> None:
        with self._lock:
            deadlines = {}
            for subject in self.leases.mine():
                lease = self.leases.events.view().locks.lease(subject)
                if lease is not None and self.kept(subject):
                    deadlines[subject] = self.leases.deadline(lease)
            try:
                write(self.path, FenceState(os.getpid(), deadlines))
                self._said = False
            except OSError as exc:
                if not self._said:
                    self._said = True
                    log.error("cannot write the fence %s (%s); the watchdog keeps the old", self.path, exc)


def write(path: Path, state: FenceState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": state.pid, "deadlines": state.deadlines}))
    os.replace(tmp, path)


def read(path: Path) -> FenceState | None:
    """None while there is no fence or it cannot be read (then nothing is known to be due)."""
    try:
        data = json.loads(path.read_bytes()[: 1 << 20])
        deadlines = {str(k): float(v) for k, v in dict(data["deadlines"]).items()}
        return FenceState(int(data["pid"]), deadlines)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def overdue(state: FenceState, containers: Iterable[tuple[str, str | None]], now: float) -> list[str]:
    """The containers (id, lease subject) to stop now: those whose lease the node may no longer
    act on. A container whose lease the fence does not name is the node's own business (its run
    ended, or it predates the fence)."""
    return [
        cid
        for cid, subject in containers
        if subject is not None and subject in state.deadlines and now > state.deadlines[subject]
    ]


def alive(pid: int) -> bool:
    """A stopped (frozen) process is alive: its fence still counts, by its deadlines."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watched(path: Path) -> bool:
    """Whether a watchdog holds the fence's lock: a restarted node finds its predecessor's."""
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


def spawn(path: Path, share_uid: str, node: str, slurm_root: Path | None = None) -> None:
    """Starts the watchdog for this node unless one runs (it holds the fence's lock): a Python
    process starting at every restart of a node costs a loaded machine seconds of CPU."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if watched(path):
        return
    command = [sys.executable, "-m", "winslow.controller.watchdog", str(path), share_uid, node]
    if slurm_root is not None:
        command += ["--slurm-root", str(slurm_root)]
    log_file = path.with_suffix(".log")
    with log_file.open("ab") as out:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)


class _Docker:
    def __init__(self, share_uid: str, node: str) -> None:
        import docker  # only the watchdog process needs the engine's client, and only once it watches

        self.client = docker.from_env(timeout=30)
        self.labels = [f"winslow.share={share_uid}", f"winslow.node={node}"]

    def running(self) -> list[tuple[str, str | None]]:
        found = self.client.containers.list(filters={"label": self.labels, "status": "running"})
        return [(c.id, c.labels.get(LEASE_LABEL)) for c in found]

    def kill(self, cid: str) -> None:
        log.warning("the node may no longer act on the lease of container %s: killing it", cid[:12])
        self.client.api.kill(cid)


class _Slurm:
    AGAIN = 10.0  # seconds before a job that still shows is cancelled again (Slurm shows the end late)

    def __init__(self, root: Path, share_uid: str, node: str) -> None:
        self.runtime = SlurmRuntime(root, notes=False)  # the node writes the jobs' notes
        self.labels = {"winslow.share": share_uid, "winslow.node": node}
        self.cancelled: dict[str, float] = {}

    def running(self) -> list[tuple[str, str | None]]:
        found = self.runtime.find(self.labels)
        return [(c.id, c.labels.get(LEASE_LABEL)) for c in found if c.state is not ContainerState.EXITED]

    def kill(self, cid: str) -> None:
        if time.monotonic() - self.cancelled.get(cid, float("-inf")) >= self.AGAIN:
            self.cancelled[cid] = time.monotonic()
            log.warning("the node may no longer act on the lease of Slurm job %s: killing it", cid)
            self.runtime.stop(cid, timeout=0)


def watch(
    path: Path, share_uid: str, node: str, *, poll: float = POLL, slurm_root: Path | None = None
) -> int:
    """The watchdog's loop. Exits 0 at once when another watchdog holds the lock."""
    lock = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    engine = _Docker(share_uid, node) if slurm_root is None else _Slurm(slurm_root, share_uid, node)
    what = "containers" if slurm_root is None else "Slurm jobs"
    log.info("watching the %s of node %s (fence %s)", what, node, path)
    while True:
        state = read(path)
        try:
            running = engine.running()
        except Exception as exc:
            log.warning("cannot list the %s (%s); trying again", what, exc)
            time.sleep(poll * 4)
            continue
        for cid in overdue(state, running, time.monotonic()) if state is not None else []:
            with contextlib.suppress(Exception):
                engine.kill(cid)
        if not running and (state is None or not alive(state.pid)):
            log.info("node %s is gone and none of its containers runs; leaving", node)
            return 0
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="winslow-watchdog", description=__doc__.split("\n\n")[0])
    parser.add_argument("fence", type=Path)
    parser.add_argument("share_uid")
    parser.add_argument("node")
    parser.add_argument("--slurm-root", type=Path, help="a Slurm node's job folder (run/slurm on the share)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level="INFO", format=f"%(asctime)s %(levelname)s watchdog node={args.node}: %(message)s"
    )
    return watch(args.fence, args.share_uid, args.node, slurm_root=args.slurm_root)


if __name__ == "__main__":
    sys.exit(main())
