"""Project actions refuse what cannot work, with a message that says what would."""

from tests.api.conftest import Api


def test_resume_from_an_unknown_stage_lists_the_stages(seeded: Api) -> None:
    reply = seeded.as_("alice").post("/api/v1/projects/p/resume", json={"from": "onee"})
    assert reply.status_code == 422
    assert "'onee' is not a stage" in reply.json()["detail"] and "one" in reply.json()["detail"]
    assert seeded.layout.store.project("p").spec.run_from is None, "nothing was written"


def test_confirm_when_nothing_waits_says_so(seeded: Api) -> None:
    reply = seeded.as_("alice").post("/api/v1/projects/p/confirm")
    assert reply.status_code == 409 and "waits for confirmation" in reply.json()["detail"]
    ahead = seeded.as_("alice").post("/api/v1/projects/p/confirm", json={"stage": "one"})
    assert ahead.status_code == 200
    assert seeded.layout.store.project("p").spec.confirm.stage == "one"


def test_kill_pauses_the_project_so_nothing_starts_after_it(seeded: Api) -> None:
    assert seeded.as_("alice").post("/api/v1/projects/p/kill").status_code == 200
    assert seeded.layout.store.project("p").spec.paused
