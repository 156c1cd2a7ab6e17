from dataclasses import replace

from tests.reconcilers.builders import T0, make_pipeline, make_project, make_run, ts
from tests.reconcilers.purity import pure
from winslow.controller.records import RunTable
from winslow.reconcilers.project.passes import current_pass
from winslow.reconcilers.project.plan import plan as planning
from winslow.reconcilers.project.plan import run_from_problem
from winslow.resources.pipeline import Pipeline, stage_graph
from winslow.resources.project import PipelineSnapshot, ProjectPhase
from winslow.resources.stagerun import Trigger

plan = pure(planning)


def test_new_project_starts_its_first_stage_as_a_user_action():
    p = plan(make_project(), make_pipeline("a", "b"), None, [], None, None)
    assert p.phase is ProjectPhase.RUNNING and p.next and p.next.index == 0
    assert p.next.trigger is Trigger.USER and p.next.source is None


def test_success_advances_automatically_from_the_previous_workspace():
    runs = [make_run(1, "a", 0, "Succeeded")]
    p = plan(make_project(), make_pipeline("a", "b"), None, runs, None, None)
    assert p.next and p.next.index == 1 and p.next.trigger is Trigger.AUTO
    assert p.next.source == "proj.1.a"


def test_last_success_means_succeeded():
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Succeeded")]
    assert (
        plan(make_project(), make_pipeline("a", "b"), None, runs, None, None).phase is ProjectPhase.SUCCEEDED
    )


def test_a_failed_stage_fails_the_project_with_stage_code_and_the_resume_that_fixes_it():
    runs = [make_run(1, "a", 0, "Failed", exitCode=3, message="boom")]
    p = plan(make_project(), make_pipeline("a", "b"), None, runs, None, None)
    assert p.phase is ProjectPhase.FAILED and p.next is None and p.current_stage == "a"
    assert "winsctl resume proj" in p.reason
    assert "'a' failed with exit code 3" in p.reason and "boom" in p.reason


def test_active_run_blocks_and_pause_is_announced():
    runs = [make_run(1, "a", 0, "Running")]
    p = plan(make_project(paused=True), make_pipeline("a", "b"), None, runs, None, None)
    assert p.phase is ProjectPhase.RUNNING and p.next is None and "pauses when it ends" in p.reason


def test_paused_between_stages_starts_nothing():
    runs = [make_run(1, "a", 0, "Succeeded")]
    p = plan(make_project(paused=True), make_pipeline("a", "b"), None, runs, None, None)
    assert p.phase is ProjectPhase.PAUSED and p.next is None


def test_confirmation_gate_holds_until_a_fresh_confirm():
    pipe = make_pipeline("a", "b", b={"confirm": True})
    runs = [make_run(1, "a", 0, "Succeeded")]
    held = plan(make_project(), pipe, None, runs, None, None)
    assert held.phase is ProjectPhase.WAITING and held.gated and "winsctl confirm proj" in held.reason
    confirmed = make_project(confirm={"requestedAt": ts(T0 + 50).isoformat()})
    p = plan(confirmed, pipe, None, runs, None, None)
    assert p.next and p.next.trigger is Trigger.USER and p.next.confirm == ts(T0 + 50)
    assert plan(confirmed, pipe, None, runs, None, ts(T0 + 50)).gated, (
        "a used confirmation does not count twice"
    )


def test_run_from_reruns_the_stage_from_the_current_line():
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Succeeded"), make_run(3, "c", 2, "Failed")]
    project = make_project(runFrom={"stage": "b", "requestedAt": ts(T0 + 50).isoformat()})
    p = plan(project, make_pipeline("a", "b", "c"), None, runs, None, None)
    assert p.next and p.next.index == 1 and p.next.source == "proj.1.a" and p.next.trigger is Trigger.USER
    assert (
        plan(project, make_pipeline("a", "b", "c"), None, runs, ts(T0 + 50), None).phase
        is ProjectPhase.FAILED
    )


def test_superseded_runs_leave_the_line():
    runs = [
        make_run(1, "a", 0, "Succeeded"),
        make_run(2, "b", 1, "Succeeded"),
        make_run(3, "a", 0, "Succeeded"),
    ]
    current = current_pass(runs, stage_graph(make_pipeline("a", "b").spec.stages))
    assert [r.name for r in current.runs("a")] == ["proj.3.a"] and current.runs("b") == []
    p = plan(make_project(), make_pipeline("a", "b"), None, runs, None, None)
    assert p.next and p.next.index == 1 and p.next.source == "proj.3.a"


def test_resume_without_stage_retries_the_stopped_one():
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Killed")]
    project = make_project(runFrom={"requestedAt": ts(T0 + 50).isoformat()})
    p = plan(project, make_pipeline("a", "b"), None, runs, None, None)
    assert p.next and p.next.index == 1 and p.next.source == "proj.1.a"


