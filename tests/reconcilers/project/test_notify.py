"""Which changes of a project's status are told (reconcilers.project.notify), through decide."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.reconcilers.builders import make_pipeline, make_project, make_run, observation
from tests.reconcilers.purity import pure
from winslow.reconcilers.project import actions as pa
from winslow.reconcilers.project.decide import decide as decision
from winslow.reconcilers.project.notify import event_of
from winslow.resources.project import NotifyEvent, NotifyTarget, ProjectPhase, ProjectStatus

decide = pure(decision)

pytestmark = pytest.mark.timeout(60)

HOOK = {"webhook": "http://hooks.example/x"}
MAIL = {"email": "lab@example.org", "on": ["waiting", "failed", "lost", "succeeded"]}


def running(stage: str = "a") -> ProjectStatus:
    return ProjectStatus(project="proj", phase=ProjectPhase.RUNNING, current_stage=stage)


def notifies(actions: list[pa.Action]) -> list[pa.Notify]:
    return [a for a in actions if isinstance(a, pa.Notify)]


def test_a_gate_that_starts_waiting_is_told_once_before_the_status_is_written():
    pipeline = make_pipeline("a", "b", b={"confirm": True})
    project = make_project(notify=[HOOK, MAIL])
    runs = [make_run(1, "a", 0, "Succeeded")]
    actions = decide(observation(project, pipeline, runs, status=running(), lock_mine=True))
    [told] = notifies(actions)
    assert told.event is NotifyEvent.WAITING and told.stage == "b" and len(told.targets) == 2
    assert "waits for confirmation" in told.reason
    names = [type(a).__name__ for a in actions]
    assert names.index("Notify") < names.index("WriteStatus")
    written = next(a.status for a in actions if isinstance(a, pa.WriteStatus))
    # the same decision on the status it wrote: nothing changes, nothing is told again
    again = decide(observation(project, pipeline, runs, status=written, lock_mine=True))
    assert notifies(again) == []


def test_without_the_lock_nothing_is_told():
    pipeline = make_pipeline("a", "b", b={"confirm": True})
    project = make_project(notify=[HOOK])
    actions = decide(observation(project, pipeline, [make_run(1, "a", 0, "Succeeded")], status=running()))
    assert notifies(actions) == []


def test_a_failed_stage_is_told_to_those_listening_for_failures():
    pipeline = make_pipeline("a", "b")
    project = make_project(notify=[HOOK, {"webhook": "http://other.example/", "on": ["succeeded"]}])
    runs = [make_run(1, "a", 0, "Failed", exitCode=3, message="exit 3")]
    [told] = notifies(decide(observation(project, pipeline, runs, status=running(), lock_mine=True)))
    assert told.event is NotifyEvent.FAILED and told.stage == "a" and told.phase is ProjectPhase.FAILED
    assert [t.webhook for t in told.targets] == ["http://hooks.example/x"]


def test_a_lost_stage_is_told_as_lost_not_as_failed():
    pipeline = make_pipeline("a", "b")
    project = make_project(notify=[MAIL])
    runs = [make_run(1, "a", 0, "Running", node="b")]
    obs = observation(project, pipeline, runs, status=running(), lock_mine=True, holders={runs[0].name: None})
    actions = decide(obs)
    [told] = notifies(actions)
    assert told.event is NotifyEvent.LOST and told.stage == "a"
    assert "node b stopped renewing its lease" in told.reason
    assert [type(a).__name__ for a in actions] == ["MarkLost", "Notify", "WriteStatus"]


def test_success_is_told_only_to_those_who_ask_for_it():
    pipeline = make_pipeline("a")
    runs = [make_run(1, "a", 0, "Succeeded")]
    quiet = decide(observation(make_project(notify=[HOOK]), pipeline, runs, status=running(), lock_mine=True))
    assert notifies(quiet) == []
    [told] = notifies(
        decide(observation(make_project(notify=[MAIL]), pipeline, runs, status=running(), lock_mine=True))
    )
    assert told.event is NotifyEvent.SUCCEEDED


def test_a_project_without_notify_tells_nothing():
    pipeline = make_pipeline("a")
    runs = [make_run(1, "a", 0, "Failed", exitCode=1)]
    assert (
        notifies(decide(observation(make_project(), pipeline, runs, status=running(), lock_mine=True))) == []
    )


statuses = st.builds(
    ProjectStatus,
    project=st.just("proj"),
    phase=st.sampled_from(list(ProjectPhase)),
    reason=st.sampled_from(["", "stage 'b' waits for confirmation: winsctl confirm proj", "exit 1"]),
    current_stage=st.sampled_from([None, "a", "b"]),
)


@given(statuses)
def test_a_status_written_again_tells_nothing(status):
    assert event_of(status, status, []) is None


@given(statuses, statuses)
def test_only_the_four_events_are_ever_told(old, new):
    event = event_of(old, new, [])
    assert event is None or new.phase in (ProjectPhase.WAITING, ProjectPhase.FAILED, ProjectPhase.SUCCEEDED)
    if event is NotifyEvent.WAITING:
        assert new.phase is ProjectPhase.WAITING


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"webhook": "http://x", "email": "a@b.c"}, "exactly one of `webhook: URL` or `email: ADDRESS`"),
        ({}, "exactly one of"),
        ({"webhook": "hooks.example"}, "is not a URL"),
        ({"email": "not-an-address"}, "is not one mail address"),
    ],
)
def test_a_wrong_target_is_refused_with_the_fix(entry, says):
    with pytest.raises(ValidationError, match=says):
        NotifyTarget.model_validate(entry)
    with pytest.raises(ValidationError, match="notify"):
        make_project(notify=[entry])


def test_a_gate_still_waiting_is_reminded_once_per_period():
    pipeline = make_pipeline("a", "b", b={"confirm": True})
    project = make_project(notify=[HOOK])
    runs = [make_run(1, "a", 0, "Succeeded")]
    first = decide(observation(project, pipeline, runs, status=running(), lock_mine=True))
    waiting = next(a.status for a in first if isinstance(a, pa.WriteStatus))
    assert waiting.waiting_since is not None and waiting.reminders == 0
    start = waiting.waiting_since.timestamp()

    def at(seconds, status):
        obs = observation(project, pipeline, runs, status=status, lock_mine=True, now=start + seconds)
        return decide(replace(obs, remind_after=3600.0))

    assert at(3599, waiting) == []
    reminded = at(3600, waiting)
    [told] = notifies(reminded)
    assert told.event is NotifyEvent.WAITING and told.reason.startswith("reminder 1: waiting since")
    again = next(a.status for a in reminded if isinstance(a, pa.WriteStatus))
    assert again.reminders == 1 and again.waiting_since == waiting.waiting_since
    assert at(3700, again) == [] and len(notifies(at(7200, again))) == 1


def test_a_users_subscription_is_told_with_the_projects_own_targets(tmp_path):
    from winslow.controller.layout import ShareLayout

    layout = ShareLayout(tmp_path)
    layout.ensure()
    layout.notify_file.write_text("alice:\n  - email: alice@example.org\n    on: [failed]\n")
    subscribed = tuple(layout.subscriptions()["alice"])
    pipeline = make_pipeline("a")
    runs = [make_run(1, "a", 0, "Failed", exitCode=1)]
    obs = observation(
        make_project(notify=[HOOK], owner="alice"), pipeline, runs, status=running(), lock_mine=True
    )
    [told] = notifies(decide(replace(obs, subscribed=subscribed)))
    assert [t.webhook or t.email for t in told.targets] == ["http://hooks.example/x", "alice@example.org"]
