"""Issue 23: a node whose stages run as Slurm jobs, on the one-node Slurm of scripts/slurm-dev.sh.

Where that Slurm is not up (sbatch missing or not answering) or podman lacks the test image, a
skip that says so; a failure in CI, whose `.ci/run` starts it.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    IMAGE,
    NodeProcess,
    get_json,
    missing,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.timeout(240)]


@functools.cache
def _slurm_missing() -> str | None:
    """Asked once per session: a Slurm that is down takes sinfo seconds to say so."""
    if shutil.which("sbatch") is None or shutil.which("podman") is None:
        return "no sbatch or podman on this machine: run scripts/slurm-dev.sh up"
    ping = subprocess.run(["sinfo", "-h", "-p", "winslow", "-o", "%T"], capture_output=True, text=True)
    if ping.returncode != 0 or not ping.stdout.strip():
        return f"no Slurm partition winslow answers ({ping.stderr.strip()}): run scripts/slurm-dev.sh up"
    if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True).returncode != 0:
        return f"podman has no {IMAGE}: run scripts/slurm-dev.sh up (it copies the image from Docker)"
    return None


def start_slurm_node(share: Path, nodes: list[NodeProcess], *extra: str) -> NodeProcess:
    why = _slurm_missing()
    if why is not None:
        missing(why)
    one = NodeProcess(
        share,
        "slurm-a",
        *("--runtime", "slurm", "--slurm-partition", "winslow", "--cpus", "2", "--memory", "2Gi"),
        *("--label", "runtime=slurm", *extra),
    ).start()
    nodes.append(one)
    return one


@pytest.fixture
def slurm_node(share: Path, nodes: list[NodeProcess]) -> NodeProcess:
    """A restart (SIGKILL, then start) takes seconds on a loaded machine: the stages' leases last
    30 s here, not the harness's 6, or the node's watchdog would rightly cancel the job meanwhile."""
    return start_slurm_node(share, nodes, "--stage-tolerance", "30")


def phases(share: Path, name: str) -> list[tuple[str, str]]:
    return [(r["spec"]["stage"], r["status"]["phase"]) for r in stageruns(share, name)]


def settled(share: Path, name: str) -> str | None:
    phase = project_status(share, name).get("phase")
    active = any(p in ("Pending", "Running") for _, p in phases(share, name))
    return phase if phase in ("Succeeded", "Paused", "Failed") and not active else None


def test_a_two_stage_pipeline_runs_as_slurm_jobs(
    slurm_node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "p.yaml",
        pipeline(
            "sl",
            stage("produce", 'echo "produced"; echo made > /workspace/data.txt'),
            stage(
                "consume", 'echo "consume read: $(cat /workspace/data.txt)"; cp /workspace/data.txt /output/'
            ),
        ),
        project("sl-1", "sl"),
    )
    winsctl(slurm_node.url, "apply", "-f", str(manifest))
    assert wait_for(lambda: settled(share, "sl-1"), 120, "the project to finish") == "Succeeded"
    runs = stageruns(share, "sl-1")
    assert [(r["spec"]["stage"], r["status"]["phase"], r["status"]["exitCode"]) for r in runs] == [
        ("produce", "Succeeded", 0),
        ("consume", "Succeeded", 0),
    ]
    first, second = (r["metadata"]["name"] for r in runs)
    assert "produced" in winsctl(slurm_node.url, "logs", first).stdout
    assert "consume read: made" in winsctl(slurm_node.url, "logs", second).stdout
    assert (share / "workspaces" / "sl-1" / "output" / "data.txt").read_text() == "made\n"
    jobs = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%j %T"], capture_output=True, text=True
    ).stdout
    assert f"-{first} COMPLETED" in jobs and f"-{second} COMPLETED" in jobs, jobs


def test_a_stage_that_exits_3_fails_with_exit_code_3(
    slurm_node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "f.yaml",
        pipeline("sf", stage("first", "echo about to fail; exit 3"), stage("never", "true")),
        project("sf-1", "sf"),
    )
    winsctl(slurm_node.url, "apply", "-f", str(manifest))
    wait_for(lambda: settled(share, "sf-1"), 120, "the project to stop")
    runs = stageruns(share, "sf-1")
    assert [(r["spec"]["stage"], r["status"]["phase"], r["status"]["exitCode"]) for r in runs] == [
        ("first", "Failed", 3)
    ]
    status = get_json(slurm_node.url, "project", "sf-1")["status"]
    assert "exit code 3" in status["reason"] and "about to fail" in status["reason"]


def job_name(share: Path) -> str:
    """The job of the only run on the share."""
    jobs = share / "run" / "slurm"
    return next((p.name for p in jobs.iterdir()), "") if jobs.is_dir() else ""


def job_state(share: Path) -> str:
    name = job_name(share)
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%j %T"], capture_output=True, text=True)
    return next((line.split()[1] for line in out.stdout.splitlines() if name and line.split()[0] == name), "")


def run_until_its_job_runs(server: str, share: Path, folder: Path, steps: dict[str, Any], name: str) -> None:
    """Applies pipeline `steps` and project `name` of it, and waits until its first stage runs
    as a Slurm job."""
    manifest = write_yaml(folder / f"{name}.yaml", steps, project(name, steps["metadata"]["name"]))
    winsctl(server, "apply", "-f", str(manifest))
    first = steps["spec"]["stages"][0]["name"]
    wait_for(
        lambda: job_state(share) == "RUNNING" and phases(share, name) == [(first, "Running")], 90, "the job"
    )


def test_kill_cancels_the_job(slurm_node: NodeProcess, share: Path, tmp_path: Path) -> None:
    steps = pipeline("sk", stage("forever", "echo up; sleep 600"), stage("after", "true"))
    run_until_its_job_runs(slurm_node.url, share, tmp_path, steps, "sk-1")
    winsctl(slurm_node.url, "kill", "sk-1")
    wait_for(lambda: phases(share, "sk-1") == [("forever", "Killed")], 60, "the kill")
    wait_for(lambda: job_state(share) in ("CANCELLED", "COMPLETED", "FAILED"), 30, "Slurm to end the job")
    assert job_state(share) == "CANCELLED"

    def container_gone() -> bool:
        out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True)
        return job_name(share) not in out.stdout.split()

    wait_for(container_gone, 30, "the job's container to end (its conmon is no process of the job)")
    name = stageruns(share, "sk-1")[0]["metadata"]["name"]
    assert "killed by" in (share / "logs" / "sk-1" / f"{name}.log").read_text()


def test_a_restarted_slurm_node_adopts_its_running_job(
    slurm_node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; sleep 0.5; done"
    manifest = write_yaml(tmp_path / "a.yaml", pipeline("sa", stage("count", script)), project("sa-1", "sa"))
    winsctl(slurm_node.url, "apply", "-f", str(manifest))
    log = share / "logs" / "sa-1" / "sa-1.1.count.log"
    wait_for(lambda: log.exists() and "line-2" in log.read_text(), 90, "the stage to print")
    slurm_node.kill()
    slurm_node.start()
    assert wait_for(lambda: settled(share, "sa-1"), 90, "the adopted run to finish") == "Succeeded"
    assert len(list((share / "run" / "slurm").iterdir())) == 1, "no second job"
    lines = [line for line in log.read_text().splitlines() if line.startswith("line-")]
    assert lines == [f"line-{i}" for i in range(1, 11)], "the whole log, no gap, no repeat"


@pytest.mark.timeout(300)
def test_a_stage_over_its_time_limit_is_ended_by_slurm_and_fails_with_timeout_named(
    slurm_node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    """timeoutSeconds goes to Slurm as `--time`, in whole minutes (3 s is 1 min): Slurm ends the
    job (it checks its limits every 30 s or so), and the run's message says so."""
    manifest = write_yaml(
        tmp_path / "t.yaml",
        pipeline("st", stage("slow", "echo start; sleep 600", timeoutSeconds=3)),
        project("st-1", "st"),
    )
    winsctl(slurm_node.url, "apply", "-f", str(manifest))
    wait_for(lambda: settled(share, "st-1"), 200, "Slurm to end the job at its time limit")
    run = stageruns(share, "st-1")[0]
    assert run["status"]["phase"] == "Failed", run["status"]
    assert run["status"]["message"].startswith("the Slurm job reached its time limit of 1 min (TIMEOUT)")
    assert job_state(share) == "TIMEOUT"
    assert "start" in winsctl(slurm_node.url, "logs", run["metadata"]["name"]).stdout


