"""Issue 3: node loss, restarts and heterogeneous nodes, with real node processes and Docker."""

import time

import pytest

from tests.harness import (
    containers,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]
LEASE, GRACE = 6, 2


def run_phase(share, name, index=0):
    runs = stageruns(share, name)
    return runs[index]["status"]["phase"] if len(runs) > index else None


def test_killed_node_loses_its_run_and_stops_the_orphan_when_back(
    docker_engine, share, nodes, tmp_path, cluster_node
):
    worker = cluster_node("worker").start()
    observer = cluster_node("observer", "--no-execute").start()
    nodes += [worker, observer]
    manifest = write_yaml(
        tmp_path / "long.yaml",
        pipeline("long", stage("sleep", "echo started; sleep 300")),
        project("long-1", "long"),
    )
    winsctl(observer.url, "apply", "-f", str(manifest))
    wait_for(lambda: run_phase(share, "long-1") == "Running", 60, "the long stage to run")
    assert stageruns(share, "long-1")[0]["status"]["node"] == "worker"

    worker.kill()
    killed_at = time.monotonic()
    wait_for(lambda: run_phase(share, "long-1") == "Lost", LEASE + GRACE + 10, "the run to be marked Lost")
    noticed = time.monotonic() - killed_at
    assert noticed <= LEASE + GRACE + 5, f"took {noticed:.1f}s"
    run = stageruns(share, "long-1")[0]
    assert "worker" in run["status"]["message"]
    wait_for(lambda: project_status(share, "long-1").get("phase") == "Failed", 10, "the project to fail")
    (orphan,) = containers(share, project="long-1")
    assert orphan["State"] != "running", "its watchdog stopped the dead node's container before it was Lost"

    worker.start()
    time.sleep(2)
    assert run_phase(share, "long-1") == "Lost", "a Lost run is never resurrected"
    assert len(stageruns(share, "long-1")) == 1


def test_restarted_node_readopts_its_running_container(docker_engine, share, nodes, tmp_path, cluster_node):
    node = cluster_node("solo").start()
    nodes.append(node)
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; sleep 0.5; done"
    manifest = write_yaml(
        tmp_path / "adopt.yaml", pipeline("adopt", stage("count", script)), project("adopt-1", "adopt")
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    log = share / "logs" / "adopt-1" / "adopt-1.1.count.log"
    wait_for(lambda: "line-2" in log.read_text(), 60, "the stage to print")
    node.kill()
    node.start()
    wait_for(lambda: run_phase(share, "adopt-1") == "Succeeded", 60, "the adopted run to succeed")
    assert len(containers(share, project="adopt-1")) == 1, "no second container"
    lines = [line for line in log.read_text().splitlines() if line.startswith("line-")]
    assert lines == [f"line-{i}" for i in range(1, 11)], "the whole log, no gap, no repeat"


def test_cpu_stage_avoids_gpu_node_and_unfit_stage_waits(docker_engine, share, nodes, tmp_path, cluster_node):
    cpu_a = cluster_node("cpu-a", "--cpus", "4", "--memory", "8Gi", "--gpus", "0").start()
    cpu_b = cluster_node("cpu-b", "--cpus", "4", "--memory", "8Gi", "--gpus", "0").start()
    gpu = cluster_node("gpu", "--cpus", "4", "--memory", "8Gi", "--gpus", "1", "--simulate-gpus").start()
    nodes += [cpu_a, cpu_b, gpu]
    cpu_only = pipeline("cpu", stage("work", "echo cpu work", resources={"cpu": 1, "memory": "64Mi"}))
    manifest = write_yaml(tmp_path / "cpu.yaml", cpu_only, project("cpu-1", "cpu"))
    winsctl(gpu.url, "apply", "-f", str(manifest))
    wait_for(lambda: run_phase(share, "cpu-1") == "Succeeded", 60, "the CPU stage")
    assert stageruns(share, "cpu-1")[0]["status"]["node"] in ("cpu-a", "cpu-b")

    cpu_a.kill()
    cpu_b.kill()
    winsctl(gpu.url, "apply", "-f", str(write_yaml(tmp_path / "cpu2.yaml", project("cpu-2", "cpu"))))
    wait_for(lambda: run_phase(share, "cpu-2") == "Succeeded", 60, "the CPU stage once CPU nodes are gone")
    assert stageruns(share, "cpu-2")[0]["status"]["node"] == "gpu"

    big = pipeline("big", stage("train", "echo trained", resources={"cpu": 1, "memory": "64Mi", "gpu": 2}))
    winsctl(gpu.url, "apply", "-f", str(write_yaml(tmp_path / "big.yaml", big, project("big-1", "big"))))
    wait_for(
        lambda: (
            project_status(share, "big-1").get("phase") == "Waiting"
            and "gpu 2 requested" in project_status(share, "big-1").get("reason", "")
        ),
        30,
        "the unfit stage to wait with a reason",
    )
    assert stageruns(share, "big-1") == []
    nodes.append(
        cluster_node("gpu-2x", "--cpus", "4", "--memory", "8Gi", "--gpus", "2", "--simulate-gpus").start()
    )
    wait_for(lambda: run_phase(share, "big-1") == "Succeeded", 60, "the stage to start on the node that fits")
    assert stageruns(share, "big-1")[0]["status"]["node"] == "gpu-2x"
