from dataclasses import replace
from types import SimpleNamespace

from tests.reconcilers.builders import MONO, T0, make_pipeline, make_project, make_run, observation, ts, won
from tests.reconcilers.purity import pure
from winslow.controller.election import Election
from winslow.controller.events import Ballot
from winslow.reconcilers.project import actions as pa
from winslow.reconcilers.project.decide import decide as decision
from winslow.reconcilers.project.observe import Observation, expired
from winslow.reconcilers.project.plan import refs
from winslow.resources.amount import Amount
from winslow.resources.project import ProjectPhase, ProjectStatus
from winslow.resources.stagerun import StageRunPhase

decide = pure(decision)

PIPE = make_pipeline("a", "b")


def kinds(actions):
    return [type(a).__name__ for a in actions]


def test_without_a_winner_a_node_starts_an_election_without_taking_the_lock():
    actions = decide(observation(make_project(), PIPE, status=None))
    assert kinds(actions) == ["StartElection"], "the status is written with the new run, not before"
    assert actions[0].request == Amount(1.0, 256 << 20, 0)


def test_status_only_changes_fall_to_the_node_that_ran_the_last_stage():
    runs = [make_run(1, "a", 0, "Running", node="b")]
    stale = ProjectStatus(project="proj", updated="2027-01-15T08:00:00Z")
    fresh = stale.model_copy(update={"updated": ts(T0 + 99)})
    assert kinds(decide(observation(make_project(), PIPE, runs, status=fresh))) == ["Requeue"]
    assert kinds(decide(observation(make_project(), PIPE, runs, status=stale))) == ["AcquireLock"]


def test_open_election_is_waited_for():
    status = ProjectStatus(
        project="proj", phase=ProjectPhase.RUNNING, reason="starting stage 'a'", current_stage="a"
    )
    assert kinds(decide(observation(make_project(), PIPE, status=status, election_open=True))) == ["Requeue"]


def test_winner_creates_the_run_under_the_lock_with_merged_env():
    obs = observation(make_project(env={"P": "project"}), PIPE, result=won(), lock_mine=False)
    assert kinds(decide(obs)) == ["AcquireLock"]
    actions = decide(observation(make_project(env={"P": "project"}), PIPE, result=won(), lock_mine=True))
    assert kinds(actions) == ["CreateRun", "WriteStatus"]
    run = actions[0].run
    assert run.metadata.name == "proj.1.a" and run.status.node == "a"
    assert run.spec.env["G"] == "global" and run.spec.env["P"] == "project"
    assert run.spec.env["WINSLOW_STAGE_RUN"] == "proj.1.a"
    assert actions[1].status.stage_runs[0].name == "proj.1.a"


def test_another_winner_is_given_time_to_act():
    status = ProjectStatus(
        project="proj", phase=ProjectPhase.RUNNING, reason="starting stage 'a'", current_stage="a"
    )
    assert kinds(decide(observation(make_project(), PIPE, status=status, result=won("b")))) == ["Requeue"]
    late = observation(make_project(), PIPE, status=status, result=won("b", stopped_ago=100))
    assert kinds(decide(late)) == ["StartElection"], "a winner that never acted is replaced"


def test_stale_result_from_an_earlier_stage_is_ignored():
    runs = [make_run(1, "a", 0, "Succeeded", finishTime="2027-01-15T08:00:00Z")]
    old = won("a", seq=5)  # before the run's records, whatever the clocks say
    status = ProjectStatus(
        project="proj",
        phase=ProjectPhase.RUNNING,
        reason="starting stage 'b'",
        current_stage="b",
        stage_runs=refs(runs),
    )
    actions = decide(observation(make_project(), PIPE, runs, status=status, result=old, lock_mine=True))
    assert "CreateRun" not in kinds(actions)


def test_nobody_fits_means_waiting_with_the_shortage():
    no_fit = Election(
        subject="project/proj",
        starter="a",
        seq=100,
        started=T0 + 99,
        duration=1.0,
        request=Amount(64, 0, 0),
        ballots={"a": Ballot(False, reason="cpu 64 requested, 4 free")},
        winner=None,
        stopped=T0 + 99.5,
        stop_seq=102,
        observed=MONO - 1,
        stop_observed=MONO - 0.5,
    )
    actions = decide(observation(make_project(), PIPE, result=no_fit, lock_mine=True))
    (write,) = actions
    assert write.status.phase is ProjectPhase.WAITING and "cpu 64 requested, 4 free" in write.status.reason


