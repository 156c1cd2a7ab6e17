"""Retries of the Docker adapter, with the Docker client faked at its boundary: which errors are
tried again (connection errors, 5xx that are no refusal), how often, with what waits, and that a
refusal fails at once with Docker's words and the node's overrides."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
import requests

from tests.harness import IMAGE, missing, wait_for
from winslow.controller import docker_runtime
from winslow.controller.docker_runtime import ATTEMPTS, WAIT_MAX, WAIT_MULTIPLIER, DockerRuntime, transient
from winslow.controller.runtime import ContainerSpec, ImageNotFound, Mount, RuntimeFailure

LABELS = {"winslow.run": "p.1.s", "winslow.node": "a"}


def api_error(status: int, explanation: str, kind: type[docker.errors.APIError] = docker.errors.APIError):
    response = requests.Response()
    response.status_code = status
    return kind(f"{status} Server Error", response=response, explanation=explanation)


BUSY = api_error(503, "the daemon is busy")
NO_SUCH_IMAGE = api_error(500, "No such image: winslow/x:latest")
CONFLICT = api_error(409, 'Conflict. The container name "/p.1.s" is already in use')
BAD_REQUEST = api_error(400, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available")
NO_GPU_DRIVER = api_error(500, 'could not select device driver "" with capabilities: [[gpu]]')
GONE = api_error(404, "No such container: abc", docker.errors.NotFound)
DROPPED = requests.exceptions.ConnectionError("Connection aborted: socket closed")


class Script:
    """Each call takes the next outcome: an exception is raised, anything else returned; the last
    outcome repeats."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def fake_client(**scripts: Script) -> SimpleNamespace:
    def script(name: str, default: Any = None) -> Script:
        return scripts.get(name, Script(default))

    return SimpleNamespace(
        images=SimpleNamespace(get=script("image_get", "image"), pull=script("pull", "image")),
        containers=SimpleNamespace(
            create=script("create", SimpleNamespace(id="c1")), list=script("list", [])
        ),
        api=SimpleNamespace(
            start=script("start"),
            inspect_container=script("inspect", {}),
            remove_container=script("remove"),
        ),
    )


def runtime(client: SimpleNamespace, notes: tuple[str, ...] = ()) -> tuple[DockerRuntime, list[float]]:
    slept: list[float] = []
    return DockerRuntime(client, notes=notes, sleep=slept.append), slept  # type: ignore[arg-type]


def spec(gpus: list[int] | None = None) -> ContainerSpec:
    return ContainerSpec(
        name="p.1.s",
        image="winslow/busybox:latest",
        command=["sh", "-c"],
        args=["true"],
        env={},
        mounts=[Mount(Path("/share/workspaces/p"), "/workspace", read_only=False)],
        labels=LABELS,
        cpu=1,
        gpus=gpus or [],
    )


@pytest.mark.parametrize(
    "error, expected",
    [
        (DROPPED, True),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (BUSY, True),
        (api_error(500, "Internal Server Error"), True),
        (NO_SUCH_IMAGE, False),
        (api_error(500, "pull access denied for x, repository does not exist"), False),
        (NO_GPU_DRIVER, False),
        (CONFLICT, False),
        (BAD_REQUEST, False),
        (GONE, False),
        (ValueError("a bug"), False),
    ],
)
def test_only_moments_are_worth_another_try(error, expected):
    assert transient(error) is expected


def test_create_and_start_are_tried_again_with_bounded_jittered_waits():
    create = Script(DROPPED, BUSY, SimpleNamespace(id="c1"))
    start = Script(BUSY, None)
    docker_, slept = runtime(fake_client(create=create, start=start))
    assert docker_.run(spec()) == "c1"
    assert len(create.calls) == 3 and len(start.calls) == 2
    bounds = [WAIT_MULTIPLIER * 2**1, WAIT_MULTIPLIER * 2**2, WAIT_MULTIPLIER * 2**1]
    assert len(slept) == 3 and all(0 <= s <= min(b, WAIT_MAX) for s, b in zip(slept, bounds, strict=True))


def test_the_waits_are_random():
    waits = set()
    for _ in range(5):
        docker_, slept = runtime(fake_client(create=Script(DROPPED, SimpleNamespace(id="c1"))))
        docker_.run(spec())
        waits.update(slept)
    assert len(waits) > 1


