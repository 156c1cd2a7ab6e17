from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.election import ElectionTable, ballot, winner
from winslow.controller.events import Ballot, Command, Event
from winslow.resources.amount import Amount, Weights

GI = 1 << 30
# The thesis's worked example (Tables 6.2-6.4): free (cpu, memory, gpu) per node.
NODES = {
    "node-1": Amount(4, 16 * GI, 0),
    "node-2": Amount(12, 58 * GI, 0),
    "node-3": Amount(4, 50 * GI, 1),
}


def elect(request: Amount, nodes: dict[str, Amount] = NODES) -> str | None:
    return winner({name: ballot(free, request) for name, free in nodes.items()})


def test_worked_example_winners():
    assert elect(Amount(2, 16 * GI, 0)) == "node-1"
    assert elect(Amount(4, 48 * GI, 0)) == "node-2"
    assert elect(Amount(4, 16 * GI, 1)) == "node-3"


def test_worked_example_scores_follow_the_formula():
    # Node 2, Ex1: the thesis table disagrees with its own formula; the formula wins.
    b = ballot(NODES["node-2"], Amount(2, 16 * GI, 0))
    assert b.fits
    assert abs(b.aversion - 10 / 12) < 1e-9
    assert abs(b.affinity - min(2 / 12, 16 / 58)) < 1e-9


def test_cpu_stage_avoids_gpu_node_until_cpu_nodes_are_gone():
    request = Amount(2, 4 * GI, 0)
    assert elect(request, {"cpu": Amount(8, 32 * GI, 0), "gpu": Amount(8, 32 * GI, 2)}) == "cpu"
    assert elect(request, {"gpu": Amount(8, 32 * GI, 2)}) == "gpu"


def test_node_that_does_not_fit_says_which_resource_is_short():
    b = ballot(Amount(4, 16 * GI, 0), Amount(2, 8 * GI, 1))
    assert not b.fits and "gpu 1 requested, 0 free" in b.reason
    assert elect(Amount(64, GI, 0)) is None


def test_multiplier_scales_the_category():
    plain = ballot(Amount(4, 16 * GI, 1), Amount(2, 8 * GI, 0))
    heavy = ballot(Amount(4, 16 * GI, 1), Amount(2, 8 * GI, 0), Weights(1, 1, 0.5))
    assert plain.aversion == 1.0 and heavy.aversion < plain.aversion


amounts = st.builds(
    Amount,
    cpu=st.integers(0, 64).map(float),
    memory=st.integers(0, 256).map(lambda g: g * GI),
    gpu=st.integers(0, 4),
)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), amounts, min_size=1), amounts)
def test_winner_fits_and_is_best(nodes, request):
    ballots = {n: ballot(free, request) for n, free in nodes.items()}
    chosen = winner(ballots)
    fitting = {n for n, b in ballots.items() if b.fits}
    if not fitting:
        assert chosen is None
        return
    assert chosen in fitting
    for name in fitting:
        assert (ballots[chosen].aversion, -ballots[chosen].affinity, chosen) <= (
            ballots[name].aversion,
            -ballots[name].affinity,
            name,
        )
    for name, free in nodes.items():
        fits = all(request.get(c) <= free.get(c) for c in ("cpu", "memory", "gpu"))
        assert ballots[name].fits == fits


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), amounts, min_size=1), amounts)
def test_winner_does_not_depend_on_order(nodes, request):
    ballots = {n: ballot(free, request) for n, free in nodes.items()}
    assert winner(dict(reversed(list(ballots.items())))) == winner(ballots)


def ev(command, issuer, t, seq=0, **kw):
    return Event(issuer=issuer, command=command, subject="project/p", timestamp=t, seq=seq, **kw)


def test_election_rules():
    table = ElectionTable()
    start = ev(Command.ELECTION_START, "a", 0.0, duration=2.0, request=Amount(1, 0, 0))
    assert table.check(start) is None
    table.apply(start)
    assert "open" in (table.check(ev(Command.ELECTION_START, "b", 1.0, duration=2.0, request=Amount())) or "")
    vote = ev(Command.ELECTION_PARTICIPATE, "b", 0.5, ballot=Ballot(True, 0.1, 0.2))
    assert table.check(vote) is None
    table.apply(vote)
    assert "already" in (table.check(vote) or "")
    assert "only a" in (table.check(ev(Command.ELECTION_STOP, "b", 0.6, winner="b")) or "")
    assert "did not take part" in (table.check(ev(Command.ELECTION_STOP, "a", 0.6, winner="c")) or "")
    stop = ev(Command.ELECTION_STOP, "a", 0.7, winner="b")
    assert table.check(stop) is None
    table.apply(stop)
    assert table.results["project/p"].winner == "b" and "project/p" not in table.open


def test_an_election_is_replaced_only_by_one_that_names_it_whatever_the_clocks_say():
    """Expiry is judged by the node that takes over, on its own clock; the fold only checks
    that the new START names the open election, so every node agrees on which one is open."""
    table = ElectionTable()
    table.apply(ev(Command.ELECTION_START, "a", 1000.0, seq=7, duration=2.0, request=Amount()))
    in_the_past = ev(Command.ELECTION_START, "b", 0.0, seq=8, duration=2.0, request=Amount())
    assert "open" in (table.check(in_the_past) or ""), "a START far in the future by a's clock is no excuse"
    takeover = ev(Command.ELECTION_START, "b", 0.0, seq=8, duration=2.0, request=Amount(), supersedes=7)
    assert table.check(takeover) is None
    table.apply(takeover)
    assert table.open["project/p"].starter == "b"
    assert "only b" in (table.check(ev(Command.ELECTION_STOP, "a", 5.0, winner=None)) or ""), (
        "the old starter can no longer close it"
    )
