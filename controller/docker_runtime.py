"""The Docker adapter behind the runtime port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import docker
import docker.errors
from docker.types import DeviceRequest

from winslow.controller.runtime import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    ImageNotFound,
    RuntimeFailure,
)

_STATES = {
    "created": ContainerState.CREATED,
    "running": ContainerState.RUNNING,
    "paused": ContainerState.RUNNING,
    "restarting": ContainerState.RUNNING,
}


def _timestamp(text: object) -> float | None:
    """Docker's RFC 3339 times carry nanoseconds, and `0001-01-01T00:00:00Z` for never."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(f"{main}.{(fraction or '0')[:6]}+00:00").timestamp()
    except ValueError:
        return None


class DockerRuntime:
    def __init__(self, client: docker.DockerClient | None = None, *, pull: bool = True) -> None:
        self.client = client or docker.from_env(timeout=120)
        self.pull = pull

    def _ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            if not self.pull:
                raise ImageNotFound(f"image {image!r} is not on this node") from None
        except docker.errors.APIError as exc:
            raise RuntimeFailure(f"cannot inspect image {image!r}: {exc.explanation or exc}") from None
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise ImageNotFound(
                f"image {image!r} is not on this node and pulling it failed: {exc.explanation or exc}"
            ) from None

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
            "detach": True,
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
            container = self.client.containers.run(spec.image, **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"image {spec.image!r} not found: {exc.explanation or exc}") from None
        except docker.errors.APIError as exc:
            raise RuntimeFailure(f"docker refused the container: {exc.explanation or exc}") from None
        return str(container.id)

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        return [self._info(c.attrs) for c in self.client.containers.list(all=True, filters=filters)]

    def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            return self._info(self.client.api.inspect_container(container_id))
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
            self.client.api.start(container_id)
        except docker.errors.APIError as exc:
            raise RuntimeFailure(f"docker could not start the container: {exc.explanation or exc}") from None

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

    def logs(self, container_id: str) -> Iterator[bytes]:
        try:
            yield from self.client.api.logs(container_id, stream=True, follow=True, stdout=True, stderr=True)
        except docker.errors.NotFound:
            return

    def wait(self, container_id: str) -> int:
        try:
            return int(self.client.api.wait(container_id)["StatusCode"])
        except docker.errors.NotFound:
            return -1
