"""A stage's nodeSelector in the project's decision: the election carries it, the winner checks it
before it creates the run, and a stage no live node matches says so in the project's reason."""

from dataclasses import replace

from tests.reconcilers.builders import MONO, T0, make_pipeline, make_project, observation, won
from tests.reconcilers.purity import pure
from winslow.controller.election import Election, ballot
from winslow.reconcilers.project import actions as pa
from winslow.reconcilers.project.decide import decide as decision
from winslow.resources.amount import Amount
from winslow.resources.project import ProjectPhase

decide = pure(decision)

A100 = {"gpu": "a100"}
PIPE = make_pipeline("train", train={"nodeSelector": A100})


def test_the_election_carries_the_stages_selector() -> None:
    (start,) = decide(observation(make_project(), PIPE))
    assert isinstance(start, pa.StartElection) and start.selector == A100
    (plain,) = decide(observation(make_project(), make_pipeline("train")))
    assert isinstance(plain, pa.StartElection) and not plain.selector


def test_the_winner_creates_the_run_only_if_its_labels_match() -> None:
    obs = observation(make_project(), PIPE, result=won(), lock_mine=True)
    matching = decide(replace(obs, labels={"gpu": "a100", "disk": "ssd"}))
    assert [type(a).__name__ for a in matching] == ["CreateRun", "WriteStatus"]
    other = decide(replace(obs, labels={"gpu": "t4"}))
    assert not any(isinstance(a, pa.CreateRun) for a in other), "a won election is no licence to ignore it"


def test_a_stage_no_live_node_matches_waits_and_names_the_selector() -> None:
    free = Amount(8, 32 << 30, 0)
    no_match = Election(
        subject="project/proj",
        starter="a",
        seq=100,
        started=T0 + 99,
        duration=1.0,
        request=Amount(1, 256 << 20, 0),
        selector=A100,
        ballots={
            "a": ballot(free, Amount(1, 0, 0), labels={"gpu": "t4"}, selector=A100),
            "b": ballot(free, Amount(1, 0, 0), labels={}, selector=A100),
        },
        winner=None,
        stopped=T0 + 99.5,
        stop_seq=102,
        observed=MONO - 1,
        stop_observed=MONO - 0.5,
    )
    (write,) = decide(observation(make_project(), PIPE, result=no_match, lock_mine=True))
    assert isinstance(write, pa.WriteStatus) and write.status.phase is ProjectPhase.WAITING
    assert "no live node has labels gpu=a100: a has gpu=t4, b has no labels" in write.status.reason
