"""`winslow doctor` against real nodes: silent on a local share, and it finds a caching share."""

import subprocess
import sys

import pytest

from tests.harness import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def doctor(share, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "winslow.api.node.cli",
            "doctor",
            "--share",
            str(share),
            "--wait",
            "15",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("rig", ["local", "sshfs-long"], indirect=True)
def test_doctor_times_the_share_through_the_live_nodes(docker_engine, share, nodes, rig, cluster_node):
    for name in ("a", "b"):
        nodes.append(cluster_node(name).start())
    wait_for(lambda: len(list((share / "run" / "nodes").glob("*.yaml"))) == 2, 30, "both nodes to publish")
    result = doctor(rig.share_for("doctor"))
    lines = result.stdout.splitlines()
    assert any("visibility: node a" in line for line in lines) and any(
        "clock: node b" in line for line in lines
    )
    if rig.kind == "local":
        assert result.returncode == 0 and lines[-1] == "nothing to fix", result.stdout
    else:
        assert result.returncode == 1, result.stdout
        assert any("[problem] visibility: node a sees a new file after" in line for line in lines), (
            result.stdout
        )


def test_doctor_names_what_to_change_on_this_machine(docker_engine, share, nodes, tmp_path):
    share.mkdir(parents=True)
    result = doctor(share, "--gpus", "3", "--cpus", "4096", "--image", "no/such:image")
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("[problem]")]
    assert [p.split()[1] for p in problems] == ["cpus:", "gpus:", "docker:"], result.stdout
