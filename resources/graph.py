"""The stage graph of a pipeline: which stages each stage needs, whether that is a valid graph,
and, for the states the stages are in, which may start now and which never will.

A stage's `needs` is a list of stage names; a stage that does not say (None) needs the stage
before it in the list, so every pipeline written as a straight line keeps its meaning, and
`needs: []` starts at once. A stage with several needs is a join: it starts when all of them are
done. A need that was skipped (its `when` was false) counts as done, as in Argo: a join after an
XOR branch runs once the branch that ran has finished. A need that failed, or that will never run
because a need of its own failed, blocks the stage for good.

Pure: no files, no clock. This module must not import resources.schema (which imports the
Pipeline model, which will validate its stages with this module), hence its own `_suggest`.
"""

from __future__ import annotations

import difflib
import functools
import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where a stage is, as the graph sees it; a stage not in the states given has not started."""

    NOT_STARTED = "not-started"
    RUNNING = "running"  # also waiting for a node, a confirmation or a retry: started, not done
    FINISHED = "finished"
    SKIPPED = "skipped"
    FAILED = "failed"


DONE = frozenset({State.FINISHED, State.SKIPPED})
"""The states that let the stages needing it start."""


@dataclass(frozen=True)
class Stage:
    """One stage of the graph: its place in the list and the stages it needs, resolved (an
    omitted `needs` already turned into the stage before it)."""

    name: str
    index: int
    needs: tuple[str, ...]
    implicit: bool
    """Whether `needs` was omitted (so `needs` is the stage before it, or nothing for the first)."""


@dataclass(frozen=True)
class Problem:
    """What is wrong with the graph and where: `field` is a manifest path such as
    `spec.stages[2].needs[0]`, for the file's line to be found by it."""

    field: str
    message: str
    index: int
    """The stage whose field it is."""


