"""Node selectors in elections: only nodes with a stage's labels fit, the others still vote (so
the election closes as soon as every live node voted), and a stage no node matches says why."""

from winslow.controller.election import Election, ElectionTable, ballot, winner
from winslow.controller.elector import Close, Vote, duties
from winslow.controller.events import Ballot, Command, Event
from winslow.controller.logstate import LogState
from winslow.resources.amount import Amount, Weights

FREE = Amount(8, 32 << 30, 1)
REQUEST = Amount(1, 1 << 30, 0)
A100 = {"gpu": "a100"}
W = Weights()


def test_a_node_without_the_selected_labels_does_not_fit_and_says_which_it_has() -> None:
    miss = ballot(FREE, REQUEST, labels={"gpu": "t4", "disk": "ssd"}, selector=A100)
    assert not miss.fits
    assert miss.labels == {"gpu": "t4", "disk": "ssd"}
    assert miss.reason == "labels disk=ssd,gpu=t4 do not match nodeSelector gpu=a100"
    bare = ballot(FREE, REQUEST, labels={}, selector=A100)
    assert not bare.fits and bare.labels == {} and "labels (none)" in bare.reason


def test_a_matching_node_is_scored_as_without_a_selector() -> None:
    plain = ballot(FREE, REQUEST)
    matched = ballot(FREE, REQUEST, labels={"gpu": "a100", "disk": "ssd"}, selector=A100)
    assert matched == plain and matched.fits and matched.labels is None
    assert ballot(FREE, REQUEST, labels={"gpu": "t4"}, selector={}) == plain, "no selector: any node"


def test_a_matching_node_that_is_short_says_what_is_short() -> None:
    short = ballot(Amount(8, 32 << 30, 0), Amount(1, 0, 1), labels=A100, selector=A100)
    assert not short.fits and short.labels is None and "gpu 1 requested" in short.reason


def test_the_winner_is_the_best_of_the_matching_nodes() -> None:
    ballots = {
        "big": ballot(Amount(64, 256 << 30, 0), REQUEST, labels={"gpu": "t4"}, selector=A100),
        "small": ballot(Amount(2, 4 << 30, 0), REQUEST, labels=A100, selector=A100),
    }
    assert winner(ballots) == "small"


def _open(selector: dict[str, str] | None, starter: str = "a") -> ElectionTable:
    table = ElectionTable()
    start = Event(
        issuer=starter,
        command=Command.ELECTION_START,
        subject="project/p",
        timestamp=0.0,
        duration=2.0,
        request=REQUEST,
        selector=selector,
        seq=1,
    )
    assert table.check(start) is None
    table.apply(start, observed=100.0)
    return table


def test_duties_vote_by_the_selector_and_close_once_every_live_node_voted() -> None:
    table = _open(A100, starter="a")
    assert table.open["project/p"].selector == A100
    (vote,) = duties(table, "b", True, FREE, W, {"a", "b"}, 100.1, 5.0, {"gpu": "a100"})
    assert isinstance(vote, Vote) and vote.ballot.fits
    mine = duties(table, "a", True, FREE, W, {"a", "b"}, 100.1, 5.0, {"gpu": "t4"})
    assert isinstance(mine[0], Vote) and not mine[0].ballot.fits and mine[0].ballot.labels == {"gpu": "t4"}
    assert mine[1:] == [], "b has not voted yet"
    table.apply(Event("b", Command.ELECTION_PARTICIPATE, "project/p", 0.1, ballot=vote.ballot, seq=2))
    closing = duties(table, "a", True, FREE, W, {"a", "b"}, 100.2, 5.0, {"gpu": "t4"})
    assert closing == [Vote("project/p", mine[0].ballot), Close("project/p", "b")], (
        "the starter votes that it does not fit and closes at once: every live node voted"
    )


def test_a_node_without_labels_votes_no_on_a_selecting_election_and_yes_on_others() -> None:
    (no,) = duties(_open(A100, "x"), "b", True, FREE, W, {"b"}, 100.1, 5.0)
    assert isinstance(no, Vote) and not no.ballot.fits
    (yes,) = duties(_open(None, "x"), "b", True, FREE, W, {"b"}, 100.1, 5.0)
    assert isinstance(yes, Vote) and yes.ballot.fits


def _closed(selector: dict[str, str], ballots: dict[str, Ballot]) -> Election:
    return Election("project/p", "a", 1, 0.0, 2.0, REQUEST, selector=selector, ballots=ballots)


def test_shortage_names_the_selector_and_each_nodes_labels_when_no_node_matches() -> None:
    election = _closed(
        A100,
        {
            "node-b": ballot(FREE, REQUEST, labels={}, selector=A100),
            "node-a": ballot(FREE, REQUEST, labels={"gpu": "t4"}, selector=A100),
        },
    )
    assert election.shortage() == "no live node has labels gpu=a100: node-a has gpu=t4, node-b has no labels"


def test_shortage_names_each_nodes_reason_when_a_matching_node_is_short() -> None:
    election = _closed(
        {"gpu": "a100"},
        {
            "node-a": ballot(FREE, REQUEST, labels={"gpu": "t4"}, selector=A100),
            "node-b": ballot(Amount(8, 32 << 30, 0), Amount(1, 0, 1), labels=A100, selector=A100),
        },
    )
    assert election.shortage() == (
        "node-a: labels gpu=t4 do not match nodeSelector gpu=a100; node-b: gpu 1 requested, 0 free"
    )
    assert _closed(A100, {}).shortage() == "no executing node took part"


def test_the_selector_and_the_voters_labels_survive_the_wire_and_the_snapshot() -> None:
    start = Event("a", Command.ELECTION_START, "project/p", 1.0, 2.0, request=REQUEST, selector=A100, seq=1)
    miss = ballot(FREE, REQUEST, labels={"gpu": "t4"}, selector=A100)
    vote = Event("b", Command.ELECTION_PARTICIPATE, "project/p", 1.1, ballot=miss, seq=2)
    fit = Event("c", Command.ELECTION_PARTICIPATE, "project/p", 1.1, ballot=ballot(FREE, REQUEST), seq=3)
    for event in (start, vote, fit):
        assert Event.decode(event.encode(), event.seq) == event
    assert b"labels" not in fit.encode(), "a ballot that fits carries no labels"
    plain = Event("a", Command.ELECTION_START, "project/q", 1.0, 2.0, request=REQUEST, seq=1)
    assert b"selector" not in plain.encode(), "an election without a selector is written as before"
    state = LogState()
    for event in (start, vote, fit):
        assert state.check(event) is None, event
        state.apply(event)
    again = LogState.from_snapshot(state.to_snapshot(), observed=0.0)
    assert again.to_snapshot() == state.to_snapshot()
    election = again.elections.open["project/p"]
    assert (
        election.selector == A100 and election.ballots["b"] == miss and election.ballots["c"].labels is None
    )
