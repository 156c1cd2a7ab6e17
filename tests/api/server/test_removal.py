"""DELETE of pipelines and projects: warnings, what is left, and purging."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.conftest import Api
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.controller.records import RunRecord


def test_deleting_a_pipeline_that_projects_use_warns(seeded: Api) -> None:
    reply = seeded.as_("admin").delete("/api/v1/pipelines/demo")
    assert reply.status_code == 200
    assert reply.json()["warnings"] == [
        "pipeline 'demo' is still named by project(s) p: those that started keep their snapshot of it, "
        "one that has not started cannot start until a pipeline 'demo' is applied again"
    ]
    assert seeded.as_("admin").delete("/api/v1/pipelines/demo").status_code == 404


def test_a_deleted_project_says_what_it_left_and_an_admin_purges_it_later(seeded: Api) -> None:
    reply = seeded.as_("alice").delete("/api/v1/projects/p").json()
    assert reply["deleted"] == "p"
    assert reply["left"] == [
        "workspaces/p (1 file, 10 B)",
        "logs/p (1 file, 4 B)",
        "run/stageruns/p (1 file, " + reply["left"][2].split(", ")[1],
    ]
    assert seeded.as_("alice").delete("/api/v1/projects/p?purge=true").status_code == 404, (
        "with the spec gone, only an admin reaches what it left"
    )
    purged = seeded.as_("admin").delete("/api/v1/projects/p?purge=true").json()
    assert purged == {
        "deleted": None,
        "warnings": [],
        "purged": ["workspaces/p", "logs/p", "run/stageruns/p"],
    }
    assert not seeded.layout.project_dir("p").exists()
    assert seeded.as_("admin").delete("/api/v1/projects/p?purge=true").status_code == 404, "nothing left"


def test_purging_waits_for_running_stages(seeded: Api) -> None:
    events = EventLog(seeded.layout.events, "test-node", lambda: 0.0)
    run = RunRecord(
        name="p.2.one", project="p", number=2, stage="one", index=0, node="n", created=datetime.now(UTC)
    )
    events.publish(Command.LOCK, "project/p", duration=10)
    events.publish(Command.RECORD, "stagerun/p.2.one", payload=run.creation())
    events.publish(Command.RELEASE, "project/p")
    refused = seeded.as_("alice").delete("/api/v1/projects/p?purge=true")
    assert refused.status_code == 409
    assert "still runs p.2.one" in refused.json()["detail"] and "winsctl kill p" in refused.json()["detail"]
    assert seeded.layout.store.spec_path("Project", "p").exists(), "nothing deleted"
    assert seeded.as_("carol").delete("/api/v1/projects/p?purge=true").status_code == 404  # as if missing


def test_pipelines_have_nothing_to_purge(seeded: Api) -> None:
    assert seeded.as_("admin").delete("/api/v1/pipelines/demo?purge=true").status_code == 422
