from dataclasses import replace

from tests.reconcilers.builders import T0, make_run
from tests.reconcilers.purity import pure
from winslow.controller.events import Command, Event
from winslow.controller.runtime import ContainerInfo, ContainerState
from winslow.reconcilers.stagerun.actions import Report
from winslow.reconcilers.stagerun.decide import DRAIN_LIMIT, REPORT_EVERY, RUNTIME_LIMIT_SLACK
from winslow.reconcilers.stagerun.decide import decide as decision
from winslow.reconcilers.stagerun.observe import Observation, Seen
from winslow.resources.stagerun import StageRun, StageRunPhase

decide = pure(decision)


def spec_file(timeout: float | None = None) -> StageRun:
    return StageRun.model_validate(
        {
            "metadata": {"name": "proj.1.a"},
            "spec": {"project": "proj", "stage": "a", "index": 0, "image": "img", "timeoutSeconds": timeout},
        }
    )


def obs(record, container=None, *, lease=True, kill=None, watching=False, node="a", run=None, **more):
    return Observation(
        name="proj.1.a",
        record=record,
        run=run or spec_file(),
        node=node,
        now=T0 + 10,
        container=container,
        lease_mine=lease,
        kill=kill,
        watching=watching,
        **more,
    )


def box(state=ContainerState.RUNNING, code=None, oom=False, finished=None):
    return ContainerInfo(
        id="c1", name="n", labels={}, state=state, exit_code=code, oom_killed=oom, finished_at=finished
    )


def kinds(actions):
    return [type(a).__name__ for a in actions]


def test_pending_without_container_starts_it():
    assert kinds(decide(obs(make_run(1, "a", 0, "Pending")))) == ["Start"]


def test_running_container_is_watched_and_adopted():
    assert kinds(decide(obs(make_run(1, "a", 0, "Pending"), box()))) == ["MarkRunning", "Watch", "Requeue"]
    assert kinds(decide(obs(make_run(1, "a", 0, "Running"), box(), watching=True))) == ["Requeue"]


def test_container_created_but_never_started_is_started():
    actions = decide(obs(make_run(1, "a", 0, "Pending"), box(ContainerState.CREATED)))
    assert kinds(actions) == ["StartCreated", "MarkRunning", "Watch", "Requeue"]


def test_exit_codes_become_results():
    running = make_run(1, "a", 0, "Running")
    (done,) = decide(obs(running, box(ContainerState.EXITED, 0), drained=True))
    assert done.phase is StageRunPhase.SUCCEEDED
    (failed,) = decide(obs(running, box(ContainerState.EXITED, 3), drained=True))
    assert failed.phase is StageRunPhase.FAILED and failed.exit_code == 3
    (oom,) = decide(obs(running, box(ContainerState.EXITED, 137, oom=True), drained=True))
    assert "out of memory" in oom.message


def test_lost_lease_fences_the_container():
    actions = decide(obs(make_run(1, "a", 0, "Running"), box(), lease=False))
    assert kinds(actions) == ["Stop", "Requeue"] and "fencing" in actions[0].why


def test_kill_stops_and_records_who():
    kill = Event(
        issuer="b", command=Command.KILL, subject="stagerun/proj.1.a", timestamp=T0 + 5, message="alice"
    )
    actions = decide(obs(make_run(1, "a", 0, "Running"), box(), kill=kill))
    assert kinds(actions) == ["Stop", "Requeue"] and "alice" in actions[0].why
    ended = box(ContainerState.EXITED, 137)
    assert kinds(decide(obs(make_run(1, "a", 0, "Running"), ended, kill=kill, watching=True))) == ["Requeue"]
    (killed,) = decide(obs(make_run(1, "a", 0, "Running"), ended, kill=kill, drained=True))
    assert killed.phase is StageRunPhase.KILLED and "alice" in killed.message
    never_started = decide(obs(make_run(1, "a", 0, "Pending"), box(ContainerState.CREATED), kill=kill))
    assert kinds(never_started) == ["Stop", "Finish"], "no output to wait for"


def test_ended_or_foreign_runs_stop_orphans():
    assert kinds(decide(obs(make_run(1, "a", 0, "Lost"), box()))) == ["Stop", "Forget"]
    assert kinds(decide(obs(make_run(1, "a", 0, "Running"), box(), node="b"))) == ["Stop"]
    assert kinds(decide(obs(None, box()))) == ["Stop", "Forget"], "a run the log does not know is let go"
    assert kinds(decide(obs(None))) == ["Forget"]


