"""GPUs are real or refused, on real nodes and real Docker (issue 11, item 4). No GPU is on these
machines: NVML finds none, so `--gpus` is refused unless simulated, and a simulated GPU's stage
says so in its log."""

from __future__ import annotations

import os

from tests.harness import NodeProcess, pipeline, project, stage, stageruns, wait_for, winsctl, write_yaml


def _phase(share, name):
    runs = stageruns(share, name)
    return runs[0]["status"]["phase"] if runs else None


def test_gpus_nvml_does_not_find_stop_the_node_at_start(docker_engine, share, nodes):
    node = NodeProcess(share, "gpu-node", "--gpus", "1").start(wait=False)
    nodes.append(node)
    assert node.proc is not None and node.proc.wait(30) == 1
    log = node.logfile.read_text()
    assert "winslow node: --gpus 1 is more than the 0 NVIDIA GPU(s) NVML finds on this machine (none)" in log
    assert "add --simulate-gpus" in log


def test_a_simulated_gpu_stage_says_so_and_a_refused_override_is_named(docker_engine, share, nodes, tmp_path):
    cpus = 4 * (os.cpu_count() or 1)
    node = NodeProcess(share, "sim", "--gpus", "2", "--simulate-gpus", "--cpus", str(cpus)).start()
    nodes.append(node)
    assert f"--cpus {cpus} is above this machine's {os.cpu_count()} CPUs" in node.logfile.read_text()

    gpu_stage = stage("train", "echo trained on $WINSLOW_GPUS", resources={"cpu": 0.5, "gpu": 2})
    manifest = write_yaml(tmp_path / "gpu.yaml", pipeline("gpu", gpu_stage), project("gpu-1", "gpu"))
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: _phase(share, "gpu-1") == "Succeeded", 60, "the simulated-GPU stage")
    log = (share / "logs/gpu-1/gpu-1.1.train.log").read_text().splitlines()
    first = next(line for line in log if "starting winslow/busybox:latest on sim" in line)
    assert "with simulated GPUs 0,1 (this node runs with --simulate-gpus: no device is passed" in first

    greedy = stage("crunch", "echo never", resources={"cpu": cpus - 1})
    manifest = write_yaml(tmp_path / "cpu.yaml", pipeline("cpu", greedy), project("cpu-1", "cpu"))
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: _phase(share, "cpu-1") == "Failed", 60, "Docker to refuse more CPUs than there are")
    message = stageruns(share, "cpu-1")[0]["status"]["message"]
    assert message.startswith("docker refused to create the container:")
    assert f"this node's overrides: --cpus {cpus} is above this machine's {os.cpu_count()} CPUs" in message
