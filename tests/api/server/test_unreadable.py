"""Issue 9, item 4: the API never answers 500 for a file it could not read. A list shows what it
can (an unreadable item as Invalid, with file, line and field), a single GET says what is wrong
(422 for a user's manifest, 503 for a file nodes write), and a file that was readable before
keeps counting in its last good version."""

from __future__ import annotations

from tests.api.conftest import Api
from winslow.controller.events import Command


def logged(api: Api, version: int) -> None:
    """The log says the status file has this version, as the node that writes it says."""
    events = api.app.state.ctx.events
    events.publish(Command.LOCK, "project/p", duration=10)
    events.publish(Command.VERSION, "project/p", payload={"file": "status", "version": version})
    events.publish(Command.RELEASE, "project/p")


def test_a_status_file_never_read_whole_shows_the_spec_with_an_unknown_phase(seeded: Api) -> None:
    seeded.layout.store.status_path("p").write_text("phase: [Runn")
    logged(seeded, 1)
    reply = seeded.as_("alice").get("/api/v1/projects")
    assert reply.status_code == 200, reply.text
    (item,) = reply.json()["items"]
    assert item["spec"]["pipeline"] == "demo"
    assert item["status"]["phase"] == "Unknown"
    assert "run/status/projects/p.yaml: line 2: is not valid YAML" in item["status"]["reason"]
    assert seeded.as_("alice").get("/api/v1/projects/p").status_code == 200


def test_a_status_file_seen_whole_once_keeps_its_last_good_version(seeded: Api) -> None:
    path = seeded.layout.store.status_path("p")
    path.write_text("project: p\nphase: Running\nreason: busy\nversion: 1\n")
    logged(seeded, 1)
    assert seeded.as_("alice").get("/api/v1/projects/p").json()["status"]["phase"] == "Running"
    path.write_text("project: p\nphase: [Runn")  # half of the next version, as a caching share shows it
    reply = seeded.as_("alice").get("/api/v1/projects/p")
    assert reply.status_code == 200 and reply.json()["status"]["phase"] == "Running"


def test_an_unreadable_stagerun_is_listed_invalid_and_answers_503_alone(seeded: Api) -> None:
    (seeded.layout.store.stageruns / "p" / "p.2.one.yaml").write_bytes(b"\xff\xfe not text")
    reply = seeded.as_("bob").get("/api/v1/stageruns", params={"project": "p"})
    assert reply.status_code == 200, reply.text
    items = {i["metadata"]["name"]: i for i in reply.json()["items"]}
    assert items["p.1.one"]["status"]["phase"] == "Succeeded"
    assert items["p.2.one"]["status"] == {
        "phase": "Invalid",
        "message": "run/stageruns/p/p.2.one.yaml: line 1: is not UTF-8 text (byte 0xff); save it as UTF-8",
    }
    assert reply.json()["warnings"] == [
        f"StageRun p.2.one is Invalid: {items['p.2.one']['status']['message']}"
    ]
    one = seeded.as_("bob").get("/api/v1/stageruns/p.2.one")
    assert one.status_code == 503 and one.headers["Retry-After"]
    assert one.json()["problems"][0]["line"] == 1
    assert seeded.as_("bob").get("/metrics").status_code == 200


def test_a_broken_manifest_answers_422_with_file_line_and_field(seeded: Api) -> None:
    path = seeded.layout.store.spec_path("Pipeline", "demo")
    path.write_text(path.read_text().replace("stages:", "stagez:"))
    reply = seeded.as_("carol").get("/api/v1/pipelines/demo")
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("pipelines/demo.yaml: line ")
    listed = seeded.as_("carol").get("/api/v1/pipelines").json()
    assert listed["items"][0]["status"]["phase"] == "Invalid"
    assert listed["warnings"][0].startswith("Pipeline demo is Invalid: pipelines/demo.yaml: line ")


def test_a_broken_node_file_leaves_the_others_listed(seeded: Api) -> None:
    (seeded.layout.nodes / "junk.yaml").write_text("{{{")
    reply = seeded.as_("carol").get("/api/v1/nodes")
    assert reply.status_code == 200
    assert [n["metadata"]["name"] for n in reply.json()["items"]] == ["test-node"]


def test_a_users_file_broken_by_hand_keeps_its_last_good_version(seeded: Api) -> None:
    assert seeded.as_("carol").get("/api/v1/whoami").status_code == 200
    users = seeded.layout.users_file
    users.write_text(users.read_text() + "  oops: [\n")
    assert seeded.as_("carol").get("/api/v1/whoami").json()["name"] == "carol"


def test_an_unexpected_error_names_its_type_but_never_its_message(seeded: Api, monkeypatch) -> None:
    def leak(*_: object) -> None:
        raise RuntimeError("PASSWORD=hunter2")

    monkeypatch.setattr(seeded.layout.store, "stagerun_projects", leak)
    reply = seeded.as_("carol").get("/api/v1/stageruns")
    assert reply.status_code == 500
    assert "hunter2" not in reply.text and "RuntimeError" in reply.text
