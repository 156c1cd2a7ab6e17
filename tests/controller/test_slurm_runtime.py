"""The Slurm adapter against a fake Slurm: scripted squeue/sacct/scontrol answers, no cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from winslow.controller import slurm_runtime
from winslow.controller.runtime import ContainerSpec, ContainerState, Mount, RuntimeFailure
from winslow.controller.slurm_runtime import SlurmRuntime, exit_code_of, parse_rows, parse_scontrol

NAME = "winslow-abcd1234-p-1-train"
LABELS = {"winslow.share": "abcd", "winslow.node": "n1", "winslow.stagerun": "p-1-train"}


@dataclass
class FakeSlurm:
    """Plays Slurm: `squeue`/`sacct` answer the current step of a script of (squeue line, sacct
    line) pairs, or fail with the given text; every command is recorded."""

    squeue: str = ""
    sacct: str = ""
    sacct_error: str = ""
    scontrol: str = ""
    sbatch_error: str = ""
    sinfo: str = (
        "n1|mix|6/10/0/16|64000|16000|gpu:a100:2(S:0)|gpu:a100:1(IDX:0)|\n"
        "n2|idle|0/8/0/8|32000|0|(null)|gpu:0|\n"
    )
    calls: list[list[str]] = field(default_factory=list)
    now: float = 1000.0

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = list(args)
        self.calls.append(args)
        tool = args[0]
        if tool == "sbatch":
            if self.sbatch_error:
                return subprocess.CompletedProcess(args, 1, "", self.sbatch_error)
            return subprocess.CompletedProcess(args, 0, "4242\n", "")
        if tool == "squeue":
            return subprocess.CompletedProcess(args, 0, self.squeue, "")
        if tool == "sacct":
            if self.sacct_error:
                return subprocess.CompletedProcess(args, 1, "", self.sacct_error)
            return subprocess.CompletedProcess(args, 0, self.sacct, "")
        if tool == "scontrol":
            return subprocess.CompletedProcess(args, 0, self.scontrol, "")
        if tool == "scancel":
            return subprocess.CompletedProcess(args, 0, "", "")
        if tool == "sinfo":
            return subprocess.CompletedProcess(args, 0, self.sinfo, "")
        raise AssertionError(f"unexpected command {args}")

    def count(self, tool: str) -> int:
        return sum(1 for c in self.calls if c[0] == tool)

    def clock(self) -> float:
        return self.now

    def later(self, seconds: float) -> None:
        self.now += seconds


def spec(tmp_path: Path, **kw: object) -> ContainerSpec:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    args = {
        "name": NAME,
        "image": "winslow/busybox:latest",
        "command": ["sh", "-c"],
        "args": ["echo hi"],
        "env": {"A": "1"},
        "mounts": [Mount(ws, "/workspace", read_only=False)],
        "labels": LABELS,
        "cpu": 1.5,
        "memory": 2 << 30,
    }
    args.update(kw)
    return ContainerSpec(**args)  # type: ignore[arg-type]


@pytest.fixture
def slurm() -> FakeSlurm:
    return FakeSlurm()


@pytest.fixture
def runtime(tmp_path: Path, slurm: FakeSlurm) -> SlurmRuntime:
    return SlurmRuntime(
        tmp_path / "run" / "slurm",
        partition="winslow",
        runner=slurm,
        clock=slurm.clock,
        sleep=slurm.later,
        user="alice",
    )


def queued(state: str, reason: str = "None") -> str:
    return f"4242|{NAME}|{state}|{reason}\n"


def accounted(state: str, code: str = "0:0") -> str:
    return f"4242|{NAME}|{state}|None|{code}\n"


def test_submits_one_job_named_after_the_run_with_its_resources(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    job = runtime.run(spec(tmp_path, gpus=[0, 1]))
    assert job == NAME
    sbatch = slurm.calls[0]
    assert sbatch[0] == "sbatch" and "--parsable" in sbatch
    assert f"--job-name={NAME}" in sbatch
    assert "--cpus-per-task=2" in sbatch and "--mem=2048M" in sbatch and "--gpus=2" in sbatch
    assert "--partition=winslow" in sbatch
    folder = tmp_path / "run" / "slurm" / NAME
    assert f"--chdir={folder}" in sbatch and sbatch[-1] == str(folder / "job.sh")
    wrapper = (folder / "job.sh").read_text()
    assert "podman run --ulimit" in wrapper and '--pids-limit 4096 "${GPUS[@]}" --rm --name' in wrapper
    assert f"{tmp_path / 'ws'}:/workspace:rw" in wrapper
    assert "--entrypoint sh winslow/busybox:latest -c 'echo hi'" in wrapper


def test_a_refused_submission_is_a_runtime_failure_and_leaves_no_files(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    slurm.sbatch_error = "sbatch: error: invalid partition specified: nope"
    with pytest.raises(RuntimeFailure, match="invalid partition"):
        runtime.run(spec(tmp_path))
    assert not (tmp_path / "run" / "slurm" / NAME).exists()


def test_pending_then_running_then_completed(runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path) -> None:
    runtime.run(spec(tmp_path))
    folder = tmp_path / "run" / "slurm" / NAME
    slurm.squeue = queued("PENDING", "Priority")
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.QUEUED  # Pending, waiting in Slurm's queue
    slurm.later(3)
    slurm.squeue = queued("PENDING", "Resources")
    runtime.inspect(NAME)
    slurm.later(3)
    slurm.squeue = queued("RUNNING")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.later(3)
    slurm.squeue = queued("PENDING", "None")  # no reason: nothing to say
    runtime.inspect(NAME)
    notes = [e.data.decode() for e in runtime.logs(NAME)]
    assert notes == [
        "[slurm] job 4242 is pending in Slurm's queue (Priority)\n",
        "[slurm] job 4242 is pending in Slurm's queue (Resources)\n",
        "[slurm] job 4242 runs\n",
    ]
    (folder / "output.log").write_text(
        "2099-01-01T00:00:00.000000001Z hello\n2099-01-01T00:00:00.000000002Z par"
    )
    (folder / "exit").write_text("0\n")
    slurm.later(3)
    slurm.squeue = queued("COMPLETED")
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 0
    assert info.finished_at is not None
    entries = list(runtime.logs(NAME, tail=2))
    assert [e.data for e in entries] == [b"[slurm] job 4242 runs\n", b"hello\n"]  # a partial line waits
    assert entries[-1].stamp == "2099-01-01T00:00:00.000000001Z"
    assert runtime.wait(NAME) == 0


def test_a_watchdogs_runtime_writes_no_notes(runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path) -> None:
    """The node's own runtime says why a job waits; the watchdog's, reading the same jobs, must not
    say it again into the same log."""
    runtime.run(spec(tmp_path))
    watchdogs = SlurmRuntime(tmp_path / "run" / "slurm", runner=slurm, clock=slurm.clock, notes=False)
    slurm.squeue = queued("PENDING", "Priority")
    assert watchdogs.inspect(NAME).state is ContainerState.QUEUED  # type: ignore[union-attr]
    assert not (tmp_path / "run" / "slurm" / NAME / "notes.log").exists()
    runtime.inspect(NAME)
    assert [e.data for e in runtime.logs(NAME)] == [
        b"[slurm] job 4242 is pending in Slurm's queue (Priority)\n"
    ]


def test_queries_are_batched_and_cached(runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path) -> None:
    runtime.run(spec(tmp_path))
    runtime.run(spec(tmp_path, name=NAME + "-b", labels={**LABELS, "winslow.stagerun": "p-2"}))
    slurm.squeue = queued("RUNNING") + f"4243|{NAME}-b|RUNNING|None\n"
    for _ in range(5):
        runtime.find({"winslow.node": "n1"})
        runtime.inspect(NAME)
    assert slurm.count("squeue") == 1 and slurm.count("sacct") == 0
    squeue = next(c for c in slurm.calls if c[0] == "squeue")
    assert f"--name={NAME},{NAME}-b" in squeue and "--user=alice" in squeue
    slurm.later(2.5)
    runtime.inspect(NAME)
    assert slurm.count("squeue") == 2


@pytest.mark.parametrize(
    ("state", "code", "expected", "why"),
    [
        ("CANCELLED by 0", "0:15", 143, "cancelled"),
        ("CANCELLED", "", 143, "cancelled"),
        ("TIMEOUT", "0:0", 143, "TIMEOUT"),
        ("NODE_FAIL", "0:0", 137, "NODE_FAIL"),
        ("PREEMPTED", "0:0", 143, "PREEMPTED"),
        ("OUT_OF_MEMORY", "0:125", 137, "OUT_OF_MEMORY"),
    ],
)
def test_ends_slurm_forced_are_exited_with_the_reason_in_the_log(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path, state: str, code: str, expected: int, why: str
) -> None:
    runtime.run(spec(tmp_path))
    slurm.sacct = accounted(state, code)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED
    assert info.exit_code == expected
    assert info.oom_killed == (state == "OUT_OF_MEMORY")
    last = list(runtime.logs(NAME, tail=1))[-1].data.decode()
    assert why in last and last.startswith("[slurm]")
    slurm.sacct = ""  # gone from Slurm since: the end stands, and Slurm is not asked again
    slurm.later(slurm_runtime.GRACE_SECONDS + 3)
    asked = len(slurm.calls)
    assert runtime.inspect(NAME).exit_code == expected  # type: ignore[union-attr]
    assert len(slurm.calls) == asked


def test_a_time_limit_goes_to_slurm_in_whole_minutes(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path, time_limit=61.0))
    assert "--time=2" in slurm.calls[0]
    slurm.squeue = queued("RUNNING")
    assert runtime.inspect(NAME).time_limit == 120  # type: ignore[union-attr]
    again = SlurmRuntime(tmp_path / "run" / "slurm", runner=slurm, clock=slurm.clock, user="alice")
    assert again.inspect(NAME).time_limit == 120, "read back from the job's files"  # type: ignore[union-attr]
    runtime.run(spec(tmp_path, name=NAME + "-b", time_limit=None))
    assert not any(a.startswith("--time") for a in slurm.calls[-1])


def test_a_job_that_slurm_timed_out_says_so_once_slurm_has_been_asked(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    """The wrapper writes 143 (its container got Slurm's TERM) a moment before Slurm shows TIMEOUT:
    the job counts as running until Slurm has been asked again, so that the run's message names it."""
    runtime.run(spec(tmp_path, time_limit=3.0))
    slurm.squeue = queued("RUNNING")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("143\n")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]  # asked 0 s ago
    slurm.squeue = queued("TIMEOUT")
    slurm.later(slurm_runtime.CACHE_SECONDS + 0.5)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 143
    assert info.ended_by == "the Slurm job reached its time limit of 1 min (TIMEOUT)"
    asked = len(slurm.calls)
    slurm.later(slurm_runtime.CACHE_SECONDS + 0.5)
    assert runtime.inspect(NAME).ended_by == info.ended_by  # type: ignore[union-attr]
    assert len(slurm.calls) == asked, "an end that Slurm explained is not asked about again"


