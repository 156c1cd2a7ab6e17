"""The Docker adapter behind the runtime port.

The engine can fail for a moment (a restarting daemon, a dropped socket, a 5xx while it is
busy): pulls, creates, starts and inspections are tried again a few times with jittered
exponential back-off. A refusal (no such image, a name conflict, a bad request, no GPU driver)
is never retried; it fails the start at once with Docker's words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import DeviceRequest, LogConfig
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from winslow.controller.runtime import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    ImageNotFound,
    LogEntry,
    RuntimeFailure,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 4  # with the waits below, a call gives up after about 7 s of waiting at most
WAIT_MULTIPLIER = 0.5  # the n-th wait is random in [0, 0.5 * 2**n] seconds
WAIT_MAX = 4.0
# Docker's own log of a stage is bounded too (an 849 MB json log was once left beside a 500 MB
# stage log): rotated at this size, this many files kept. The node reads it in windows of its
# last entries and resumes by the entries' times (controller.stagelogs): rotation costs output
# only when a node is away (or behind) while a stage writes more than Docker keeps, and then the
# run's log says so.
LOG_FILE_BYTES = 64 << 20
LOG_FILES = 3
# Words of a 5xx that is a refusal, not a hiccup: trying again would get the same answer.
REFUSALS = (
    "no such",
    "not found",
    "conflict",
    "already in use",
    "denied",
    "unauthorized",
    "manifest unknown",
    "invalid",
    "device driver",
    "capabilities",
)

_STATES = {
    "created": ContainerState.CREATED,
    "running": ContainerState.RUNNING,
    "paused": ContainerState.RUNNING,
    "restarting": ContainerState.RUNNING,
}


def transient(exc: BaseException) -> bool:
    """Worth another try: no connection, no answer in time, or a server error that is no refusal."""
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, docker.errors.NotFound) or not isinstance(exc, docker.errors.APIError):
        return False
    if not exc.is_server_error():
        return False
    text = str(exc.explanation or exc).lower()
    return not any(word in text for word in REFUSALS)


def _timestamp(text: object) -> float | None:
    """Docker's RFC 3339 times carry nanoseconds, and `0001-01-01T00:00:00Z` for never."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(f"{main}.{(fraction or '0')[:6]}+00:00").timestamp()
    except ValueError:
        return None