def test_a_pending_run_whose_file_is_not_visible_yet_is_waited_for():
    pending = Observation(**{**obs(make_run(1, "a", 0, "Pending")).__dict__, "run": None})
    assert kinds(decide(pending)) == ["Requeue"]


def test_vanished_container_fails_the_run():
    (fail,) = decide(obs(make_run(1, "a", 0, "Running")))
    assert fail.phase is StageRunPhase.FAILED and "disappeared" in fail.message


def test_timeout_stops_and_fails_once_the_log_is_in():
    record = make_run(1, "a", 0, "Running", startTime="2027-01-15T08:00:00Z")
    actions = decide(obs(record, box(), run=spec_file(timeout=1.0)))
    assert kinds(actions) == ["Stop", "Requeue"] and "timeout" in actions[0].why
    stopped = box(ContainerState.EXITED, 143, finished=T0 + 9)
    (failed,) = decide(obs(record, stopped, run=spec_file(timeout=1.0), drained=True))
    assert failed.phase is StageRunPhase.FAILED and "timed out after 1s" in failed.message
    ok = box(ContainerState.EXITED, 0, finished=T0 + 9)
    (done,) = decide(obs(record, ok, run=spec_file(timeout=1.0), drained=True))
    assert done.phase is StageRunPhase.SUCCEEDED, "a stage that succeeded before it was stopped succeeded"


def test_a_runtime_that_enforces_the_limit_ends_the_run_and_says_why():
    """Slurm ends a job at its `--time` (whole minutes) and checks now and then: the node stops it
    only well past that, and the runtime's reason leads the message."""
    record = make_run(1, "a", 0, "Running", startTime="2027-01-15T08:00:00Z")
    limited = replace(box(), time_limit=60.0)
    actions = decide(obs(record, limited, run=spec_file(timeout=3.0)))
    assert "Stop" not in kinds(actions)
    late = obs(record, limited, run=spec_file(timeout=3.0))
    late = replace(late, now=T0 + 60 + RUNTIME_LIMIT_SLACK + 1)
    assert kinds(decide(late))[0] == "Stop", "a runtime that did not end it is stopped by the node"
    why = "the Slurm job reached its time limit of 1 min (TIMEOUT)"
    ended = replace(box(ContainerState.EXITED, 143, finished=T0 + 9), ended_by=why, time_limit=60.0)
    (failed,) = decide(obs(record, ended, run=spec_file(timeout=3.0), drained=True, last_lines=("tick",)))
    assert failed.phase is StageRunPhase.FAILED and failed.exit_code == 143
    assert failed.message == f"{why}; last log lines: tick"


def test_an_ended_run_is_recorded_only_once_its_log_is_complete():
    """The streamer copies on its own thread and says when the log is complete; until then the
    run is looked at again, and a node that restarted starts a streamer to finish the copy."""
    running, ended = make_run(1, "a", 0, "Running"), box(ContainerState.EXITED, 0, finished=T0 + 5)
    assert kinds(decide(obs(running, ended, watching=True))) == ["Requeue"]
    restarted = decide(obs(running, ended, watching=False))
    assert kinds(restarted) == ["Watch", "Requeue"] and restarted[0].container_id == "c1"
    (done,) = decide(obs(running, ended, watching=False, drained=True))
    assert done.phase is StageRunPhase.SUCCEEDED and not done.note


def test_a_drain_that_takes_too_long_finishes_anyway_and_says_so():
    running = make_run(1, "a", 0, "Running")
    now = T0 + 10  # obs(): the observation's time; decide reads no clock
    long_ago = box(ContainerState.EXITED, 0, finished=now - DRAIN_LIMIT - 1)
    (late,) = decide(obs(running, long_ago, watching=True))
    assert late.phase is StageRunPhase.SUCCEEDED and "still being copied" in late.note
    # counted from when the streamer began, if later: a node restarted long after the exit
    restarted = obs(running, long_ago, watching=True, drain_since=now - 5)
    assert kinds(decide(restarted)) == ["Requeue"]
    assert kinds(decide(obs(running, long_ago, watching=False))) == ["Watch", "Requeue"], (
        "never without a streamer at work in this process"
    )
    unknown = box(ContainerState.EXITED, 0)  # a runtime that does not say when it ended: waited for
    assert kinds(decide(obs(running, unknown, watching=True))) == ["Requeue"]


