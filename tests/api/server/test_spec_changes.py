"""api.spec_changes: what apply and the actions write into a user's file, and what apply reports."""

from __future__ import annotations

import yaml

from tests.api.conftest import Api
from tests.harness import pipeline, project, stage
from winslow.api.server import spec_changes, yamlfile

HAND = """# p, by hand
apiVersion: winslow/v1
kind: Project
metadata:
  name: p   # the project
spec:
  pipeline: demo
  env: {A: "1"}   # flow style stays
  members: ['group:vision']
"""


def write_by_hand(api: Api) -> None:
    api.as_("alice").post("/api/v1/apply", json={"documents": [pipeline("demo", stage("one", "true"))]})
    api.layout.store.spec_path("Project", "p").write_text(HAND)


def test_an_action_edits_only_its_field_and_the_generation(api: Api) -> None:
    write_by_hand(api)
    assert api.as_("admin").post("/api/v1/projects/p/pause").status_code == 200
    text = api.layout.store.spec_path("Project", "p").read_text()
    assert text == HAND.replace(
        "  name: p   # the project\n", "  name: p   # the project\n  generation: 2\n"
    ) + ("  paused: true\n")
    assert api.as_("admin").post("/api/v1/projects/p/env", json={"set": {"B": "2"}}).status_code == 200
    assert (
        "  env: {A: \"1\", B: '2'} # flow style stays\n"
        in api.layout.store.spec_path("Project", "p").read_text()
    )


def test_apply_keeps_what_actions_set_and_names_what_it_removes(api: Api) -> None:
    write_by_hand(api)
    api.as_("admin").post("/api/v1/projects/p/pause")
    doc = project("p", "demo", env={"A": "1"})
    reply = api.as_("admin").post("/api/v1/apply", json={"documents": [doc], "dryRun": True}).json()
    result = reply["results"][0]
    assert result["kept"] == ["spec.paused"]
    assert result["removed"] == ["spec.members"]
    assert "-  members: ['group:vision']" in result["diff"].splitlines()
    assert "+  owner: admin" in result["diff"].splitlines(), "the applier owns a project nobody owned"
    assert not [line for line in result["diff"].splitlines() if line[:1] in "+-" and "paused" in line]
    doc["spec"]["paused"] = False  # a file that says it, sets it
    result = api.as_("admin").post("/api/v1/apply", json={"documents": [doc]}).json()["results"][0]
    assert result["kept"] == []
    assert (
        yaml.safe_load(api.layout.store.spec_path("Project", "p").read_text())["spec"].get("paused") is None
    )


def test_what_the_server_sets_is_no_change(api: Api) -> None:
    docs = [pipeline("demo", stage("one", "true")), project("q", "demo")]
    api.as_("alice").post("/api/v1/apply", json={"documents": docs})
    shown = api.as_("alice").get("/api/v1/projects/q").json()
    assert "status" in shown and "uid" in shown["metadata"]
    result = api.as_("alice").post("/api/v1/apply", json={"documents": [shown]}).json()["results"][0]
    assert result["result"] == "unchanged"
    stale = {
        **shown,
        "metadata": {**shown["metadata"], "generation": 0},
        "spec": {**shown["spec"], "tags": ["x"]},
    }
    refused = api.as_("alice").post("/api/v1/apply", json={"documents": [stale]})
    assert refused.status_code == 409 and "changed since you read it" in refused.json()["detail"]


def test_a_new_file_keeps_the_order_it_was_given_in(api: Api) -> None:
    doc = {"kind": "Pipeline", "apiVersion": "winslow/v1", "spec": {"stages": [stage("one", "true")]}}
    doc["metadata"] = {"name": "late"}
    api.as_("alice").post("/api/v1/apply", json={"documents": [doc]})
    lines = api.layout.store.spec_path("Pipeline", "late").read_text().splitlines()
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")] == [
        "kind",
        "apiVersion",
        "spec",
        "metadata",
    ]


def test_text_the_editor_cannot_reproduce_is_written_whole_not_wrong(api: Api, monkeypatch) -> None:
    write_by_hand(api)
    monkeypatch.setattr(yamlfile, "edited", lambda text, before, after, given=None: text)  # loses the change
    assert api.as_("admin").post("/api/v1/projects/p/pause").status_code == 200
    written = spec_changes.current(api.app.state.ctx, "Project", "p")
    assert written is not None and written.spec.paused is True