def test_retry_policy_retries_after_backoff_then_pauses():
    pipe = make_pipeline("a", a={"retry": {"count": 1, "backoffSeconds": 30}})
    failed = make_run(1, "a", 0, "Failed", exitCode=1, finishTime=ts(T0).isoformat(), observed=700.0)
    p = plan(make_project(), pipe, None, [failed], None, None)
    assert p.next and p.next.attempt == 2 and p.next.not_before == 730.0, "backoff on this node's clock"
    again = make_run(2, "a", 0, "Failed", attempt=2, exitCode=1)
    assert plan(make_project(), pipe, None, [failed, again], None, None).phase is ProjectPhase.FAILED


def test_unknown_run_from_stage_is_a_clear_failure():
    project = make_project(runFrom={"stage": "zzz", "requestedAt": ts(T0).isoformat()})
    p = plan(project, make_pipeline("a"), None, [make_run(1, "a", 0, "Succeeded")], None, None)
    assert p.phase is ProjectPhase.FAILED and "'zzz' is not a stage" in p.reason


def test_missing_pipeline_waits_with_the_fix():
    p = plan(make_project(), None, None, [], None, None)
    assert p.phase is ProjectPhase.WAITING and "apply it" in p.reason


def test_workspace_modes():
    pipe = make_pipeline(
        "a",
        "b",
        "c",
        b={"workspace": {"mode": "standalone"}},
        c={"workspace": {"mode": "continuation", "from": "a"}},
    )
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Succeeded")]
    p = plan(make_project(), pipe, None, runs[:1], None, None)
    assert p.next and p.next.source is None
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.next and p.next.source == "proj.1.a"


def test_started_project_keeps_its_snapshot():
    runs = [make_run(1, "a", 0, "Succeeded")]
    first = plan(make_project(), make_pipeline("a", "b"), None, runs, None, None)
    edited = make_pipeline("a", "b", "c")
    later = plan(make_project(), edited, first.snapshot, runs, None, None)
    assert later.snapshot and [s.name for s in later.snapshot.stages] == ["a", "b"]


def test_a_gated_first_stage_waits_too():
    p = plan(make_project(), make_pipeline("a", a={"confirm": True}), None, [], None, None)
    assert p.gated and p.phase is ProjectPhase.WAITING


def test_an_automatic_retry_of_a_confirmed_stage_does_not_wait_again():
    pipe = make_pipeline("a", a={"confirm": True, "retry": {"count": 1, "backoffSeconds": 0}})
    failed = make_run(1, "a", 0, "Failed", exitCode=1, finishTime=ts(T0).isoformat())
    p = plan(make_project(), pipe, None, [failed], None, ts(T0))
    assert p.next and p.next.attempt == 2 and not p.gated


def test_history_follows_stage_names_when_the_projects_own_stages_are_edited():
    stages = [{"name": n, "image": "img"} for n in ("prep", "a", "b")]
    project = make_project(stages=stages)
    runs = [make_run(1, "a", 0, "Succeeded")]  # ran when "a" was the first stage
    p = plan(project, None, None, runs, None, None)
    # by name: "a" stays done, so "b" may start from it; "prep", which "a" needs now, starts too
    assert [(s.stage.name, s.source) for s in p.starts] == [("prep", None), ("b", "proj.1.a")]


def test_failed_and_lost_stages_fail_the_project_even_when_it_is_paused():
    for phase in ("Failed", "Lost"):
        runs = [make_run(1, "a", 0, phase, message="node b stopped")]
        p = plan(make_project(paused=True), make_pipeline("a", "b"), None, runs, None, None)
        assert p.phase is ProjectPhase.FAILED and "node b stopped" in p.reason


def test_resume_after_a_pause_is_the_users_start():
    runs = [make_run(1, "a", 0, "Succeeded")]
    project = make_project(runFrom={"requestedAt": ts(T0 + 50).isoformat()})
    p = plan(project, make_pipeline("a", "b"), None, runs, None, None)
    assert p.next and p.next.index == 1 and p.next.trigger is Trigger.USER
    auto = plan(make_project(), make_pipeline("a", "b"), None, runs, None, None)
    assert auto.next and auto.next.trigger is Trigger.AUTO


def test_a_rerun_that_cannot_start_is_known_before_it_is_asked_for():
    stages = make_pipeline("a", "b", "c").spec.stages
    runs = [make_run(1, "a", 0, "Failed")]
    assert "it needs 'a', not done yet; resume with --from a" in (run_from_problem(stages, runs, "b") or "")
    assert run_from_problem(stages, runs, "a") is None
    assert run_from_problem(stages, [make_run(1, "a", 0, "Succeeded")], "b") is None


def test_an_invalid_pipeline_is_named_as_invalid_not_missing():
    problem = "pipeline 'pipe' is invalid (pipelines/pipe.yaml: spec.stages[0].image: is required)"
    p = plan(make_project(), None, None, [], None, None, problem)
    assert p.phase is ProjectPhase.WAITING and "is invalid" in p.reason and "does not exist" not in p.reason


