"""StageRun logs: following a running stage, with reconnects at byte offsets, loses and repeats nothing."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from tests.api.conftest import Api, write_run
from winslow.api.server.routes import stageruns
from winslow.controller.stagelogs import append_system_line
from winslow.resources.stagerun import StageRunPhase


def writer(api: Api, name: str, lines: int) -> threading.Thread:
    """Appends output as a container would, then ends the run the way a node does."""
    path = api.layout.log_file("p", name)

    def run() -> None:
        for i in range(lines):
            with path.open("ab") as fh:
                fh.write(f"line {i:04d} {'x' * (i % 50)}\n".encode())
            time.sleep(0.002)
        finished = api.layout.store.stagerun(name)
        finished.status.phase = StageRunPhase.SUCCEEDED
        api.layout.store.write_stagerun(finished)
        append_system_line(path, "Succeeded with exit code 0 on test-node")  # just after, as nodes do

    return threading.Thread(target=run)


@pytest.mark.timeout(60)
def test_following_with_reconnects_yields_the_log_without_gap_or_repeat(
    seeded: Api, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stageruns, "FOLLOW_POLL", 0.02)
    name = "p.2.one"
    write_run(seeded.layout, name, phase="Running", log=b"first line\n")
    thread = writer(seeded, name, 400)
    thread.start()
    received = bytearray()
    reconnects = 0
    rng = random.Random(7)
    headers = seeded.headers("bob")
    with httpx.Client(base_url=served, headers=headers, timeout=10) as client:
        while True:
            budget = rng.randint(1, 3000)  # drop the connection after this many bytes
            params = {"follow": "true", "offset": str(len(received))}
            with client.stream("GET", f"/api/v1/stageruns/{name}/log", params=params) as reply:
                assert reply.status_code == 200
                ended = True
                for chunk in reply.iter_raw(256):
                    received += chunk
                    if len(chunk) and (budget := budget - len(chunk)) <= 0:
                        ended = False
                        break
            if ended:
                break
            reconnects += 1
    thread.join()
    assert reconnects > 5
    assert bytes(received) == seeded.layout.log_file("p", name).read_bytes()
    assert received.endswith(b"Succeeded with exit code 0 on test-node\n")


def test_a_finished_log_from_an_offset_is_the_rest_of_it(seeded: Api) -> None:
    reply = seeded.as_("alice").get("/api/v1/stageruns/p.1.one/log", params={"offset": 2, "follow": "true"})
    assert (reply.status_code, reply.content) == (200, b"e\n")
    beyond = seeded.as_("alice").get("/api/v1/stageruns/p.1.one/log", params={"offset": 99})
    assert (beyond.status_code, beyond.content) == (200, b"")


def test_a_run_without_a_log_yet_answers_empty(seeded: Api) -> None:
    write_run(seeded.layout, "p.3.one", phase="Failed")
    seeded.layout.log_file("p", "p.3.one").unlink()
    reply = seeded.as_("alice").get("/api/v1/stageruns/p.3.one/log", params={"follow": "true"})
    assert (reply.status_code, reply.content) == (200, b"")


def test_listing_filters_by_project_and_visibility(seeded: Api) -> None:
    write_run(seeded.layout, "q.1.one")
    admin = seeded.as_("admin").get("/api/v1/stageruns").json()["items"]
    assert [r["metadata"]["name"] for r in admin] == ["p.1.one", "q.1.one"]  # q has no spec: admins only
    alice = seeded.as_("alice").get("/api/v1/stageruns").json()["items"]
    assert [r["metadata"]["name"] for r in alice] == ["p.1.one"]
    only_q = seeded.as_("admin").get("/api/v1/stageruns", params={"project": "q"}).json()["items"]
    assert [r["metadata"]["name"] for r in only_q] == ["q.1.one"]
    assert seeded.as_("alice").get("/api/v1/stageruns", params={"project": "q"}).status_code == 404


@pytest.mark.parametrize("name", ["nodots", "P.1.x", "p.x.one", "p.1.one%00", "a/b"])
def test_a_malformed_run_name_is_a_4xx(seeded: Api, name: str) -> None:
    assert 400 <= seeded.as_("admin").get(f"/api/v1/stageruns/{name}").status_code < 500


def test_killing_a_running_run_publishes_a_kill_event_in_the_users_name(seeded: Api) -> None:
    write_run(seeded.layout, "p.2.one", phase="Running")
    reply = seeded.as_("bob").post("/api/v1/projects/p/kill")
    assert reply.json() == {"killed": ["p.2.one"]}
    events = [p.read_text() for p in sorted(seeded.layout.events.iterdir()) if p.name[0].isdigit()]
    assert any("KILL" in e and "bob" in e and "stagerun/p.2.one" in e for e in events)
