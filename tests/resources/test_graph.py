"""The stage graph (resources.graph): needs, validation at the field, and what may start now."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.resources.graph import (
    Graph,
    GraphError,
    Problem,
    Readiness,
    State,
    graph,
    problems,
    readiness,
)

pytestmark = pytest.mark.timeout(60)

F, S, X, R = State.FINISHED, State.SKIPPED, State.FAILED, State.RUNNING

# prep → train → {good, bad} (XOR on train's verdict) → report (join)
BRANCHED = [
    ("prep", None),
    ("train", None),
    ("good", ["train"]),
    ("bad", ["train"]),
    ("report", ["good", "bad"]),
]


def fields(found: list[Problem]) -> list[str]:
    return [p.field for p in found]


# ---------------------------------------------------------------------------------- needs


def test_a_stage_without_needs_needs_the_one_before_it_so_a_line_stays_a_line():
    line = graph([("a", None), ("b", None), ("c", None)])
    assert [s.needs for s in line.stages] == [(), ("a",), ("b",)]
    assert [s.implicit for s in line.stages] == [True, True, True]
    assert line.order() == ("a", "b", "c")


def test_empty_needs_starts_at_once_and_several_needs_make_a_join():
    g = graph([("a", None), ("b", []), ("c", ["a", "b"])])
    assert g.stage("b").needs == () and not g.stage("b").implicit
    assert readiness(g, {}).ready == ("a", "b"), "both start at once"
    assert g.needed_by("a") == ("c",) and g.upstream("c") == {"a", "b"}


def test_needs_may_point_forward_in_the_list():
    g = graph([("report", ["train"]), ("train", [])])
    assert g.order() == ("train", "report")
    assert readiness(g, {}).ready == ("train",)


def test_upstream_downstream_and_order_of_a_branched_pipeline():
    g = graph(BRANCHED)
    assert g.order() == ("prep", "train", "good", "bad", "report")
    assert g.downstream("train") == {"good", "bad", "report"}
    assert g.downstream("good") == {"report"}
    assert g.upstream("report") == {"prep", "train", "good", "bad"}
    assert g.upstream("prep") == frozenset() and g.downstream("report") == frozenset()
    assert g.names == ("prep", "train", "good", "bad", "report")
    with pytest.raises(KeyError):
        g.stage("nope")


# ----------------------------------------------------------------------------- validation


def test_an_unknown_need_says_which_was_meant():
    found = problems([("train", []), ("report", ["trian"])], prefix="spec.stages")
    assert found == [
        Problem("spec.stages[1].needs[0]", "there is no stage 'trian'; did you mean 'train'?", 1)
    ]
    other = problems([("train", []), ("report", ["zzz"])])
    assert other[0].message == "there is no stage 'zzz'; the stages are train, report"


def test_a_self_need_and_a_need_listed_twice():
    found = problems([("a", []), ("b", ["a", "b", "a"])])
    assert fields(found) == ["stages[1].needs[1]", "stages[1].needs[2]"]
    assert "needs itself" in found[0].message and "listed twice" in found[1].message


def test_a_cycle_is_called_a_cycle_with_its_stages_at_the_need_to_remove():
    found = problems([("a", ["c"]), ("b", ["a"]), ("c", ["b"])])
    assert len(found) == 1
    assert found[0].field == "stages[0].needs[0]"
    assert found[0].message.startswith("stages a → c → b → a form a cycle")
    assert "'a' needing 'c'" in found[0].message


def test_a_cycle_through_an_omitted_needs_explains_it():
    found = problems([("a", ["b"]), ("b", None)])
    assert fields(found) == ["stages[0].needs[0]"]
    assert "stages a → b → a form a cycle" in found[0].message
    assert "'b' needs 'a' because it has no `needs` and comes after it" in found[0].message


def test_every_cycle_is_reported_once_and_problems_come_in_stage_order():
    stages = [("a", ["b"]), ("b", ["a"]), ("c", ["ghost"]), ("d", ["e"]), ("e", ["d"])]
    found = problems(stages)
    assert fields(found) == ["stages[0].needs[0]", "stages[2].needs[0]", "stages[3].needs[0]"]
    assert sum("cycle" in p.message for p in found) == 2


def test_a_name_used_twice():
    found = problems([("a", []), ("a", [])])
    assert fields(found) == ["stages[1].name"]


def test_graph_raises_with_every_problem():
    with pytest.raises(GraphError) as raised:
        graph([("a", ["a"]), ("b", ["zz"])])
    assert len(raised.value.problems) == 2
    assert str(raised.value).startswith("stages[0].needs[0]: stage 'a' needs itself")


def test_a_long_line_is_no_problem_for_the_checks():
    many = [(f"s{i}", None) for i in range(5000)]
    assert problems(many) == []
    assert len(graph(many).order()) == 5000
    looped = [("s0", ["s4999"]), *many[1:]]
    assert "form a cycle" in problems(looped)[0].message


# ------------------------------------------------------------------------------ readiness


def test_the_first_stages_are_ready_and_the_rest_wait():
    got = readiness(graph(BRANCHED), {})
    assert got == Readiness(("prep",), ("train", "good", "bad", "report"), (), {}, ())
    assert not got.settled


def test_both_branches_start_together_and_the_join_waits_for_both():
    g = graph(BRANCHED)
    assert readiness(g, {"prep": F, "train": F}).ready == ("good", "bad")
    assert readiness(g, {"prep": F, "train": F, "good": F, "bad": R}).waiting == ("report",)
    assert readiness(g, {"prep": F, "train": F, "good": F, "bad": F}).ready == ("report",)


def test_a_skipped_need_counts_as_done_so_the_join_after_an_xor_runs():
    g = graph(BRANCHED)
    got = readiness(g, {"prep": F, "train": F, "good": F, "bad": S})
    assert got.ready == ("report",)
    assert readiness(g, {"prep": S, "train": S, "good": S, "bad": S}).ready == ("report",)


def test_a_failure_blocks_everything_below_it_for_good_and_says_which():
    g = graph(BRANCHED)
    got = readiness(g, {"prep": F, "train": F, "good": X})
    assert got.ready == ("bad",) and got.blocked == ("report",)
    assert got.blocked_by == {"report": ("good",)}
    early = readiness(g, {"prep": X})
    assert early.blocked == ("train", "good", "bad", "report") and early.ready == ()
    assert early.blocked_by["report"] == ("prep",)
    assert early.settled, "nothing runs and nothing can start"


def test_blocked_by_names_every_failed_stage_above():
    g = graph([("a", []), ("b", []), ("c", ["a"]), ("d", ["b", "c"])])
    got = readiness(g, {"a": X, "b": X})
    assert got.blocked_by == {"c": ("a",), "d": ("a", "b")}


def test_states_of_stages_no_longer_in_the_pipeline_are_ignored():
    g = graph([("a", None)])
    assert readiness(g, {"removed": X}).ready == ("a",)


def test_running_and_settled():
    g = graph(BRANCHED)
    got = readiness(g, {"prep": F, "train": R})
    assert got.running == ("train",) and not got.settled
    done = readiness(g, dict.fromkeys(g.names, F))
    assert done.settled and done.ready == done.waiting == done.blocked == ()


# -------------------------------------------------------------------------------- properties


@st.composite
def dags(draw: st.DrawFn) -> list[tuple[str, list[str] | None]]:
    """A random DAG listed in a random order: needs point to stages earlier in a hidden
    topological order, wherever the list puts them; an omitted `needs` only where the stage
    before it in the list comes earlier in that order."""
    size = draw(st.integers(min_value=1, max_value=12))
    rank = draw(st.permutations(range(size)))  # the list position of the stage of topological rank i
    names = [f"s{i}" for i in range(size)]  # s{i} has topological rank i
    listed: list[tuple[str, list[str] | None]] = [("", None)] * size
    for i in range(size):
        needs = sorted(draw(st.sets(st.sampled_from(names[:i]), max_size=3))) if i else []
        listed[rank[i]] = (names[i], needs)
    for position in range(1, size):
        name, _ = listed[position]
        before = int(listed[position - 1][0][1:])
        if before < int(name[1:]) and draw(st.booleans()):
            listed[position] = (name, None)
    return listed


@given(dags())
def test_a_random_dag_is_never_a_cycle(stages):
    assert problems(stages) == []
    g = graph(stages)
    order = g.order()
    assert sorted(order) == sorted(g.names)
    placed = {name: i for i, name in enumerate(order)}
    assert all(placed[need] < placed[s.name] for s in g.stages for need in s.needs)


@given(dags(), st.randoms(use_true_random=False))
def test_a_back_edge_always_makes_a_cycle_with_both_stages_in_it(stages, rnd: random.Random):
    g = graph(stages)
    pairs = [(a, b) for a in g.names for b in g.upstream(a)]  # a needs b, through any path
    if not pairs:
        return
    a, b = rnd.choice(pairs)
    position = g.stage(b).index
    name = stages[position][0]
    resolved = list(g.stage(b).needs)
    stages = list(stages)
    stages[position] = (name, [*resolved, a])  # b now needs a, which needs b
    found = [p for p in problems(stages) if "form a cycle" in p.message]
    assert len(found) == 1, problems(stages)
    cycle = found[0].message.split("stages ", 1)[1].split(" form a cycle")[0].split(" → ")
    assert cycle[0] == cycle[-1] and {a, b} <= set(cycle)
    for x, y in itertools.pairwise(cycle):  # the cycle follows real needs
        assert y in graph_needs(stages, x)


def graph_needs(stages: list[tuple[str, list[str] | None]], name: str) -> list[str]:
    for position, (stage, needs) in enumerate(stages):
        if stage == name:
            return needs if needs is not None else ([stages[position - 1][0]] if position else [])
    raise KeyError(name)


states = st.sampled_from([State.NOT_STARTED, R, F, S, X])


@given(dags(), st.data())
def test_readiness_never_starts_a_stage_before_its_needs(stages, data):
    g = graph(stages)
    given_states = {name: data.draw(states, label=name) for name in g.names}
    got = readiness(g, given_states)
    not_started = [n for n in g.names if given_states[n] is State.NOT_STARTED]
    assert sorted(got.ready + got.waiting + got.blocked) == sorted(not_started), "each in exactly one"
    for name in got.ready:
        assert all(given_states[n] in (F, S) for n in g.stage(name).needs)
    for name in got.waiting:
        assert any(given_states[n] not in (F, S) for n in g.stage(name).needs)
    for name in got.blocked:
        culprits = got.blocked_by[name]
        assert culprits and all(given_states[c] is X and c in g.upstream(name) for c in culprits)
    assert got.running == tuple(n for n in g.names if given_states[n] is R)


@given(dags(), st.randoms(use_true_random=False))
def test_a_run_to_the_end_starts_each_stage_once_after_its_needs(stages, rnd: random.Random):
    """The scheduler's loop: start all that is ready, let running stages end at random (finished,
    skipped or failed); it always settles, and every stage ran or was blocked."""
    g = graph(stages)
    now: dict[str, State] = {}
    ended_at: dict[str, int] = {}
    started_at: dict[str, int] = {}
    for tick in range(4 * len(g.names) + 4):
        got = readiness(g, now)
        if got.settled:
            break
        for name in got.ready:
            assert name not in started_at
            started_at[name] = tick
            now[name] = R
        running = [n for n, s in now.items() if s is R]
        for name in rnd.sample(running, k=rnd.randint(1, len(running))) if running else []:
            now[name] = rnd.choice([F, F, F, S, X])
            ended_at[name] = tick
    final = readiness(g, now)
    assert final.settled
    assert set(started_at) | set(final.blocked) == set(g.names)
    for name, tick in started_at.items():
        assert all(ended_at[need] < tick for need in g.stage(name).needs)


def test_graph_is_frozen():
    g = graph([("a", None)])
    with pytest.raises(AttributeError):
        g.stages = ()  # type: ignore[misc]
    assert isinstance(g, Graph)