class GraphError(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


Declared = tuple[str, Sequence[str] | None]
"""A stage as written: its name and its `needs` (None when the manifest does not say)."""


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _resolved(stages: Sequence[Declared]) -> list[Stage]:
    resolved = []
    for index, (name, needs) in enumerate(stages):
        if needs is None:
            before = (stages[index - 1][0],) if index > 0 else ()
            resolved.append(Stage(name, index, before, implicit=True))
        else:
            resolved.append(Stage(name, index, tuple(needs), implicit=False))
    return resolved


def problems(stages: Sequence[Declared], prefix: str = "stages") -> list[Problem]:
    """Everything wrong with the stages' needs, each at its field (`{prefix}[2].needs[0]`): a name
    used twice, an unknown need (with the name probably meant), a stage that needs itself, a need
    listed twice, and each cycle, named as one with its stages. [] for a valid graph."""
    resolved = _resolved(stages)
    found: list[Problem] = []
    names: dict[str, int] = {}
    for stage in resolved:
        if stage.name in names:
            found.append(
                Problem(
                    f"{prefix}[{stage.index}].name",
                    f"stage name {stage.name!r} is used twice (first at {prefix}[{names[stage.name]}]); "
                    "give each stage its own name",
                    stage.index,
                )
            )
        else:
            names[stage.name] = stage.index
    edges: dict[str, list[str]] = {}
    for stage in resolved:
        seen: set[str] = set()
        usable: list[str] = []
        for position, need in enumerate(stage.needs):
            field = f"{prefix}[{stage.index}].needs[{position}]"
            if need == stage.name:
                found.append(
                    Problem(
                        field,
                        f"stage {stage.name!r} needs itself, so it could never start; remove it from "
                        "its needs",
                        stage.index,
                    )
                )
            elif need in seen:
                found.append(Problem(field, f"{need!r} is listed twice; list each need once", stage.index))
            elif need not in names:
                meant = _suggest(need, [n for n in names if n != stage.name])
                hint = f"did you mean {meant!r}?" if meant else f"the stages are {', '.join(names)}"
                found.append(Problem(field, f"there is no stage {need!r}; {hint}", stage.index))
            else:
                usable.append(need)
            seen.add(need)
        if stage.name not in edges:  # a duplicate name's edges are left out: already reported
            edges[stage.name] = usable
    found.extend(_cycle_problems(resolved, edges, prefix))
    return sorted(found, key=lambda p: p.index)  # stable: within a stage, in the order of its fields


def _cycle_problems(resolved: list[Stage], edges: dict[str, list[str]], prefix: str) -> list[Problem]:
    index = {stage.name: stage.index for stage in reversed(resolved)}  # first of a duplicate wins
    by_name = {stage.name: stage for stage in reversed(resolved)}
    found = []
    for component in _strongly_connected(edges):
        if len(component) < 2:
            continue  # a stage needing itself is reported as that
        members = set(component)
        start = min(component, key=lambda name: index[name])
        cycle = _cycle_through(start, edges, members)
        # The field to change: a need that points forward in the list (an omitted `needs` only
        # ever points back, so every cycle has at least one written need pointing forward).
        culprit, target = next(
            ((a, b) for a, b in itertools.pairwise(cycle) if index[b] >= index[a]),
            (cycle[0], cycle[1]),
        )
        stage = by_name[culprit]
        position = stage.needs.index(target) if not stage.implicit else None
        field = f"{prefix}[{stage.index}].needs" + (f"[{position}]" if position is not None else "")
        implied = [
            f"{a!r} needs {b!r} because it has no `needs` and comes after it"
            for a, b in itertools.pairwise(cycle)
            if by_name[a].implicit
        ]
        because = f" ({'; '.join(implied)})" if implied else ""
        found.append(
            Problem(
                field,
                f"stages {' → '.join(cycle)} form a cycle: each needs the next, so none can start{because}; "
                f"remove one of these needs (here, {culprit!r} needing {target!r})",
                stage.index,
            )
        )
    return found


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's components, iteratively: a pipeline of thousands of stages must not hit the
    recursion limit."""
    counter = 0
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in order:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in order:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], order[target])
                continue
            if low[node] == order[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_through(start: str, edges: dict[str, list[str]], members: set[str]) -> list[str]:
    """A cycle from `start` back to it within one component, by breadth-first search (shortest),
    as names ending where they began."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in edges.get(node, []):
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError("a strongly connected component of two or more stages has a cycle")


@dataclass(frozen=True)
class Graph:
    """A valid stage graph. Build it with `graph(stages)`."""

    stages: tuple[Stage, ...]

    @functools.cached_property
    def _by_name(self) -> dict[str, Stage]:
        return {s.name: s for s in self.stages}

    def stage(self, name: str) -> Stage:
        """KeyError for a name that is no stage of the graph."""
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def needed_by(self, name: str) -> tuple[str, ...]:
        """The stages that need `name` directly, in list order."""
        return tuple(s.name for s in self.stages if name in s.needs)

    def upstream(self, name: str) -> frozenset[str]:
        """Every stage `name` needs, directly or through others."""
        needs = {s.name: s.needs for s in self.stages}
        return _reach(name, needs)

    def downstream(self, name: str) -> frozenset[str]:
        """Every stage that needs `name`, directly or through others: what `resume --from name`
        runs again besides it."""
        return self._downstream.get(name, frozenset())

    @functools.cached_property
    def _downstream(self) -> dict[str, frozenset[str]]:
        needed_by: dict[str, list[str]] = {s.name: [] for s in self.stages}
        for s in self.stages:
            for need in s.needs:
                needed_by[need].append(s.name)
        return {s.name: _reach(s.name, needed_by) for s in self.stages}

    @functools.cached_property
    def _order(self) -> tuple[str, ...]:
        left = {s.name: len(s.needs) for s in self.stages}
        needed_by: dict[str, list[Stage]] = {s.name: [] for s in self.stages}
        for s in self.stages:
            for need in s.needs:
                needed_by[need].append(s)
        free = [(s.index, s.name) for s in self.stages if not s.needs]
        heapq.heapify(free)
        placed: list[str] = []
        while free:
            _, name = heapq.heappop(free)
            placed.append(name)
            for after in needed_by[name]:
                left[after.name] -= 1
                if left[after.name] == 0:
                    heapq.heappush(free, (after.index, after.name))
        return tuple(placed)

    def order(self) -> tuple[str, ...]:
        """A topological order: every stage after its needs, otherwise as early as the list has it."""
        return self._order


def _reach(start: str, edges: Mapping[str, Sequence[str]]) -> frozenset[str]:
    seen: set[str] = set()
    frontier = list(edges.get(start, ()))
    while frontier:
        node = frontier.pop()
        if node not in seen:
            seen.add(node)
            frontier.extend(edges.get(node, ()))
    return frozenset(seen)


def graph(stages: Sequence[Declared], prefix: str = "stages") -> Graph:
    """The graph of the stages as written; GraphError with every problem when it is not valid."""
    found = problems(stages, prefix)
    if found:
        raise GraphError(found)
    return Graph(tuple(_resolved(stages)))


@dataclass(frozen=True)
class Readiness:
    """What the scheduler may do now. Every stage not started is in exactly one of `ready`,
    `waiting` and `blocked`; each tuple is in list order."""

    ready: tuple[str, ...]
    """Not started, and every need finished or skipped: start these (all at once)."""
    waiting: tuple[str, ...]
    """Not started, a need not done yet but none failed: they may still start."""
    blocked: tuple[str, ...]
    """Not started and never will: a need failed, or is blocked itself."""
    blocked_by: Mapping[str, tuple[str, ...]]
    """For each blocked stage, the failed stages that block it (through any number of needs)."""
    running: tuple[str, ...]

    @property
    def settled(self) -> bool:
        """Nothing runs and nothing can start: the pipeline is over, well or not."""
        return not (self.ready or self.waiting or self.running)


def readiness(graph: Graph, states: Mapping[str, State]) -> Readiness:
    """Which stages may start now and which never will, for the stages' states. Names in `states`
    that are not stages of the graph are ignored: the runs of a stage since removed from the
    pipeline say nothing about its stages."""
    state = {s.name: State(states.get(s.name, State.NOT_STARTED)) for s in graph.stages}
    failed_above: dict[str, frozenset[str]] = {}
    for name in graph.order():
        stage = graph.stage(name)
        culprits: set[str] = set()
        for need in stage.needs:
            if state[need] is State.FAILED:
                culprits.add(need)
            elif state[need] is State.NOT_STARTED:
                culprits |= failed_above[need]
        failed_above[name] = frozenset(culprits)
    ready, waiting, blocked, running = [], [], [], []
    blocked_by: dict[str, tuple[str, ...]] = {}
    index = {s.name: s.index for s in graph.stages}
    for stage in graph.stages:
        current = state[stage.name]
        if current is State.RUNNING:
            running.append(stage.name)
        if current is not State.NOT_STARTED:
            continue
        if failed_above[stage.name]:
            blocked.append(stage.name)
            blocked_by[stage.name] = tuple(sorted(failed_above[stage.name], key=index.__getitem__))
        elif all(state[need] in DONE for need in stage.needs):
            ready.append(stage.name)
        else:
            waiting.append(stage.name)
    return Readiness(tuple(ready), tuple(waiting), tuple(blocked), blocked_by, tuple(running))