def test_a_docker_that_stays_away_is_given_up_after_a_bounded_number_of_tries():
    create = Script(DROPPED)
    docker_, slept = runtime(fake_client(create=create))
    with pytest.raises(RuntimeFailure, match=f"docker did not answer \\({ATTEMPTS} tries\\) to create"):
        docker_.run(spec())
    assert len(create.calls) == ATTEMPTS and len(slept) == ATTEMPTS - 1
    assert sum(slept) <= sum(min(WAIT_MAX, WAIT_MULTIPLIER * 2**n) for n in range(1, ATTEMPTS))


@pytest.mark.parametrize("refusal", [BAD_REQUEST, CONFLICT, api_error(500, "invalid mount config")])
def test_a_refusal_is_never_tried_again_and_names_the_overrides(refusal):
    create = Script(refusal)
    docker_, slept = runtime(fake_client(create=create), notes=("--cpus 64 is above this machine's 2 CPUs",))
    with pytest.raises(RuntimeFailure) as failed:
        docker_.run(spec())
    assert len(create.calls) == 1 and slept == []
    message = str(failed.value)
    assert message.startswith(f"docker refused to create the container: {refusal.explanation}")
    assert message.endswith("this node's overrides: --cpus 64 is above this machine's 2 CPUs")


def test_a_create_whose_answer_was_lost_takes_its_own_container():
    create = Script(requests.exceptions.ReadTimeout("read timed out"), CONFLICT)
    inspect = Script({"Id": "c-mine", "Config": {"Labels": LABELS}})
    docker_, _ = runtime(fake_client(create=create, inspect=inspect))
    assert docker_.run(spec()) == "c-mine"
    assert inspect.calls == [("p.1.s",)]


def test_a_conflict_with_someone_elses_container_is_a_refusal():
    create = Script(requests.exceptions.ReadTimeout("read timed out"), CONFLICT)
    inspect = Script({"Id": "c-other", "Config": {"Labels": {**LABELS, "winslow.node": "b"}}})
    docker_, _ = runtime(fake_client(create=create, inspect=inspect))
    with pytest.raises(RuntimeFailure, match="already in use"):
        docker_.run(spec())


def test_a_conflict_at_the_first_try_is_not_taken_for_ours():
    inspect = Script({"Id": "c-mine", "Config": {"Labels": LABELS}})
    docker_, _ = runtime(fake_client(create=Script(CONFLICT), inspect=inspect))
    with pytest.raises(RuntimeFailure, match="already in use"):
        docker_.run(spec())
    assert inspect.calls == []


def test_a_gpu_stage_docker_cannot_give_devices_fails_at_once_and_says_what_is_missing():
    start, remove = Script(NO_GPU_DRIVER), Script(None)
    docker_, slept = runtime(fake_client(start=start, remove=remove))
    with pytest.raises(RuntimeFailure) as failed:
        docker_.run(spec(gpus=[0, 1]))
    assert len(start.calls) == 1 and slept == []
    assert "docker refused to start the container: could not select device driver" in str(failed.value)
    assert "GPUs 0,1, which needs the NVIDIA Container Toolkit" in str(failed.value)
    assert remove.calls == [("c1",)], "the never-started container is removed"


