"""Issue 22: which workspaces retention removes, a pure decision (reconcilers/retention/decide.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reconcilers.builders import make_run
from tests.reconcilers.purity import pure
from winslow.controller.records import RunRecord
from winslow.reconcilers.retention.decide import Observation, RemoveWorkspace, decide, protected
from winslow.resources.pipeline import Retention
from winslow.resources.project import Project
from winslow.resources.stagerun import StageRunPhase

pytestmark = pytest.mark.timeout(60)

decided = pure(decide)


def policy(
    keep_succeeded: int | None = None, keep_failed: bool = True, keep_latest: bool = True
) -> Retention:
    return Retention(keep_succeeded=keep_succeeded, keep_failed=keep_failed, keep_latest=keep_latest)


def run(n: int, stage: str, phase: str, **kw) -> RunRecord:
    return make_run(n, stage, 0, phase, **kw)


def src(r: RunRecord, source: RunRecord) -> RunRecord:
    return replace(r, copy_of=source.name)


def removed(runs: list[RunRecord], retention: Retention | None, folders: set[str] | None = None) -> list[int]:
    folders = {r.name for r in runs} if folders is None else folders
    obs = Observation("proj", retention, tuple(runs), frozenset(folders))
    return [int(a.run.split(".")[1]) for a in decided(obs)]


def test_no_policy_keeps_everything():
    runs = [run(n, "a", "Succeeded") for n in range(1, 6)] + [run(6, "a", "Failed")]
    assert removed(runs, None) == []


def test_an_empty_policy_keeps_everything():
    runs = [run(n, "a", "Succeeded") for n in range(1, 6)] + [run(6, "a", "Failed")]
    assert removed(runs, Retention()) == []


def test_keep_succeeded_counts_per_stage_newest_first():
    runs = [run(1, "a", "Succeeded"), run(2, "b", "Succeeded")]
    runs += [run(3, "a", "Succeeded"), run(4, "b", "Succeeded"), run(5, "a", "Succeeded")]
    runs += [run(6, "b", "Succeeded")]
    assert removed(runs, policy(keep_succeeded=1)) == [1, 2, 3, 4]
    assert removed(runs, policy(keep_succeeded=2)) == [1, 2]
    assert removed(runs, policy(keep_succeeded=0, keep_latest=False)) == [1, 2, 3, 4], "newest is lineage"


def test_keep_failed_false_removes_failed_killed_and_lost_but_not_the_latest():
    runs = [run(1, "a", "Failed"), run(2, "a", "Killed"), run(3, "a", "Lost"), run(4, "a", "Failed")]
    assert removed(runs, policy(keep_failed=False)) == [1, 2, 3]
    assert removed(runs, policy(keep_failed=False, keep_latest=False)) == [1, 2, 3, 4]
    assert removed(runs, policy(keep_failed=True, keep_latest=False)) == []


def test_keep_latest_keeps_the_newest_run_that_is_not_skipped():
    runs = [run(1, "a", "Succeeded"), run(2, "a", "Failed"), run(3, "a", "Skipped")]
    assert removed(runs, policy(keep_succeeded=0, keep_failed=False)) == []
    assert removed(runs, policy(keep_succeeded=0, keep_failed=False, keep_latest=False)) == [2]


def test_the_newest_succeeded_run_of_each_combination_is_kept_for_lineage():
    sweep = [
        run(n, "train", "Succeeded", matrix={"LR": lr}) for n, lr in ((1, "0.1"), (2, "0.2"), (3, "0.1"))
    ]
    assert removed(sweep, policy(keep_succeeded=1)) == [1], "run 2 is its combination's newest"


def test_never_an_active_run_nor_the_source_of_one():
    a1 = run(1, "a", "Succeeded")
    a2 = run(2, "a", "Succeeded")
    b3 = src(run(3, "b", "Pending"), a1)  # a resume that copies from an older run (as a test would have it)
    a4 = run(4, "a", "Running")
    runs = [a1, a2, b3, a4]
    assert removed(runs, policy(keep_succeeded=0, keep_failed=False, keep_latest=False)) == []
    b3_done = replace(b3, phase=StageRunPhase.SUCCEEDED)
    assert removed([a1, a2, b3_done, a4], policy(keep_succeeded=0, keep_latest=False)) == [1]


def test_only_folders_that_are_there_and_only_runs_the_log_names():
    runs = [run(n, "a", "Succeeded") for n in range(1, 5)]
    assert removed(runs, policy(keep_succeeded=1), {"proj.2.a", "proj.4.a", "proj.9.a"}) == [2]


def test_actions_say_what_and_why():
    runs = [run(1, "a", "Failed"), run(2, "a", "Succeeded")]
    obs = Observation(
        "proj", policy(keep_succeeded=3, keep_failed=False), tuple(runs), frozenset({"proj.1.a"})
    )
    assert decided(obs) == [
        RemoveWorkspace(
            "proj.1.a",
            "a",
            StageRunPhase.FAILED,
            "retention (keepSucceeded 3, keepFailed false, keepLatest true)",
        )
    ]


def test_the_eight_runs_of_the_integration_test():
    """A stage that fails twice and is retried, then three resumes: keepSucceeded 2, keepFailed
    false, keepLatest true."""
    runs = [
        run(1, "prep", "Succeeded"),
        run(2, "train", "Failed"),
        run(3, "train", "Failed"),
        run(4, "train", "Succeeded"),
        run(5, "train", "Succeeded"),
        run(6, "train", "Succeeded"),
        run(7, "train", "Failed"),
        run(8, "train", "Succeeded"),
    ]
    assert removed(runs, policy(keep_succeeded=2, keep_failed=False)) == [2, 3, 4, 5, 7]


def test_the_policy_is_read_as_documented():
    spec = {"stages": [{"name": "a", "image": "x"}]}
    project = Project.model_validate(
        {"metadata": {"name": "p"}, "spec": {**spec, "retention": {"keepSucceeded": 2, "keepFailed": False}}}
    )
    assert project.spec.retention == Retention(keep_succeeded=2, keep_failed=False, keep_latest=True)
    with pytest.raises(ValueError, match="keepSucceeded"):
        Project.model_validate(
            {"metadata": {"name": "p"}, "spec": {**spec, "retention": {"keepSucceeded": -1}}}
        )
    assert (
        "retention" not in Project.model_validate({"metadata": {"name": "p"}, "spec": spec}).to_wire()["spec"]
    )


PHASES = [p.value for p in StageRunPhase]


@st.composite
def histories(draw):
    count = draw(st.integers(0, 14))
    runs: list[RunRecord] = []
    for n in range(1, count + 1):
        stage = draw(st.sampled_from(["a", "b", "c"]))
        phase = draw(st.sampled_from(PHASES))
        combo = draw(st.sampled_from([{}, {"X": "1"}, {"X": "2"}]))
        r = make_run(n, stage, 0, phase, matrix=combo)
        if runs and draw(st.booleans()):
            r = replace(r, copy_of=draw(st.sampled_from(runs)).name)
        runs.append(r)
    folders = {r.name for r in runs if draw(st.integers(0, 4))}  # most have their folder
    keep = draw(st.none() | st.integers(0, 4))
    retention = draw(
        st.none()
        | st.builds(
            Retention, keep_succeeded=st.just(keep), keep_failed=st.booleans(), keep_latest=st.booleans()
        )
    )
    return runs, folders, retention


@settings(max_examples=400, deadline=None)
@given(histories())
def test_property_never_active_nor_a_source_and_exactly_the_policy(history):
    runs, folders, retention = history
    obs = Observation("proj", retention, tuple(runs), frozenset(folders))
    gone = {a.run for a in decided(obs)}
    active = [r for r in runs if r.phase.active]
    assert not gone & {r.name for r in active}, "an active run's workspace"
    assert not gone & {r.copy_of for r in active}, "the source of an active run"
    if retention is None:
        assert not gone
        return
    # what the policy keeps, computed again the long way round
    expected_gone = set()
    for r in runs:
        same_stage = [o for o in runs if o.stage == r.stage]
        newer_succeeded = [
            o for o in same_stage if o.phase is StageRunPhase.SUCCEEDED and o.number > r.number
        ]
        newest_unit = not [o for o in newer_succeeded if o.matrix == r.matrix]
        latest = max((o.number for o in same_stage if o.phase is not StageRunPhase.SKIPPED), default=0)
        if r.phase is StageRunPhase.SUCCEEDED:
            kept = newest_unit or (
                retention.keep_succeeded is None or len(newer_succeeded) < retention.keep_succeeded
            )
        elif r.phase in (StageRunPhase.FAILED, StageRunPhase.KILLED, StageRunPhase.LOST):
            kept = retention.keep_failed
        else:
            kept = True
        kept = kept or (retention.keep_latest and r.number == latest) or r.name in protected(runs)
        if not kept and r.name in folders:
            expected_gone.add(r.name)
    assert gone == expected_gone