def test_the_user_behind_a_confirmation_or_resume_reaches_the_run():
    pipe = make_pipeline("a", "b", b={"confirm": True})
    runs = [make_run(1, "a", 0, "Succeeded")]
    confirmed = make_project(confirm={"requestedAt": ts(T0 + 50).isoformat(), "by": "alice"})
    p = plan(confirmed, pipe, None, runs, None, None)
    assert p.next and p.next.requested_by == "alice"
    resumed = make_project(runFrom={"stage": "a", "requestedAt": ts(T0 + 60).isoformat(), "by": "bob"})
    p = plan(resumed, pipe, None, runs, None, None)
    assert p.next and p.next.index == 0 and p.next.requested_by == "bob"
    assert plan(make_project(), pipe, None, [], None, None).next.requested_by is None


def test_a_kill_pauses_the_project_until_a_resume():
    runs = [make_run(1, "a", 0, "Killed", message="killed by alice")]
    p = plan(make_project(paused=True), make_pipeline("a", "b"), None, runs, None, None)
    assert p.phase is ProjectPhase.PAUSED and p.next is None and "killed by alice" in p.reason
    assert "winsctl resume proj" in p.reason


def _fixed(command: str) -> Pipeline:
    return make_pipeline("a", "b", b={"command": ["sh", "-c", command]})


def test_a_resume_takes_the_pipeline_as_it_is_now_and_says_what_changed():
    old = PipelineSnapshot.of(_fixed("exit 1"))
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Failed", exitCode=1)]
    project = make_project(runFrom={"stage": "b", "requestedAt": ts(T0 + 50).isoformat()})
    p = plan(project, _fixed("exit 0"), old, runs, None, None)
    assert p.next and p.next.stage.command == ["sh", "-c", "exit 0"]
    assert p.next.pipeline_changes == ("stage 'b': command",) and "as it is now" in p.reason
    assert p.snapshot == PipelineSnapshot.of(_fixed("exit 0")), "the status keeps the new snapshot"
    after = plan(project, _fixed("exit 2"), p.snapshot, runs, ts(T0 + 50), None)
    assert after.snapshot == p.snapshot, "only a resume takes the pipeline: later edits do not reach it"


def test_keep_snapshot_reruns_the_pipeline_as_the_project_took_it():
    old = PipelineSnapshot.of(_fixed("exit 1"))
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "b", 1, "Failed", exitCode=1)]
    request = {"stage": "b", "requestedAt": ts(T0 + 50).isoformat(), "keepSnapshot": True}
    p = plan(make_project(runFrom=request), _fixed("exit 0"), old, runs, None, None)
    assert p.next and p.next.stage.command == ["sh", "-c", "exit 1"] and p.next.pipeline_changes == ()


def test_a_resume_may_start_from_a_stage_the_fix_added():
    old = PipelineSnapshot.of(make_pipeline("a"))
    runs = [make_run(1, "a", 0, "Failed", exitCode=1)]
    project = make_project(runFrom={"stage": "prep", "requestedAt": ts(T0 + 50).isoformat()})
    fixed = Pipeline.model_validate(
        {
            "metadata": {"name": "pipe"},
            "spec": {"stages": [{"name": "prep", "image": "img"}, {"name": "a", "image": "img"}]},
        }
    )
    p = plan(project, fixed, old, runs, None, None)
    assert p.next and p.next.stage.name == "prep"
    assert p.next.pipeline_changes == ("env: P", "stage 'prep' added")


def test_runs_of_an_earlier_project_of_the_same_name_are_not_history():
    old, legacy, mine = (
        replace(make_run(1, "a", 0, "Failed"), project_uid="old"),
        make_run(2, "a", 0, "Succeeded"),
        replace(make_run(3, "b", 1, "Running"), project_uid="new"),
    )
    table = RunTable({r.name: r for r in (old, legacy, mine)}, {"proj": (old.name, legacy.name, mine.name)})
    assert [r.number for r in table.of("proj", "new")] == [2, 3]
    assert [r.number for r in table.of("proj")] == [1, 2, 3], "a spec without a uid loses no history"


def test_a_trigger_token_starts_stages_but_never_passes_a_gate():
    pipe = make_pipeline("a", "b", b={"confirm": True})
    runs = [make_run(1, "a", 0, "Succeeded")]
    by_token = {"stage": "b", "requestedAt": ts(T0 + 50).isoformat(), "by": "token:t1"}
    held = plan(make_project(runFrom=by_token), pipe, None, runs, None, None)
    assert held.gated and held.next is None
    by_person = {**by_token, "by": "alice"}
    assert plan(make_project(runFrom=by_person), pipe, None, runs, None, None).next is not None