def test_gpus_are_requested_as_devices_of_those_indices():
    create = Script(SimpleNamespace(id="c1"))
    docker_, _ = runtime(fake_client(create=create))
    seen: dict[str, Any] = {}
    original = docker_.client.containers.create

    def capture(image: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return original(image, **kwargs)

    docker_.client.containers.create = capture
    docker_.run(spec(gpus=[1, 3]))
    [request] = seen["device_requests"]
    assert request["DeviceIDs"] == ["1", "3"] and request["Capabilities"] == [["gpu"]]


def test_a_pull_is_tried_again_for_a_moment_and_not_for_a_missing_image():
    pull = Script(DROPPED, "image")
    missing = Script(docker.errors.ImageNotFound("not here"))
    docker_, slept = runtime(fake_client(image_get=missing, pull=pull))
    docker_.run(spec())
    assert len(pull.calls) == 2 and len(slept) == 1

    refused = Script(api_error(500, "pull access denied for winslow/busybox"))
    docker_, slept = runtime(fake_client(image_get=missing, pull=refused))
    with pytest.raises(ImageNotFound, match="pull access denied"):
        docker_.run(spec())
    assert len(refused.calls) == 1 and slept == []


def test_inspect_rides_out_a_moment_and_a_gone_container_is_none():
    attrs = {"Id": "c1", "Name": "/p.1.s", "State": {"Status": "running"}, "Config": {"Labels": LABELS}}
    inspect = Script(BUSY, DROPPED, attrs)
    docker_, slept = runtime(fake_client(inspect=inspect))
    info = docker_.inspect("c1")
    assert info is not None and info.name == "p.1.s" and len(slept) == 2

    gone = Script(GONE)
    docker_, slept = runtime(fake_client(inspect=gone))
    assert docker_.inspect("c1") is None and len(gone.calls) == 1 and slept == []


def test_find_and_start_of_a_created_container_retry_too():
    listing = Script(DROPPED, [SimpleNamespace(attrs={"Id": "c1", "State": {"Status": "created"}})])
    start = Script(BUSY, None)
    docker_, slept = runtime(fake_client(list=listing, start=start))
    assert [c.id for c in docker_.find({"winslow.run": "p.1.s"})] == ["c1"]
    docker_.start("c1")
    assert len(listing.calls) == 2 and len(start.calls) == 2 and len(slept) == 2


def test_retries_are_logged(caplog):
    docker_, _ = runtime(fake_client(start=Script(BUSY, None)))
    with caplog.at_level("WARNING", logger=docker_runtime.__name__):
        docker_.start("c1234567890abcdef")
    assert "docker start c1234567890a failed for a moment (the daemon is busy); try 2 of 4" in caplog.text


@pytest.mark.docker
@pytest.mark.timeout(60)
def test_a_stage_cannot_gain_privileges_nor_fork_without_bound():
    """`no-new-privileges`: the kernel's flag is set in the real container (issue 17); and the
    container's PID limit is the stage's (issue 18)."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")
    docker_ = DockerRuntime(pull=False)
    name = f"winslow-test-nnp-{secrets.token_hex(4)}"
    spec = ContainerSpec(
        name=name,
        image=IMAGE,
        command=["sh", "-c"],
        args=[
            "grep NoNewPrivs /proc/self/status; "
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"
        ],
        env={},
        mounts=[],
        labels={"winslow.test": name},
        pids=64,
    )
    container = docker_.run(spec)
    try:
        wait_for(lambda: docker_.inspect(container).exit_code is not None, 30, "the container to exit")
        logs = subprocess.run(["docker", "logs", container], capture_output=True, check=True).stdout
        assert logs.split() == [b"NoNewPrivs:", b"1", b"64"]
    finally:
        docker_.remove(container)


def _docker_spec(name: str, script: str, mounts: list[Mount] | None = None) -> ContainerSpec:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")
    return ContainerSpec(
        name=name,
        image=IMAGE,
        command=["sh", "-c"],
        args=[script],
        env={},
        mounts=mounts or [],
        labels={"winslow.test": name},
    )


@pytest.mark.docker
@pytest.mark.timeout(60)
def test_a_stage_gets_a_bounded_docker_log_and_its_output_as_timed_entries():
    """Docker's own log of a stage is rotated (json-file, max-size and max-file), and the node
    reads it as entries with fixed-width times; the pieces Docker splits a long line into share
    one time, and together they are the output, byte for byte."""
    docker_ = DockerRuntime(pull=False)
    name = f"winslow-test-logs-{secrets.token_hex(4)}"
    script = "echo err >&2; sleep 0.3; echo first; printf 'x%.0s' $(seq 1 40000); echo; printf 'no newline'"
    container = docker_.run(_docker_spec(name, script))
    try:
        wait_for(lambda: docker_.inspect(container).exit_code is not None, 30, "the container to exit")
        config = docker_.client.api.inspect_container(container)["HostConfig"]["LogConfig"]
        bound = {"max-size": str(docker_runtime.LOG_FILE_BYTES), "max-file": str(docker_runtime.LOG_FILES)}
        assert config == {"Type": "json-file", "Config": bound}
        entries = list(docker_.logs(container))
        assert b"".join(e.data for e in entries) == b"err\nfirst\n" + b"x" * 40000 + b"\nno newline"
        assert all(len(e.stamp) == 30 and e.stamp.endswith("Z") for e in entries)
        assert [e.stamp for e in entries] == sorted(e.stamp for e in entries)
        pieces = [e for e in entries if e.data.startswith(b"x") or e.data == b"\n" or b"xx" in e.data]
        assert len(pieces) >= 3 and len({e.stamp for e in pieces}) == 1, "one line, one time"
    finally:
        docker_.remove(container)
