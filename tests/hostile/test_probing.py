"""Case 9 of issue 14: a user without access gets the same answer for a project that exists and
one that does not, wherever a project's name appears in a route."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import NodeProcess, project, stage, write_yaml
from tests.hostile.conftest import Cast

pytestmark = [pytest.mark.docker, pytest.mark.timeout(60)]

ROUTES = [
    ("GET", "/api/v1/projects/{p}"),
    ("DELETE", "/api/v1/projects/{p}"),
    ("POST", "/api/v1/projects/{p}/pause"),
    ("POST", "/api/v1/projects/{p}/resume"),
    ("POST", "/api/v1/projects/{p}/kill"),
    ("GET", "/api/v1/stageruns?project={p}"),
    ("GET", "/api/v1/stageruns/{p}.1.a"),
    ("POST", "/api/v1/stageruns/{p}.1.a/kill"),
    ("GET", "/api/v1/stageruns/{p}.1.a/log"),
    ("GET", "/api/v1/files/workspaces/{p}"),
    ("GET", "/api/v1/files/workspaces/{p}/input/clip.mp4"),
    ("HEAD", "/api/v1/files/workspaces/{p}/input/clip.mp4"),
    ("PUT", "/api/v1/files/workspaces/{p}/input/new.bin"),
    ("DELETE", "/api/v1/files/workspaces/{p}/input/clip.mp4"),
]


def test_case_9_a_project_that_exists_answers_as_one_that_does_not(
    node: NodeProcess, cast: Cast, share: Path
) -> None:
    """Before: 404 for a project that did not exist and 403 for one that did, so names of other
    users' projects could be probed; and a StageRun's name told whether it existed first."""
    write_yaml(
        share / "projects" / "private.yaml",
        project("private", None, owner="alice", paused=True, stages=[stage("a", "true")]),
    )
    (share / "projects" / "broken.yaml").write_text(
        "apiVersion: winslow/v1\nkind: Project\nspec: {owner: alice}\n"
    )
    for name in ("private", "broken"):
        (share / "workspaces" / name / "input").mkdir(parents=True)
        (share / "workspaces" / name / "input" / "clip.mp4").write_bytes(b"video")
    carol = cast.client("carol")
    for method, route in ROUTES:
        answers = {}
        for name in ("private", "broken", "nothing-here"):
            reply = carol.request(method, route.format(p=name), content=b"x" if method == "PUT" else None)
            answers[name] = (reply.status_code, reply.text.replace(name, "NAME"))
        assert answers["private"] == answers["nothing-here"] == answers["broken"], (method, route, answers)
        assert answers["private"][0] == 404, (method, route, answers)
    assert cast.client("alice").get("/api/v1/projects/private").status_code == 200
    assert (share / "workspaces" / "private" / "input" / "clip.mp4").exists()