def _why(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


class DockerRuntime:
    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        pull: bool = True,
        notes: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`notes` are the node's overrides above the machine, named when Docker refuses a
        container (it refuses more CPUs than the machine has); `sleep` is the back-off's clock."""
        self.client = client or docker.from_env(timeout=120)
        self.pull = pull
        self.notes = list(notes)
        self._sleep = sleep

    def _call(self, what: str, call: Callable[[], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            failed = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "docker %s failed for a moment (%s); try %d of %d in %.1fs",
                what,
                _why(failed) if failed else "?",
                state.attempt_number + 1,
                ATTEMPTS,
                wait,
            )

        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_random_exponential(multiplier=WAIT_MULTIPLIER, max=WAIT_MAX),
            retry=retry_if_exception(transient),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(call)

    def local_images(self) -> list[tuple[str, list[str]]]:
        """(id, repository:tag names) of the images Docker holds, newest first (controller.images)."""
        found = self.client.api.images()
        found.sort(key=lambda i: i.get("Created") or 0, reverse=True)
        return [(str(i.get("Id", "")), list(i.get("RepoTags") or [])) for i in found]

    def _ensure_image(self, image: str) -> None:
        try:
            self._call(f"inspect image {image}", lambda: self.client.images.get(image))
            return
        except docker.errors.ImageNotFound:
            if not self.pull:
                raise ImageNotFound(f"image {image!r} is not on this node") from None
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise RuntimeFailure(f"cannot inspect image {image!r}: {_why(exc)}") from None
        try:
            self._call(f"pull {image}", lambda: self.client.images.pull(image))
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise ImageNotFound(
                f"image {image!r} is not on this node and pulling it failed: {_why(exc)}"
            ) from None

    def _refusal(self, spec: ContainerSpec, exc: BaseException, action: str) -> str:
        why = _why(exc)
        if not isinstance(exc, docker.errors.APIError):  # APIError is a requests error too
            message = f"docker did not answer ({ATTEMPTS} tries) to {action}: {why}"
        else:
            message = f"docker refused to {action}: {why}"
        if spec.gpus and any(word in why.lower() for word in ("gpu", "device driver", "nvidia")):
            message += (
                f"; the stage was given GPUs {','.join(map(str, spec.gpus))}, which needs the NVIDIA "
                "Container Toolkit on this node (`docker run --gpus all IMAGE nvidia-smi` must work)"
            )
        if self.notes:
            message += f"; this node's overrides: {'; '.join(self.notes)}"
        return message

    def _create(self, spec: ContainerSpec, kwargs: dict[str, Any]) -> str:
        """A create whose answer was lost may have happened: the retry then meets our own
        container under the run's name, recognised by its labels, and takes it."""
        hiccup = False

        def attempt() -> str:
            nonlocal hiccup
            try:
                return str(self.client.containers.create(spec.image, **kwargs).id)
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and hiccup:
                    attrs = self.client.api.inspect_container(spec.name)
                    if (attrs.get("Config") or {}).get("Labels") == spec.labels:
                        return str(attrs["Id"])
                hiccup = hiccup or transient(exc)
                raise
            except requests.exceptions.RequestException:
                hiccup = True
                raise

        return self._call(f"create {spec.name}", attempt)

    def run(self, spec: ContainerSpec) -> str:
        self._ensure_image(spec.image)
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "entrypoint": spec.command,
            "command": spec.args or None,
            "environment": spec.env,
            "labels": spec.labels,
            "volumes": {
                str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in spec.mounts
            },
            # a setuid binary in the image cannot raise a stage above the user it starts as
            "security_opt": ["no-new-privileges"],
            # a fork bomb in a stage stops at its own limit, not at the host's (and dockerd's)
            "pids_limit": spec.pids,
            "log_config": LogConfig(
                type=LogConfig.types.JSON,
                config={"max-size": str(LOG_FILE_BYTES), "max-file": str(LOG_FILES)},
            ),
        }
        if spec.cpu > 0:
            kwargs["nano_cpus"] = int(spec.cpu * 1e9)
        if spec.memory > 0:
            kwargs["mem_limit"] = spec.memory
        if spec.gpus:
            kwargs["device_requests"] = [
                DeviceRequest(device_ids=[str(g) for g in spec.gpus], capabilities=[["gpu"]])
            ]
        try:
            container_id = self._create(spec, kwargs)
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"image {spec.image!r} not found: {_why(exc)}") from None
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise RuntimeFailure(self._refusal(spec, exc, "create the container")) from None
        try:
            self._call(f"start {spec.name}", lambda: self.client.api.start(container_id))
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            with suppress(docker.errors.APIError, requests.exceptions.RequestException):
                self.remove(container_id)  # never started: nothing in it to keep
            raise RuntimeFailure(self._refusal(spec, exc, "start the container")) from None
        return container_id

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        found = self._call("list containers", lambda: self.client.containers.list(all=True, filters=filters))
        return [self._info(c.attrs) for c in found]

    def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            attrs = self._call(
                f"inspect {container_id[:12]}", lambda: self.client.api.inspect_container(container_id)
            )
            return self._info(attrs)
        except docker.errors.NotFound:
            return None

    @staticmethod
    def _info(attrs: dict[str, Any]) -> ContainerInfo:
        state = attrs.get("State", {})
        status = state.get("Status", "exited") if isinstance(state, dict) else str(state)
        config = attrs.get("Config") or {}
        labels = config.get("Labels") or attrs.get("Labels") or {}
        exited = _STATES.get(status, ContainerState.EXITED) is ContainerState.EXITED
        return ContainerInfo(
            id=attrs["Id"],
            name=str(attrs.get("Name", "")).lstrip("/"),
            labels=labels,
            state=_STATES.get(status, ContainerState.EXITED),
            exit_code=int(state.get("ExitCode", 0)) if exited and isinstance(state, dict) else None,
            oom_killed=bool(state.get("OOMKilled")) if isinstance(state, dict) else False,
            finished_at=_timestamp(state.get("FinishedAt")) if exited and isinstance(state, dict) else None,
        )

    def start(self, container_id: str) -> None:
        try:
            self._call(f"start {container_id[:12]}", lambda: self.client.api.start(container_id))
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise RuntimeFailure(f"docker could not start the container: {_why(exc)}") from None

    def stop(self, container_id: str, timeout: float = 10) -> None:
        try:
            self.client.api.stop(container_id, timeout=int(timeout))
        except docker.errors.NotFound:
            return

    def remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:  # removal already in progress, the engine busy
            raise RuntimeFailure(f"docker could not remove the container: {_why(exc)}") from None

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        """With `timestamps`, Docker sends each entry of its log as one frame, its time first
        (pieces of a line longer than 16 KiB share one time). Never `follow`: Docker 20.10's
        follow stream skips the rest of a file its reader is behind in when the log rotates, and
        then repeats entries; a read of the last `tail` entries is exact across rotated files."""
        try:
            for frame in self._frames(container_id, tail):
                stamp, _, data = frame.partition(b" ")
                yield LogEntry(stamp.decode("ascii", "replace"), data)
        except docker.errors.NotFound:
            return

    def _frames(self, container_id: str, tail: int | None) -> Iterator[bytes]:
        """The frames of Docker's multiplexed stream (a stage never has a TTY), read a megabyte
        at a time: docker-py's own stream reads each frame's header and body separately, which
        made copying a loud stage's log half as fast as Docker itself serves it."""
        api = self.client.api
        window = "all" if tail is None else tail
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0, "tail": window}
        response = api._get(api._url("/containers/{0}/logs", container_id), params=params, stream=True)
        try:
            api._raise_for_status(response)
            buffer = b""
            while block := response.raw.read(1 << 20):
                buffer = buffer + block if buffer else block
                at, size = 0, len(buffer)
                while size - at >= 8:
                    end = at + 8 + int.from_bytes(buffer[at + 4 : at + 8], "big")
                    if end > size:
                        break
                    yield buffer[at + 8 : end]
                    at = end
                buffer = buffer[at:]
        finally:
            response.close()

    def wait(self, container_id: str) -> int:
        try:
            return int(self.client.api.wait(container_id)["StatusCode"])
        except docker.errors.NotFound:
            return -1