def test_expired_lease_marks_the_run_lost_and_fails_the_project():
    runs = [make_run(1, "a", 0, "Running")]
    obs = observation(make_project(), PIPE, runs, holders={"proj.1.a": None}, lock_mine=True)
    actions = decide(obs)
    assert kinds(actions) == ["MarkLost", "WriteStatus"]
    assert actions[0].run.phase is StageRunPhase.LOST and "node a" in actions[0].run.message
    assert actions[1].status.phase is ProjectPhase.FAILED and "node a" in actions[1].status.reason


def test_live_lease_is_left_alone_once_the_status_is_current():
    runs = [make_run(1, "a", 0, "Running")]
    (write,) = decide(observation(make_project(), PIPE, runs, lock_mine=True))
    assert write.status.phase is ProjectPhase.RUNNING and "running on a" in write.status.reason
    assert decide(observation(make_project(), PIPE, runs, status=write.status)) == []


def test_node_that_no_longer_fits_calls_a_new_election():
    status = ProjectStatus(
        project="proj", phase=ProjectPhase.RUNNING, reason="starting stage 'a'", current_stage="a"
    )
    obs = observation(make_project(), PIPE, status=status, result=won(), free=Amount(0, 0, 0))
    assert kinds(decide(obs)) == ["StartElection"]


def test_deleted_project_kills_its_running_stage_once():
    runs = [make_run(1, "a", 0, "Running"), make_run(2, "b", 1, "Succeeded")]
    obs = observation(make_project(), PIPE, runs)
    gone = Observation(**{**obs.__dict__, "project": None})
    assert decide(gone) == [pa.Kill("proj.1.a"), pa.Requeue(6.0)]
    killed = Observation(**{**gone.__dict__, "killed": frozenset({"proj.1.a"})})
    assert decide(killed) == [pa.Requeue(6.0)], "revisited until the run has ended"


def test_deleted_project_whose_node_died_gets_its_run_marked_lost():
    runs = [make_run(1, "a", 0, "Running")]
    gone = Observation(
        **{**observation(make_project(), PIPE, runs, holders={"proj.1.a": None}).__dict__, "project": None}
    )
    assert kinds(decide(gone)) == ["AcquireLock"]
    (lost,) = decide(Observation(**{**gone.__dict__, "lock_mine": True}))
    assert lost.run.phase is StageRunPhase.LOST


def test_waiting_reason_is_kept_while_the_next_election_runs():
    waiting = ProjectStatus(
        project="proj", phase=ProjectPhase.WAITING, reason="no node fits stage 'a' now (x)", current_stage="a"
    )
    assert kinds(decide(observation(make_project(), PIPE, status=waiting, election_open=True))) == ["Requeue"]


def test_run_numbers_are_never_reused():
    obs = Observation(
        **{**observation(make_project(), PIPE, result=won(), lock_mine=True).__dict__, "next_number": 7}
    )
    assert decide(obs)[0].run.metadata.name == "proj.7.a"


def test_an_expired_election_does_not_block_the_project():
    """Its starter died: on this node's clock the window and the grace have passed."""
    ctx = SimpleNamespace(
        events=SimpleNamespace(monotonic=lambda: MONO), config=SimpleNamespace(grace_seconds=1.0)
    )
    started = won("dead", stopped_ago=0.5)
    assert not expired(ctx, started)
    assert expired(ctx, won("dead", stopped_ago=10)), "a new election may start, superseding it"


def test_a_file_not_visible_yet_is_looked_for_again_and_nothing_else_is_decided():
    waiting = replace(
        observation(make_project(), PIPE, lock_mine=True), waiting="status is at version 1, the log says 2"
    )
    assert decide(waiting) == [pa.Requeue(0.2)]


def test_an_election_whose_starter_went_silent_is_superseded_by_number():
    silent = replace(observation(make_project(), PIPE), stale_election=41)
    assert decide(silent) == [pa.StartElection(Amount(cpu=1, memory=256 << 20), supersedes=41)]


def test_a_status_written_under_the_lock_carries_the_next_version_and_the_decision_time():
    obs = replace(observation(make_project(), PIPE, lock_mine=True), status_version=6)
    (write,) = [a for a in decide(obs) if isinstance(a, pa.WriteStatus)]
    assert write.status.version == 7 and write.status.updated == ts(obs.now)
