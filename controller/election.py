"""Elections (thesis 6.7): scoring by resource affinity and aversion, and the election rules.

Scores, with free = capacity - reserved and a per-category multiplier n_c:
  affinity = min over requested categories of (request_c / free_c) * n_c
  aversion = max over categories the node has (free_c > 0) of ((free_c - request_c) / free_c) * n_c
A node takes part only if every request fits and it has the labels of the stage's node selector.
Lowest aversion wins, then highest affinity, then the smallest node name. Aversion keeps a CPU-only
stage off the GPU node while a CPU node fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from winslow.controller.events import Ballot, Command, Event
from winslow.resources import labels as node_labels
from winslow.resources.amount import CATEGORIES, Amount, Weights


def ballot(
    free: Amount,
    request: Amount,
    weights: Weights | None = None,
    labels: Mapping[str, str] | None = None,
    selector: Mapping[str, str] | None = None,
) -> Ballot:
    """A node whose labels miss the selector does not fit, whatever it has free, and says which
    labels it has (so the starter can name them when no node matches)."""
    weights = weights or Weights()
    if not node_labels.matches(selector, labels):
        have = node_labels.describe(labels)
        reason = f"labels {have or '(none)'} do not match nodeSelector {node_labels.describe(selector)}"
        return Ballot(fits=False, reason=reason, labels=dict(labels or {}))
    short = request.short_of(free)
    if short:
        reason = ", ".join(f"{c} {request.describe(c)} requested, {free.describe(c)} free" for c in short)
        return Ballot(fits=False, reason=reason)
    requested = [c for c in CATEGORIES if request.get(c) > 0]
    affinity = min((request.get(c) / free.get(c) * weights.get(c) for c in requested), default=0.0)
    owned = [c for c in CATEGORIES if free.get(c) > 0]
    aversion = max(
        ((free.get(c) - request.get(c)) / free.get(c) * weights.get(c) for c in owned), default=0.0
    )
    return Ballot(fits=True, affinity=affinity, aversion=aversion)


def winner(ballots: dict[str, Ballot]) -> str | None:
    fitting = [(b.aversion, -b.affinity, node) for node, b in ballots.items() if b.fits]
    return min(fitting)[2] if fitting else None


@dataclass(frozen=True)
class Election:
    subject: str
    starter: str
    seq: int
    started: float
    duration: float
    request: Amount
    selector: dict[str, str] = field(default_factory=dict)
    """The stage's node selector: only nodes with these labels fit."""
    ballots: dict[str, Ballot] = field(default_factory=dict)
    winner: str | None = None
    stopped: float | None = None
    stop_seq: int | None = None
    observed: float = field(default=0.0, compare=False)
    """This node's monotonic time when it learnt of the start: local, never in a snapshot."""
    stop_observed: float = field(default=0.0, compare=False)

    @property
    def deadline(self) -> float:
        """On the starter's wall clock: for people, never for a decision."""
        return self.started + self.duration

    def shortage(self) -> str:
        """Why nobody fits, naming the resource that is short on each node, or, when no node that
        voted has the labels the stage selects, the selector and the labels each node has."""
        missed = {node: b.labels for node, b in self.ballots.items() if b.labels is not None}
        if self.selector and self.ballots and len(missed) == len(self.ballots):
            return node_labels.no_match(self.selector, missed)
        reasons = [f"{node}: {b.reason}" for node, b in sorted(self.ballots.items()) if not b.fits]
        return "; ".join(reasons) or "no executing node took part"


@dataclass
class ElectionTable:
    """Open elections and the last result per subject, as the log implies them.

    Like the lock fold, it never reads a clock: an election whose starter died is replaced by an
    ELECTION_START that names it in `supersedes`, once the new starter judges it expired on its
    own monotonic clock. A vote or a stop refers to whichever election is open for the subject.
    """

    open: dict[str, Election] = field(default_factory=dict)
    results: dict[str, Election] = field(default_factory=dict)

    def check(self, event: Event) -> str | None:
        current = self.open.get(event.subject)
        if event.command is Command.ELECTION_START:
            if event.request is None or event.duration <= 0:
                return "an election needs a request and a window"
            if current is not None and event.supersedes != current.seq:
                return f"an election for {event.subject} is open (started by {current.starter})"
            return None
        if current is None:
            return f"no election for {event.subject} is open"
        if event.command is Command.ELECTION_PARTICIPATE:
            if event.ballot is None:
                return "a participation needs a ballot"
            if event.issuer in current.ballots:
                return f"{event.issuer} already took part"
            return None
        if event.command is Command.ELECTION_STOP:
            if event.issuer != current.starter:
                return f"only {current.starter} can stop this election"
            if event.winner is not None and not (
                event.winner in current.ballots and current.ballots[event.winner].fits
            ):
                return f"{event.winner} did not take part with a fitting ballot"
            return None
        raise ValueError(f"{event.command} is not an election command")

    def apply(self, event: Event, observed: float = 0.0) -> None:
        if event.command is Command.ELECTION_START:
            assert event.request is not None
            self.open[event.subject] = Election(
                subject=event.subject,
                starter=event.issuer,
                seq=event.seq,
                started=event.timestamp,
                duration=event.duration,
                request=event.request,
                selector=dict(event.selector or {}),
                observed=observed,
            )
        elif event.command is Command.ELECTION_PARTICIPATE:
            assert event.ballot is not None
            election = self.open[event.subject]
            self.open[event.subject] = replace(
                election, ballots={**election.ballots, event.issuer: event.ballot}
            )
        else:
            self.results[event.subject] = replace(
                self.open.pop(event.subject),
                winner=event.winner,
                stopped=event.timestamp,
                stop_seq=event.seq,
                stop_observed=observed,
            )
