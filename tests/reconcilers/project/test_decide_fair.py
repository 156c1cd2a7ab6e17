"""Quotas and priorities in the Project reconciler's decision (issue 22): a stage over a quota
enters no election and says which quota and who holds it; a stage defers to another project's
that ranks higher and that this node has room for; its place in the queue keeps its time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tests.reconcilers.builders import T0, make_pipeline, make_project, make_run, observation, ts
from tests.reconcilers.purity import pure
from winslow.reconcilers.project import actions as pa
from winslow.reconcilers.project.decide import decide as decision
from winslow.reconcilers.project.quotas import uses
from winslow.resources.amount import Amount
from winslow.resources.project import QueueEntry, QueueReason
from winslow.resources.quota import Quota

decide = pure(decision)
PIPE = make_pipeline("a", a={"resources": {"cpu": 1, "memory": "256Mi", "gpu": 1}})
GPU_FREE = Amount(4, 8 << 30, 1)


def written(actions: list[object]) -> pa.WriteStatus:
    (status,) = [a for a in actions if isinstance(a, pa.WriteStatus)]
    return status


def entry(priority: int, *, owner: str = "bob", gpu: int = 1, since: datetime | None = None) -> QueueEntry:
    return QueueEntry(
        stage="train",
        request=Amount(1, 256 << 20, gpu).wire(),
        priority=priority,
        owner=owner,
        since=since or ts(T0),
        why=QueueReason.NO_FIT,
    )


def test_a_stage_over_its_quota_enters_no_election_and_names_the_quota_and_who_holds_it():
    quota = Quota.model_validate(
        {"metadata": {"name": "gpu-alice"}, "spec": {"user": "alice", "hard": {"gpu": 1}}}
    )
    held = replace(
        make_run(1, "a", 0, "Running"),
        project="other",
        name="other.1.a",
        owner="alice",
        request=Amount(1, 0, 1),
    )
    project = make_project(owner="alice")
    obs = replace(observation(project, PIPE, free=GPU_FREE), quotas=uses([quota], [held], {}))
    assert not [a for a in decide(obs) if isinstance(a, pa.StartElection)]
    status = written(decide(replace(obs, lock_mine=True))).status
    assert status.phase.value == "Waiting"
    assert "quota gpu-alice: gpu 1 of 1 in use by other.1.a" in status.reason
    assert status.queue is not None and status.queue.why is QueueReason.QUOTA


def test_a_stage_defers_to_a_higher_priority_that_this_node_has_room_for():
    obs = replace(observation(make_project(owner="alice"), PIPE, free=GPU_FREE), queue=(("vip", entry(10)),))
    status = written(decide(replace(obs, lock_mine=True))).status
    assert "waits behind stage 'train' of project vip (priority 10)" in status.reason
    assert status.queue is not None and status.queue.why is QueueReason.BEHIND
    assert not [a for a in decide(obs) if isinstance(a, pa.StartElection)]


def test_one_that_fits_nowhere_here_or_wants_another_kind_of_node_holds_nothing_back():
    too_big = entry(10).model_copy(update={"request": Amount(64, 256 << 20, 1).wire()})
    cpu_only = entry(10, gpu=0)
    for ahead in (too_big, cpu_only):
        obs = replace(observation(make_project(owner="alice"), PIPE, free=GPU_FREE), queue=(("vip", ahead),))
        assert [type(a) for a in decide(obs)] == [pa.StartElection]


def test_the_same_owner_first_come_first_served_and_other_owners_race():
    mine_earlier = entry(0, owner="alice", since=ts(T0 - 60))
    theirs_earlier = entry(0, owner="bob", since=ts(T0 - 60))
    project = make_project(owner="alice")
    deferring = replace(observation(project, PIPE, free=GPU_FREE), queue=(("alice-old", mine_earlier),))
    assert not [a for a in decide(deferring) if isinstance(a, pa.StartElection)]
    racing = replace(observation(project, PIPE, free=GPU_FREE), queue=(("bob-old", theirs_earlier),))
    assert [type(a) for a in decide(racing)] == [pa.StartElection]


def test_a_waiting_stage_keeps_the_time_it_began_to_wait():
    obs = replace(
        observation(make_project(owner="alice"), PIPE, free=GPU_FREE, lock_mine=True),
        queue=(("vip", entry(10)),),
    )
    first = written(decide(obs)).status
    later = replace(obs, now=obs.now + 30, status=first)
    again = decide(later)
    kept = [a for a in again if isinstance(a, pa.WriteStatus)]
    assert not kept or kept[0].status.queue.since == first.queue.since
