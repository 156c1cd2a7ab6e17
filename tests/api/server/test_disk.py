"""The disk-use route takes a project's name, never a path: a name no project can have is refused
before anything on the share is walked."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_name_that_is_no_project_name_is_refused_even_for_an_admin(seeded: Api) -> None:
    admin = seeded.as_("admin")
    for name in ("../settings", "..", "a/b", "UPPER"):
        reply = admin.get("/api/v1/disk/projects", params={"project": name})
        assert reply.status_code == 422, (name, reply.text)
    assert admin.get("/api/v1/disk/projects", params={"project": "p"}).status_code == 200
