"""The plan of a pipeline that is a graph: fan-out, joins, conditions, sweeps, and what a resume
does in them; then a property: whatever the graph and the order runs end in, every unit runs
exactly once, never before its needs are done, never more at once than maxParallel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reconcilers.builders import T0, make_pipeline, make_project, make_run, ts
from tests.reconcilers.purity import pure
from winslow.controller.records import RunRecord
from winslow.reconcilers.project.plan import NextRun, Plan
from winslow.reconcilers.project.plan import plan as planning
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import ProjectPhase
from winslow.resources.stagerun import StageRunPhase, Trigger

plan = pure(planning)

DIAMOND = {"b": {"needs": ["a"]}, "c": {"needs": ["a"]}, "d": {"needs": ["b", "c"]}}


def started(p: Plan) -> list[tuple[str, dict[str, str]]]:
    return [(s.stage.name, dict(s.matrix)) for s in p.starts]


def test_stages_whose_needs_are_done_start_together_and_a_join_waits_for_all():
    pipe = make_pipeline("a", "b", "c", "d", **DIAMOND)
    p = plan(make_project(), pipe, None, [make_run(1, "a", 0, "Succeeded")], None, None)
    assert started(p) == [("b", {}), ("c", {})]
    assert [s.source for s in p.starts] == ["proj.1.a", "proj.1.a"]
    runs = [
        make_run(1, "a", 0, "Succeeded"),
        make_run(2, "b", 1, "Succeeded"),
        make_run(3, "c", 2, "Running"),
    ]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.starts == () and p.phase is ProjectPhase.RUNNING and "'c' is running" in p.reason
    runs[2] = make_run(3, "c", 2, "Succeeded")
    p = plan(make_project(), pipe, None, runs, None, None)
    assert started(p) == [("d", {})] and p.next and p.next.source == "proj.2.b", (
        "a join copies its first need"
    )


def test_needs_nothing_starts_at_once_beside_the_first_stage():
    p = plan(make_project(), make_pipeline("a", "b", b={"needs": []}), None, [], None, None)
    assert started(p) == [("a", {}), ("b", {})]
    assert p.starts[0].trigger is Trigger.USER, "applying the project is its user's start"


def test_a_sweep_starts_every_combination_up_to_max_parallel():
    sweep = {"matrix": {"LR": ["0.1", "0.01"], "B": {"from": 8, "to": 24, "step": 8}}, "maxParallel": 4}
    pipe = make_pipeline("train", "judge", train=sweep)
    p = plan(make_project(), pipe, None, [], None, None)
    assert [m for _, m in started(p)] == [
        {"LR": "0.1", "B": "8"},
        {"LR": "0.1", "B": "16"},
        {"LR": "0.1", "B": "24"},
        {"LR": "0.01", "B": "8"},
    ]
    runs = [make_run(i + 1, "train", 0, "Running", matrix=m) for i, (_, m) in enumerate(started(p))]
    assert plan(make_project(), pipe, None, runs, None, None).starts == (), "four run: none more"
    runs[1] = replace(runs[1], phase=StageRunPhase.SUCCEEDED)
    p = plan(make_project(), pipe, None, runs, None, None)
    assert [m for _, m in started(p)] == [{"LR": "0.01", "B": "16"}]
    assert "runs 3 of 6 combinations" in p.reason


def test_a_stage_after_a_sweep_waits_for_every_combination_and_gets_all_their_results():
    pipe = make_pipeline("train", "judge", train={"matrix": {"N": ["1", "2"]}})
    one = make_run(1, "train", 0, "Succeeded", matrix={"N": "1"}, results={"loss": "0.3"})
    two = make_run(2, "train", 0, "Running", matrix={"N": "2"})
    assert plan(make_project(), pipe, None, [one, two], None, None).starts == ()
    two = replace(two, phase=StageRunPhase.SUCCEEDED, results={"loss": "0.2"})
    (judge,) = plan(make_project(), pipe, None, [one, two], None, None).starts
    assert judge.needs_results == {
        "train": [
            {"matrix": {"N": "1"}, "results": {"loss": "0.3"}},
            {"matrix": {"N": "2"}, "results": {"loss": "0.2"}},
        ]
    }
    assert judge.source == "proj.2.train", "the combination that finished last"


def test_fail_fast_stops_new_combinations_and_fails_once_the_others_end():
    pipe = make_pipeline("t", t={"matrix": {"N": ["1", "2", "3"]}, "maxParallel": 2})
    runs = [
        make_run(1, "t", 0, "Failed", matrix={"N": "1"}, exitCode=1),
        make_run(2, "t", 0, "Running", matrix={"N": "2"}),
    ]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.starts == () and p.phase is ProjectPhase.RUNNING and "[N=1] failed" in p.reason
    runs[1] = replace(runs[1], phase=StageRunPhase.SUCCEEDED)
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.phase is ProjectPhase.FAILED and "stage 't' [N=1] failed with exit code 1" in p.reason


def test_fail_fast_false_runs_the_rest_and_fails_at_the_end():
    pipe = make_pipeline("t", "u", t={"matrix": {"N": ["1", "2", "3"]}, "maxParallel": 1, "failFast": False})
    runs = [make_run(1, "t", 0, "Failed", matrix={"N": "1"}, exitCode=1)]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert started(p) == [("t", {"N": "2"})] and p.phase is ProjectPhase.RUNNING
    runs += [
        make_run(2, "t", 0, "Succeeded", matrix={"N": "2"}),
        make_run(3, "t", 0, "Succeeded", matrix={"N": "3"}),
    ]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.phase is ProjectPhase.FAILED and p.starts == (), "'u' never starts after a failed sweep"


def test_a_false_condition_skips_the_stage_and_a_skipped_need_counts_as_done():
    pipe = make_pipeline(
        "judge",
        "ship",
        "retrain",
        "report",
        ship={"needs": ["judge"], "when": 'results.judge.verdict == "good"'},
        retrain={"needs": ["judge"], "when": 'results.judge.verdict != "good"'},
        report={"needs": ["ship", "retrain"]},
    )
    runs = [make_run(1, "judge", 0, "Succeeded", results={"verdict": "good"})]
    p = plan(make_project(), pipe, None, runs, None, None)
    ship, retrain = p.starts
    assert ship.stage.name == "ship" and not ship.immediate
    assert retrain.stage.name == "retrain" and retrain.phase is StageRunPhase.SKIPPED
    assert 'results.judge.verdict != "good"' in retrain.message
    runs += [
        make_run(2, "retrain", 2, "Skipped"),
        make_run(3, "ship", 1, "Succeeded"),
    ]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert started(p) == [("report", {})] and p.next and p.next.source == "proj.3.ship", "the branch that ran"
    runs.append(make_run(4, "report", 3, "Succeeded"))
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.phase is ProjectPhase.SUCCEEDED and "skipped: retrain" in p.reason


def test_a_condition_that_cannot_be_evaluated_fails_the_stage_with_the_expression_and_why():
    pipe = make_pipeline("a", "b", b={"when": "results.a.missing == 1"})
    runs = [make_run(1, "a", 0, "Succeeded", results={"x": "1"})]
    (b,) = plan(make_project(), pipe, None, runs, None, None).starts
    assert (
        b.phase is StageRunPhase.FAILED and "results.a.missing == 1" in b.message and "missing" in b.message
    )


def test_conditions_see_a_sweeps_results_as_a_list_and_the_phases():
    pipe = make_pipeline(
        "t",
        "best",
        t={"matrix": {"N": ["1", "2"]}},
        best={"when": 'results.t.exists(r, double(r.results.acc) > 0.9) && phases.t == "Succeeded"'},
    )
    runs = [
        make_run(1, "t", 0, "Succeeded", matrix={"N": "1"}, results={"acc": "0.8"}),
        make_run(2, "t", 0, "Succeeded", matrix={"N": "2"}, results={"acc": "0.95"}),
    ]
    (best,) = plan(make_project(), pipe, None, runs, None, None).starts
    assert not best.immediate


def test_resume_from_a_stage_in_a_branch_reruns_it_and_what_needs_it_only():
    pipe = make_pipeline("a", "b", "c", "d", **DIAMOND)
    runs = [make_run(i + 1, n, i, "Succeeded") for i, n in enumerate("abcd")]
    asked = make_project(runFrom={"stage": "b", "requestedAt": ts(T0 + 50).isoformat(), "by": "alice"})
    (rerun,) = plan(asked, pipe, None, runs, None, None).starts
    assert (
        rerun.stage.name == "b"
        and rerun.restart
        and rerun.requested_by == "alice"
        and rerun.source == "proj.1.a"
    )
    runs.append(make_run(5, "b", 1, "Succeeded", restart=True, run_from=ts(T0 + 50)))
    p = plan(asked, pipe, None, runs, ts(T0 + 50), None)
    assert started(p) == [("d", {})], "c did not need b: its run still counts"


def test_resume_from_a_sweep_with_other_values_sweeps_those():
    pipe = make_pipeline("prep", "t", t={"matrix": {"N": ["1", "2"]}})
    runs = [make_run(1, "prep", 0, "Succeeded")] + [
        make_run(i + 2, "t", 1, "Succeeded", matrix={"N": n}) for i, n in enumerate("12")
    ]
    asked = make_project(
        runFrom={"stage": "t", "requestedAt": ts(T0 + 50).isoformat(), "matrix": {"N": ["7", "8", "9"]}}
    )
    (first,) = plan(asked, pipe, None, runs, None, None).starts
    assert first.matrix == {"N": "7"} and first.sweep == {"N": ["7", "8", "9"]} and first.restart
    runs.append(
        make_run(
            4,
            "t",
            1,
            "Running",
            matrix={"N": "7"},
            restart=True,
            sweep={"N": ["7", "8", "9"]},
            run_from=ts(T0 + 50),
        )
    )
    p = plan(asked, pipe, None, runs, ts(T0 + 50), None)
    assert [m for _, m in started(p)] == [{"N": "8"}, {"N": "9"}], "the old combinations are history"


def test_a_resume_reruns_every_combination_that_failed():
    pipe = make_pipeline("t", t={"matrix": {"N": ["1", "2", "3"]}, "failFast": False})
    runs = [
        make_run(1, "t", 0, "Failed", matrix={"N": "1"}),
        make_run(2, "t", 0, "Succeeded", matrix={"N": "2"}),
        make_run(3, "t", 0, "Failed", matrix={"N": "3"}),
    ]
    asked = make_project(runFrom={"requestedAt": ts(T0 + 50).isoformat()})
    (first,) = plan(asked, pipe, None, runs, None, None).starts
    assert first.matrix == {"N": "1"} and first.trigger is Trigger.USER and not first.restart
    runs.append(make_run(4, "t", 0, "Running", matrix={"N": "1"}, run_from=ts(T0 + 50)))
    p = plan(asked, pipe, None, runs, ts(T0 + 50), None)
    assert [m for _, m in started(p)] == [{"N": "3"}], "the other failure before the resume runs again too"


def test_a_gate_in_one_branch_waits_while_the_other_branch_runs():
    pipe = make_pipeline("a", "review", "other", review={"confirm": True}, other={"needs": ["a"]})
    runs = [make_run(1, "a", 0, "Succeeded"), make_run(2, "other", 2, "Running")]
    p = plan(make_project(), pipe, None, runs, None, None)
    assert p.starts == () and p.gated and "'review' waits for confirmation" in p.reason
    assert p.phase is ProjectPhase.RUNNING and "'other' is running" in p.reason


# ------------------------------------------------------------------------------------ property


@st.composite
def graphs(draw: Any) -> Pipeline:
    count = draw(st.integers(1, 5))
    stages: list[dict[str, Any]] = []
    for i in range(count):
        extra: dict[str, Any] = {}
        if i and draw(st.booleans()):
            extra["needs"] = draw(
                st.lists(st.sampled_from([s["name"] for s in stages]), unique=True, max_size=3)
            )
        if draw(st.booleans()):
            extra["matrix"] = {"N": [str(n) for n in range(draw(st.integers(1, 4)))]}
            if draw(st.booleans()):
                extra["maxParallel"] = draw(st.integers(1, 3))
        if draw(st.integers(0, 4)) == 0:
            extra["when"] = draw(st.sampled_from(["true", "false", 'env.P == "pipeline"']))
        stages.append({"name": f"s{i}", "image": "img", **extra})
    return Pipeline.model_validate(
        {"metadata": {"name": "pipe"}, "spec": {"env": {"P": "pipeline"}, "stages": stages}}
    )


def record(start: NextRun, number: int) -> RunRecord:
    return replace(
        make_run(number, start.stage.name, start.index, start.phase.value if start.immediate else "Running"),
        matrix=dict(start.matrix),
    )


@settings(max_examples=150, deadline=None)
@given(pipe=graphs(), order=st.randoms(use_true_random=False))
def test_every_unit_runs_once_after_its_needs_and_within_max_parallel(pipe: Pipeline, order: Any) -> None:
    stages = {s.name: s for s in pipe.spec.stages}
    needs = {
        s.name: (s.needs if s.needs is not None else ([pipe.spec.stages[i - 1].name] if i else []))
        for i, s in enumerate(pipe.spec.stages)
    }
    runs: list[RunRecord] = []
    for _ in range(200):
        p = plan(make_project(), pipe, None, runs, None, None)
        if p.phase is ProjectPhase.SUCCEEDED:
            break
        done = {r.stage for r in runs if r.phase.done}
        for start in p.starts:
            assert all(n in done for n in needs[start.stage.name]), f"{start.what} before its needs"
            units = [r for r in runs if r.stage == start.stage.name and r.matrix == dict(start.matrix)]
            assert not units, f"{start.what} again"
        if p.starts:
            for start in [s for s in p.starts if s.immediate] or [p.starts[0]]:
                runs.append(record(start, len(runs) + 1))
        active = [i for i, r in enumerate(runs) if r.phase.active]
        for stage in stages.values():
            at_once = sum(1 for i in active if runs[i].stage == stage.name)
            assert stage.max_parallel is None or at_once <= stage.max_parallel
        if active and (not p.starts or order.random() < 0.5):
            i = order.choice(active)
            runs[i] = replace(runs[i], phase=StageRunPhase.SUCCEEDED, seq=runs[i].seq + 1000 + len(runs))
    else:
        raise AssertionError(f"no end after 200 steps: {p.phase} {p.reason}")
    for stage in stages.values():
        mine = [r for r in runs if r.stage == stage.name]
        if mine and mine[0].phase is StageRunPhase.SKIPPED:
            assert len(mine) == 1
        else:
            assert sorted(r.matrix.get("N", "") for r in mine) == sorted(
                c.get("N", "") for c in stage.combinations()
            )