def test_the_watchdog_of_a_frozen_slurm_node_cancels_its_job_before_the_run_is_lost(
    share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    """SIGSTOP of the node that submitted a job: its watchdog (a process of its own) cancels the
    job once the node may no longer act on the run's lease (6 s), before another node records the
    run Lost; woken up, the node starts nothing."""
    slurm_node = start_slurm_node(share, nodes)
    watcher = NodeProcess(share, "watcher").start()
    nodes.append(watcher)
    script = "while true; do echo tick; sleep 0.5; done"
    steps = pipeline("sw", {**stage("tick", script), "nodeSelector": {"runtime": "slurm"}})
    run_until_its_job_runs(watcher.url, share, tmp_path, steps, "sw-1")
    assert slurm_node.proc is not None
    os.kill(slurm_node.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: phases(share, "sw-1") == [("tick", "Lost")], 90, "the run to be Lost")
        ended = job_state(share)  # FAILED (137) when the wrapper's kill ended it before the cancel
        assert ended in ("CANCELLED", "FAILED", "COMPLETING"), f"the watchdog ended the job first ({ended})"
        assert (share / "run" / "slurm" / job_name(share) / "exit").exists(), "and its container ended"
    finally:
        os.kill(slurm_node.proc.pid, signal.SIGCONT)
    time.sleep(5)  # the woken node sees that it lost the lease: it must start nothing
    assert phases(share, "sw-1") == [("tick", "Lost")]
    assert len(list((share / "run" / "slurm").iterdir())) == 1, "no second job"


def test_a_gated_pipeline_goes_from_a_slurm_node_to_a_docker_node_on_one_share(
    share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    why = _slurm_missing()
    if why is not None:
        missing(why)
    cluster = NodeProcess(
        share,
        "cluster",
        *("--runtime", "slurm", "--slurm-partition", "winslow"),
        *("--cpus", "2", "--memory", "2Gi", "--label", "runtime=slurm"),
    ).start()
    workstation = NodeProcess(share, "workstation", "--label", "runtime=docker").start()
    nodes += [cluster, workstation]
    manifest = write_yaml(
        tmp_path / "mixed.yaml",
        pipeline(
            "mixed",
            {
                **stage("detect", "echo detected > /workspace/tracks.txt"),
                "nodeSelector": {"runtime": "slurm"},
            },
            {
                **stage("review", "cat /workspace/tracks.txt"),
                "confirm": True,
                "nodeSelector": {"runtime": "docker"},
            },
        ),
        project("mixed-1", "mixed"),
    )
    winsctl(workstation.url, "apply", "-f", str(manifest))
    wait_for(
        lambda: "waits for confirmation" in project_status(share, "mixed-1").get("reason", ""),
        120,
        "the gate after the Slurm stage",
    )
    winsctl(workstation.url, "confirm", "mixed-1")
    assert wait_for(lambda: settled(share, "mixed-1"), 120, "the project to finish") == "Succeeded"
    runs = stageruns(share, "mixed-1")
    assert [(r["spec"]["stage"], r["status"]["node"]) for r in runs] == [
        ("detect", "cluster"),
        ("review", "workstation"),
    ]
    assert "detected" in winsctl(workstation.url, "logs", runs[1]["metadata"]["name"]).stdout


def test_doctor_checks_a_slurm_node_with_a_probe_job(share: Path) -> None:
    why = _slurm_missing()
    if why is not None:
        missing(why)
    share.mkdir(exist_ok=True)
    args = ["doctor", "--share", str(share), "--no-docker", "--wait", "1", "--slurm-partition", "winslow"]
    done = subprocess.run(
        [sys.executable, "-m", "winslow.api.node.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "[     ok] slurm: partition winslow",
        "[     ok] slurm commands: sbatch, squeue, sacct and scancel answer",
        f"[     ok] slurm share: a probe job sees the share at {share}",
        "[     ok] slurm container: a probe job ran winslow/busybox:latest with podman",
    ):
        assert line in done.stdout, done.stdout
    broken = subprocess.run(
        [sys.executable, "-m", "winslow.api.node.cli", *args[:-1], "no-such-partition"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert broken.returncode != 0 and "sinfo does not answer for partition no-such-partition" in broken.stdout


def test_a_partition_that_other_jobs_fill_sends_a_stage_to_a_workstation(
    share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    """A Slurm node offers what its partition has free (sinfo), so elections weigh the cluster
    and the workstations by the same scores."""
    why = _slurm_missing()
    if why is not None:
        missing(why)
    cpus = subprocess.run(["sinfo", "-h", "-p", "winslow", "-o", "%c"], capture_output=True, text=True)
    foreign = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-p",
            "winslow",
            f"--cpus-per-task={cpus.stdout.split()[0]}",
            "--output=/dev/null",
            "--wrap",
            "sleep 300",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        wait_for(
            lambda: (
                "RUNNING"
                in subprocess.run(
                    ["squeue", "-h", "-j", foreign, "-o", "%T"], capture_output=True, text=True
                ).stdout
            ),
            30,
            "another user's job to fill the partition",
        )
        cluster = NodeProcess(
            share,
            "cluster",
            *("--runtime", "slurm", "--slurm-partition", "winslow", "--cpus", "2", "--memory", "2Gi"),
        ).start()
        workstation = NodeProcess(share, "workstation", "--cpus", "1", "--memory", "1Gi").start()
        nodes += [cluster, workstation]
        manifest = write_yaml(
            tmp_path / "full.yaml",
            pipeline("full", stage("one", "echo ran", resources={"cpu": 1})),
            project("full-1", "full"),
        )
        winsctl(workstation.url, "apply", "-f", str(manifest))
        assert wait_for(lambda: settled(share, "full-1"), 120, "the project to finish") == "Succeeded"
        assert [r["status"]["node"] for r in stageruns(share, "full-1")] == ["workstation"]
    finally:
        subprocess.run(["scancel", foreign], capture_output=True)
