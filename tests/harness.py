"""Real node processes on real shares, and the helpers tests use to watch them converge."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import yaml

IMAGE = "winslow/busybox:latest"
FAST = [
    *("--lease-seconds", "6", "--grace-seconds", "2", "--stage-tolerance", "6"),
    *("--election-seconds", "1", "--scan-seconds", "0.3"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing(message: str) -> NoReturn:
    """What a test needs is not on this machine: a failure in CI (.ci/run installs everything),
    a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def impossible_here(message: str) -> NoReturn:
    """What this kind of machine cannot have at all, in CI too (a kernel without an NFS server):
    a skip that says why; the rest of the suite stands in for it (sshfs for kernel NFS)."""
    pytest.skip(message)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the thing may not exist yet
            last = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last})" if last else "")
    )


class NodeProcess:
    """A `winslow node` process. `share` is the share as the test sees it (the server's truth);
    `mount`, where given, is the node's own view of it (a caching network mount, tests/rig.py);
    `wrap` comes before the command (libfaketime's `faketime`, for a skewed clock)."""

    def __init__(
        self,
        share: Path,
        name: str,
        *extra: str,
        port: int | None = None,
        mount: Path | None = None,
        wrap: tuple[str, ...] = (),
    ) -> None:
        self.share = share
        self.mount = mount or share
        self.name = name
        self.extra = list(extra)
        self.wrap = list(wrap)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile = share.parent / f"node-{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> NodeProcess:
        cmd = [
            *self.wrap,
            sys.executable,
            "-m",
            "winslow.api.node.cli",
            "node",
            "--share",
            str(self.mount),
            "--name",
            self.name,
            "--port",
            str(self.port),
            *FAST,
            *self.extra,
        ]
        with self.logfile.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            wait_for(self.healthy, 30, f"node {self.name} to answer /healthz")
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"node {self.name} exited: {self.logfile.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a workstation loses power."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def winsctl(
    server: str, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "winslow.api.winsctl", "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"winsctl {' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}"
        )
    return result


def get_json(server: str, *args: str) -> Any:
    return json.loads(winsctl(server, "get", *args, "-o", "json").stdout)


def write_yaml(path: Path, *documents: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def pipeline(name: str, *stages: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "winslow/v1",
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"env": env or {}, "stages": list(stages)},
    }


def stage(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "resources": {"cpu": 0.1, "memory": "32Mi"},
        **extra,
    }


def project(name: str, pipeline_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "winslow/v1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"pipeline": pipeline_name, **spec},
    }


def project_status(share: Path, name: str) -> dict[str, Any]:
    path = share / "run" / "status" / "projects" / f"{name}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def stageruns(share: Path, name: str) -> list[dict[str, Any]]:
    folder = share / "run" / "stageruns" / name
    runs = [yaml.safe_load(p.read_text()) for p in folder.glob("*.yaml")] if folder.exists() else []
    return sorted(runs, key=lambda r: int(r["metadata"]["name"].split(".")[1]))


def share_uid(share: Path) -> str:
    return str(yaml.safe_load((share / "run" / "share.yaml").read_text())["uid"])


def containers(share: Path, **labels: str) -> list[dict[str, Any]]:
    filters = [f"label=winslow.share={share_uid(share)}"] + [
        f"label=winslow.{k}={v}" for k, v in labels.items()
    ]
    args = ["docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def remove_containers(share: Path) -> None:
    if not (share / "run" / "share.yaml").exists():
        return
    ids = [c["ID"] for c in containers(share)]
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def tree_digest(*folders: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for folder in folders
        if folder.exists()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def kill_at_random(
    cluster: list[NodeProcess], rng: random.Random, done: Callable[[], bool], at_least: int, seconds: float
) -> int:
    """SIGKILL a random node every 0.5 to 2 s and start it again within 0.8 s, until `done` and at
    least `at_least` kills (restarts after the end must not rerun anything), or `seconds` pass.
    Returns how many kills."""
    deadline = time.monotonic() + seconds
    kills = 0
    while (not done() or kills < at_least) and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        victim = rng.choice(cluster)
        victim.kill()
        kills += 1
        time.sleep(rng.uniform(0.0, 0.8))
        victim.start()
    return kills