def test_a_signalled_end_slurm_does_not_explain_is_taken_from_the_exit_file_in_seconds(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    slurm.squeue = queued("RUNNING")
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("137\n")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.later(slurm_runtime.ASK_AFTER_EXIT + 1)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 137
    assert info.ended_by is None


def test_an_ordinary_exit_code_is_final_at_once(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    slurm.squeue = queued("RUNNING")
    runtime.inspect(NAME)
    asked = len(slurm.calls)
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("3\n")
    slurm.later(slurm_runtime.CACHE_SECONDS + 0.5)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 3
    assert len(slurm.calls) == asked, "the stage's own exit code needs no word from Slurm"


@pytest.mark.parametrize(
    ("by_this_node", "expected"), [(True, None), (False, "the Slurm job was cancelled (CANCELLED)")]
)
def test_a_cancel_is_news_only_when_someone_else_did_it(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path, by_this_node: bool, expected: str | None
) -> None:
    runtime.run(spec(tmp_path))
    slurm.squeue = queued("RUNNING")
    runtime.inspect(NAME)
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("143\n")
    slurm.squeue = queued("CANCELLED")
    if by_this_node:
        runtime.stop(NAME, timeout=5)
    slurm.later(slurm_runtime.CACHE_SECONDS + 0.5)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.ended_by == expected


def test_failed_takes_the_exit_file_and_sacct_when_there_is_none(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    slurm.sacct = accounted("FAILED", "3:0")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]  # the file may lag
    slurm.later(slurm_runtime.EXIT_FILE_GRACE + 1)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 3
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("3\n")
    assert runtime.inspect(NAME).exit_code == 3  # type: ignore[union-attr]


def test_the_exit_file_is_the_truth_whatever_slurm_says(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("7\n")
    slurm.squeue = queued("COMPLETING")
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 7


def test_missing_from_slurm_is_running_for_a_grace_period(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    for _ in range(5):
        slurm.later(10)
        assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.sacct = accounted("RUNNING")
    slurm.later(30)
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.sacct = accounted("COMPLETED")
    (tmp_path / "run" / "slurm" / NAME / "exit").write_text("0\n")
    slurm.later(3)
    assert runtime.inspect(NAME).exit_code == 0  # type: ignore[union-attr]


def test_missing_past_the_grace_period_without_an_exit_file_is_lost(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.later(slurm_runtime.GRACE_SECONDS + 1)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 137
    assert "not known to Slurm" in list(runtime.logs(NAME))[-1].data.decode()


def test_unknown_state_is_treated_as_missing(runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path) -> None:
    runtime.run(spec(tmp_path))
    slurm.sacct = accounted("UNKNOWN")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.later(slurm_runtime.GRACE_SECONDS + 1)
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED
    assert "in state UNKNOWN" in list(runtime.logs(NAME))[-1].data.decode()


def test_accounting_disabled_falls_back_to_squeue_and_scontrol(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    slurm.sacct_error = "sacct: error: Slurm accounting storage is disabled"
    slurm.squeue = queued("CANCELLED")
    slurm.scontrol = (
        f"JobId=4242 JobName={NAME} UserId=alice(1000) JobState=CANCELLED Reason=None ExitCode=0:15\n"
    )
    info = runtime.inspect(NAME)
    assert info is not None and info.state is ContainerState.EXITED and info.exit_code == 143
    assert slurm.count("sacct") == 1 and slurm.count("scontrol") == 1
    slurm.later(3)
    runtime.inspect(NAME)
    assert slurm.count("sacct") == 1  # not asked again


def test_found_again_by_labels_after_a_restart(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    again = SlurmRuntime(
        tmp_path / "run" / "slurm", runner=slurm, clock=slurm.clock, sleep=slurm.later, user="alice"
    )
    slurm.squeue = queued("RUNNING")
    found = again.find({"winslow.node": "n1", "winslow.stagerun": "p-1-train"})
    assert [(c.id, c.labels, c.state) for c in found] == [(NAME, LABELS, ContainerState.RUNNING)]
    assert again.find({"winslow.node": "n2"}) == []


def test_stop_cancels_and_remove_deletes_the_jobs_files_only(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    runtime.run(spec(tmp_path))
    slurm.squeue = queued("RUNNING")
    assert runtime.inspect(NAME).state is ContainerState.RUNNING  # type: ignore[union-attr]
    slurm.squeue = queued("CANCELLED")
    slurm.sacct = accounted("CANCELLED by 0", "0:15")
    runtime.stop(NAME, timeout=10)
    assert ["scancel", "4242"] in slurm.calls
    assert runtime.inspect(NAME).state is ContainerState.EXITED  # type: ignore[union-attr]
    runtime.remove(NAME)
    assert not (tmp_path / "run" / "slurm" / NAME).exists()
    assert (tmp_path / "ws").is_dir()
    assert runtime.inspect(NAME) is None


def test_a_stop_without_time_kills_the_container_before_it_cancels_the_job(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path
) -> None:
    """Fencing: USR2 makes the job's wrapper kill its container at once; the cancel's TERM comes
    only once the exit file shows (or after KILL_SECONDS), since TERM would end the wrapper's kill."""
    runtime.run(spec(tmp_path))
    slurm.squeue = queued("RUNNING")
    runtime.stop(NAME, timeout=0)
    cancels = [c for c in slurm.calls if c[0] == "scancel"]
    assert cancels == [["scancel", "--batch", "--signal=USR2", "4242"], ["scancel", "4242"]]
    assert slurm.now >= 1000.0 + slurm_runtime.KILL_SECONDS, "no exit file: waited for it"


@pytest.mark.parametrize("stamper", ["python3", "bash"])
def test_the_jobs_output_is_kept_as_docker_keeps_a_log(
    runtime: SlurmRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stamper: str
) -> None:
    """At most LOG_FILES files of LOG_FILE_BYTES and lines of LINE_BYTES, whichever stamper the
    job's node has (python3, or bash alone); `logs` reads across the files, newest last."""
    monkeypatch.setattr(slurm_runtime, "LOG_FILE_BYTES", 4096)
    monkeypatch.setattr(slurm_runtime, "LINE_BYTES", 100)
    folder = tmp_path / "run" / "slurm" / NAME
    folder.mkdir(parents=True)
    script = slurm_runtime.wrapper_script(folder, NAME, "podman", "true")
    stamper_part = script[script.index('OUT="$DIR/output.log"') : script.index("finish()")]
    if stamper == "bash":
        stamper_part = stamper_part.replace("command -v python3 >/dev/null 2>&1", "false")
    lines = [f"line {i:05d}" for i in range(1500)] + ["x" * 250]
    subprocess.run(
        ["bash", "-c", f"DIR={folder}\n{stamper_part}\nstamp"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=60,
    )
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["output.log", "output.log.1", "output.log.2"]
    assert all((folder / f).stat().st_size <= 4096 + 200 for f in files)
    kept = [e.data.decode() for e in runtime.logs(NAME)]
    assert kept[-3:] == ["x" * 100 + "\n", "x" * 100 + "\n", "x" * 50 + "\n"], "a long line in pieces"
    first = int(kept[0].split()[1])
    assert kept[:-3] == [f"line {i:05d}\n" for i in range(first, 1500)], "the newest, whole and in order"
    assert 0 < first < 1500 - 100
    stamps = [e.stamp for e in runtime.logs(NAME)]
    assert stamps == sorted(stamps) and all(len(t) == 30 and t.endswith("Z") for t in stamps)
    assert [e.data for e in runtime.logs(NAME, tail=4)] == [b"line 01499\n", *(e.encode() for e in kept[-3:])]


@pytest.mark.parametrize(
    ("engine", "given", "expected"),
    [
        ("podman", "0,2", ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=2"]),
        ("/usr/bin/docker", "1", ["--gpus", '"device=1"']),
        ("podman", "", []),
    ],
)
def test_a_gpu_stage_gets_the_gpus_slurm_gave_its_job_and_no_others(
    runtime: SlurmRuntime, slurm: FakeSlurm, tmp_path: Path, engine: str, given: str, expected: list[str]
) -> None:
    runtime.engine = engine
    runtime.run(spec(tmp_path, gpus=[0, 1]))
    script = (tmp_path / "run" / "slurm" / NAME / "job.sh").read_text()
    assert '"${GPUS[@]}"' in script and "nvidia.com/gpu=all" not in script
    block = script[script.index("GPUS=()") : script.index("finish()")]
    shown = subprocess.run(
        ["bash", "-c", f'ENGINE={engine}\n{block}\nfor a in "${{GPUS[@]}}"; do echo "$a"; done'],
        env={"SLURM_JOB_GPUS": given, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.splitlines() == expected


def test_parsing() -> None:
    assert exit_code_of("3:0") == 3 and exit_code_of("0:9") == 137 and exit_code_of("0:0") == 0
    assert exit_code_of("x") is None
    rows = parse_rows(
        "1|a|CANCELLED by 0|None|0:15\n1.batch|batch|CANCELLED||0:15\n2|b|COMPLETED+\ngarbage\n"
    )
    assert [(r.job_id, r.state) for r in rows] == [("1", "CANCELLED"), ("2", "COMPLETED")]
    row = parse_scontrol("JobId=9 JobName=x JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15")
    assert row is not None and (row.state, row.reason, row.exit_code) == ("TIMEOUT", "TimeLimit", "0:15")
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified") is None


def test_partition_capacity_from_sinfo(runtime: SlurmRuntime) -> None:
    assert runtime.partition_capacity() == (24.0, (64000 + 32000) << 20, 2)


def test_sinfo_gives_the_partitions_total_and_what_no_job_holds_on_nodes_in_service() -> None:
    text = (
        "n1|mix|6/10/0/16|64000|16000|gpu:a100:2(S:0)|gpu:a100:1(IDX:0)|\n"
        "n2|idle|0/8/0/8|32000|0|(null)|gpu:0|\n"
        "n1|mix|6/10/0/16|64000|16000|gpu:a100:2(S:0)|gpu:a100:1(IDX:0)|\n"  # in a second partition
        "n3|down*|0/0/32/32|64000|0|gpu:t4:4|gpu:0|\n"
        "n4|drng|16/0/0/16|64000|64000|(null)|(null)|\n"
    )
    total, free = slurm_runtime.parse_sinfo(text)  # type: ignore[misc]
    assert free == (18.0, (48000 + 32000) << 20, 1)
    assert total == (72.0, (64000 * 3 + 32000) << 20, 6), "all nodes, down and drained too"
    assert slurm_runtime.parse_sinfo("") is None


def test_partition_free_asks_sinfo_at_most_every_few_seconds(runtime: SlurmRuntime, slurm: FakeSlurm) -> None:
    slurm.sinfo = "n1|idle|0/4/0/4|8000|1000|(null)|(null)|\n"
    assert runtime.partition_free() == (4.0, 7000 << 20, 0)
    slurm.sinfo = "n1|alloc|4/0/0/4|8000|8000|(null)|(null)|\n"
    assert runtime.partition_free() == (4.0, 7000 << 20, 0), "cached"
    slurm.later(slurm_runtime.FREE_SECONDS + 1)
    assert runtime.partition_free() == (0.0, 0, 0)
    sinfo = [c for c in slurm.calls if c[0] == "sinfo"]
    assert len(sinfo) == 2 and "--partition=winslow" in sinfo[0]


def test_doctor_checks_a_slurm_node(tmp_path: Path) -> None:
    from winslow.controller.doctor import Level, check_slurm

    printed = {"text": "share-ok\nengine-ok\n"}

    answering = {"sbatch", "squeue", "sacct", "scancel"}
    accounting = {"stderr": ""}

    def runner(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = list(args)
        if args[0] == "sinfo":
            return subprocess.CompletedProcess(args, 0, "winslow* up 1 idle\n", "")
        if "--version" in args:
            return subprocess.CompletedProcess(
                args, 0 if args[0] in answering else 127, "slurm 22.05.8\n", ""
            )
        if args[0] == "sacct":
            return subprocess.CompletedProcess(
                args, 1 if accounting["stderr"] else 0, "", accounting["stderr"]
            )
        out = next(a for a in args if a.startswith("--output="))[len("--output=") :]
        Path(out).write_text(printed["text"])
        return subprocess.CompletedProcess(args, 0, "", "")

    findings = check_slurm(runner, "winslow", tmp_path, tmp_path, "podman", "img")
    assert [(f.check, f.level) for f in findings] == [
        ("slurm", Level.OK),
        ("slurm commands", Level.OK),
        ("slurm share", Level.OK),
        ("slurm container", Level.OK),
    ]
    accounting["stderr"] = "sacct: error: Slurm accounting storage is disabled"
    assert Level.NOTE in [
        f.level for f in check_slurm(runner, "winslow", tmp_path, tmp_path, "podman", "img")
    ]
    answering.discard("sacct")
    commands = check_slurm(runner, "winslow", tmp_path, tmp_path, "podman", "img")[1]
    assert commands.level is Level.PROBLEM and commands.detail == "sacct do not answer"
    answering.add("sacct")
    accounting["stderr"] = ""
    printed["text"] = "share-ok\nError: no image\n"
    findings = check_slurm(runner, "winslow", tmp_path, tmp_path, "podman", "img")
    assert findings[-1].level is Level.PROBLEM and "podman load" in findings[-1].fix
    printed["text"] = ""
    assert check_slurm(runner, "winslow", tmp_path, tmp_path, "podman", "img")[-1].check == "slurm share"

    def silent(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), 1, "", "sinfo: error: invalid partition")

    [finding] = check_slurm(silent, "nope", tmp_path, tmp_path, "podman", "img")
    assert finding.level is Level.PROBLEM and "slurm-dev.sh up" in finding.fix
