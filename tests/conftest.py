import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import rig as sharerig
from tests.harness import IMAGE, NodeProcess, impossible_here, missing, remove_containers


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Integration tests need a real engine; in CI its absence is a failure, not a skip."""
    ok = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0
    if not ok:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh share; its first node writes the admin token to this test's own client config."""
    monkeypatch.setenv("WINSLOW_CONFIG", str(tmp_path / "winslow-config.yaml"))
    root = tmp_path / "share"
    yield root
    remove_containers(root)


@pytest.fixture
def nodes(share: Path) -> Iterator[list[NodeProcess]]:
    """Started nodes are stopped (or killed) at the end, whatever the test did to them."""
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.kill()


@pytest.fixture
def node(docker_engine: None, share: Path, nodes: list[NodeProcess]) -> NodeProcess:
    one = NodeProcess(share, "node-a").start()
    nodes.append(one)
    return one


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sharerig.Sshd | None]:
    if sharerig.available() is not None:
        yield None
        return
    server = sharerig.Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nfsd() -> Iterator[sharerig.NfsServer | None]:
    if sharerig.nfs_missing() is not None:
        yield None
        return
    server = sharerig.NfsServer().start()
    yield server
    server.stop()


@pytest.fixture(params=list(sharerig.CACHES))
def rig(
    request: pytest.FixtureRequest, share: Path, sshd: sharerig.Sshd | None, nfsd: sharerig.NfsServer | None
) -> Iterator[sharerig.Rig]:
    """The share four ways: one local folder for every node, then each node on its own sshfs
    mount with long (10 s) and with short (1 s) caches, as NFS clients would see it, and on its
    own kernel NFS mount where this machine can serve one. Kernel NFS is skipped, saying why,
    where it cannot (sshfs stands in for it); in CI the sshfs rig is never skipped."""
    kind = request.param
    if kind == "nfs" and nfsd is None:
        impossible_here(f"no kernel NFS on this machine: {sharerig.nfs_missing()}")
    if kind.startswith("sshfs") and sshd is None:
        missing(f"no caching network share on this machine: {sharerig.available()}")
    share.mkdir(parents=True, exist_ok=True)
    found = sharerig.Rig(kind, share, sshd, nfs=nfsd)
    yield found
    found.unmount_all()


@pytest.fixture
def cluster_node(rig: sharerig.Rig, share: Path) -> Callable[..., NodeProcess]:
    """`cluster_node(name, *flags)`: a node on its own view of the rig's share (not started)."""

    def make(name: str, *extra: str) -> NodeProcess:
        return NodeProcess(share, name, *extra, mount=rig.share_for(name))

    return make


# Lanes (scripts/test.sh), three pytest processes at once:
# - serial: the tests that start node processes, containers, mounts or a browser, one at a time,
#   as their timings assume;
# - waiting: such tests that mostly wait (a node away for two minutes, a share full for one) and
#   take little CPU meanwhile, whose timings are generous: beside the serial lane (the Slurm
#   tests wait too, but their jobs and podman starved the chaos tests there);
# - the rest, pure and in-process, beside both at the lowest CPU priority.
HEAVY_FOLDERS = {"browser", "chaos", "hostile", "integration", "packaging"}
HEAVY_FIXTURES = {"nodes", "node", "docker_engine", "rig", "sshd", "nfsd", "cluster_node"}
HEAVY_MARKERS = {"docker", "slow", "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""
        heavy = (
            folder in HEAVY_FOLDERS
            or HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
            or any(item.get_closest_marker(m) for m in HEAVY_MARKERS)
        )
        if heavy and not item.get_closest_marker("waiting"):
            item.add_marker(pytest.mark.serial)
