"""An API on a temporary share with four users, the cast of the access matrix:

- admin: an admin
- alice: owns project `p` (she created it)
- bob: a member of `p` through the group `vision`
- carol: none of these
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.harness import free_port, pipeline, project, stage, wait_for
from winslow.api import winsctl
from winslow.api.app import create_app
from winslow.api.identity import users
from winslow.api.server import fastpath
from winslow.api.server.deps import ApiContext
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases
from winslow.controller.records import RunRecord
from winslow.resources.stagerun import StageRun, StageRunPhase

CAST = ("admin", "alice", "bob", "carol")


@dataclass
class Api:
    client: TestClient
    layout: ShareLayout
    tokens: dict[str, str]
    app: FastAPI

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def as_(self, who: str | None) -> TestClient:
        """A client that sends `who`'s token (None: no token at all)."""
        self.client.headers.pop("Authorization", None)
        self.client.headers.update(self.headers(who))
        return self.client

    def winsctl(self, who: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        """winsctl run in this process against the app itself (no network), as `who`."""
        transport = self.client._transport

        def factory(server: str, token: str | None) -> winsctl.Client:
            return winsctl.Client(server, token, transport=transport)

        code = winsctl.main(
            ["--server", "http://testserver", "--token", self.tokens[who], *args], client_factory=factory
        )
        out = capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WINSLOW_CONFIG", str(tmp_path / "winslow-config.yaml"))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    tokens = {
        "admin": users.add(layout.users_file, "admin", admin=True),
        "alice": users.add(layout.users_file, "alice"),
        "bob": users.add(layout.users_file, "bob", groups=["vision"]),
        "carol": users.add(layout.users_file, "carol"),
    }
    ctx = ApiContext(
        layout=layout,
        leases=Leases(EventLog(layout.events, "test-node", time.time), 30),
        node="test-node",
        clock=time.time,
    )
    app = create_app(ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, layout, tokens, app)


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    """The same app behind a real uvicorn on loopback with the node's protocol (api.fastpath)."""
    config = uvicorn.Config(
        api.app, host="127.0.0.1", port=free_port(), log_level="warning", http=fastpath.Protocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(10)


def write_run(layout: ShareLayout, name: str, phase: str = "Succeeded", log: bytes = b"") -> StageRun:
    project_name, _, stage_name = name.split(".")
    run = StageRun.model_validate(
        {
            "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"project": project_name, "stage": stage_name, "index": 0, "image": "busybox"},
            "status": {"phase": phase, "node": "test-node"},
        }
    )
    layout.store.write_stagerun(run)
    record(layout, run)
    path = layout.log_file(project_name, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(log)
    return run


def record(layout: ShareLayout, run: StageRun) -> None:
    """What the node that created and ran `run` would have put on the event log."""
    events = EventLog(layout.events, "test-node", time.time)
    project_name, number, stage_name = run.metadata.name.split(".")
    created = RunRecord(
        name=run.metadata.name,
        project=project_name,
        number=int(number),
        stage=stage_name,
        index=0,
        node="test-node",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        trigger=run.status.trigger,
    )
    events.publish(Command.LOCK, f"project/{project_name}", duration=10)
    events.publish(Command.RECORD, f"stagerun/{run.metadata.name}", payload=created.creation())
    if run.status.phase is not StageRunPhase.PENDING:
        ended = replace(
            created,
            phase=run.status.phase,
            start_time=run.status.start_time,
            finish_time=run.status.finish_time,
        )
        events.publish(Command.RECORD, f"stagerun/{run.metadata.name}", payload=ended.update())
    events.publish(Command.RELEASE, f"project/{project_name}")


@pytest.fixture
def seeded(api: Api) -> Api:
    """Pipeline `demo`; project `p` of alice, members group `vision`; its workspace, a run, a node."""
    docs = [
        pipeline("demo", stage("one", "echo one")),
        project("p", "demo", members=["group:vision"]),
    ]
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": docs})
    assert reply.status_code == 200, reply.text
    (api.layout.project_input("p")).mkdir(parents=True)
    (api.layout.project_input("p") / "clip.mp4").write_bytes(b"0123456789")
    (api.layout.resources / "pool.bin").write_bytes(b"pool")
    write_run(api.layout, "p.1.one", log=b"one\n")
    node = {
        "kind": "Node",
        "metadata": {"name": "test-node"},
        "status": {"capacity": {"cpu": 2, "memory": 2**30}, "heartbeat": "2026-01-01T00:00:00Z"},
    }
    api.layout.node_file("test-node").write_text(yaml.safe_dump(node))
    return api