def test_a_start_in_progress_is_waited_for_and_its_outcome_recorded():
    from datetime import UTC, datetime

    from winslow.reconcilers.stagerun.start import Outcome

    pending = make_run(1, "a", 0, "Pending")
    assert kinds(decide(obs(pending, starting=True))) == ["Requeue"], "the start thread hands over"
    failed = obs(pending, outcome=Outcome(failure="could not start: no such image"))
    (finish,) = decide(failed)
    assert finish.phase is StageRunPhase.FAILED and "no such image" in finish.message
    assert kinds(decide(obs(pending, outcome=Outcome(deferred="No space left on device")))) == ["Defer"]
    at = datetime(2026, 11, 29, tzinfo=UTC)
    started = obs(pending, box(), outcome=Outcome(container_id="c1", started=at))
    mark, *_ = decide(started)
    assert mark.container_id == "c1" and mark.started == at, "the start time the thread saw"


def test_a_container_that_ended_before_its_start_was_recorded_is_marked_running_first():
    actions = decide(obs(make_run(1, "a", 0, "Pending"), box(ContainerState.EXITED, 0)))
    assert kinds(actions) == ["MarkRunning", "Watch", "Requeue"] and actions[-1].after == 0.0


def test_what_a_running_stage_reports_is_recorded_at_most_every_few_seconds():
    running = replace(make_run(1, "a", 0, "Running"), results={"loss": "0.5"}, recorded_at=T0 + 8)
    seen = Seen({"loss": "0.4", "epoch": "3"}, 40.0)
    assert kinds(decide(obs(running, box(), watching=True, seen=seen))) == ["Requeue"], "recorded 2 s ago"
    later = replace(running, recorded_at=T0 + 10 - REPORT_EVERY)
    report = decide(obs(later, box(), watching=True, seen=seen))[0]
    assert report == Report({"loss": "0.4", "epoch": "3"}, 40.0)
    nothing_new = Seen({"loss": "0.5"}, None)
    assert kinds(decide(obs(later, box(), watching=True, seen=nothing_new))) == ["Requeue"]


def test_the_end_records_everything_reported_and_keeps_what_a_restart_did_not_read_again():
    recorded = replace(make_run(1, "a", 0, "Running"), results={"before": "restart"}, progress=10.0)
    ended = box(ContainerState.EXITED, 0, finished=T0 + 9)
    (done,) = decide(obs(recorded, ended, watching=True, drained=True, seen=Seen({"after": "1"}, 100.0)))
    assert done.phase is StageRunPhase.SUCCEEDED
    assert (done.results, done.progress) == ({"before": "restart", "after": "1"}, 100.0)
    (plain,) = decide(obs(recorded, ended, watching=True, drained=True))
    assert plain.results is None, "nothing read in this process: the record keeps what it has"


def test_a_failed_run_says_the_end_of_its_log():
    failed = box(ContainerState.EXITED, 2, finished=T0 + 9)
    lines = ("reading input", "Traceback: KeyError 'x'")
    (done,) = decide(
        obs(make_run(1, "a", 0, "Running"), failed, watching=True, drained=True, last_lines=lines)
    )
    assert done.message == "last log lines: reading input | Traceback: KeyError 'x'"


def test_a_job_waiting_in_its_runtimes_queue_stays_pending_and_is_watched():
    pending = make_run(1, "a", 0, "Pending")
    actions = decide(obs(pending, box(ContainerState.QUEUED)))
    assert kinds(actions) == ["Watch", "Requeue"], "no MarkRunning: it does not run yet"
    assert kinds(decide(obs(pending, box(ContainerState.QUEUED), watching=True))) == ["Requeue"]
    kill = Event(issuer="b", command=Command.KILL, subject="stagerun/proj.1.a", timestamp=T0, message="alice")
    killed = decide(obs(pending, box(ContainerState.QUEUED), kill=kill))
    assert kinds(killed) == ["Stop", "Finish"], "cancelled in the queue: nothing to drain"
