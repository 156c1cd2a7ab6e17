"""A node's election duties: vote in open elections, and close the ones it started.

The starter closes its election as soon as every live executing node has voted, so on a healthy
cluster an election takes milliseconds; the window only bounds the wait for a dead or slow node.
Windows are measured on this node's monotonic clock from when it learnt of the election.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from winslow.controller.election import ElectionTable, ballot, winner
from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Ballot, Command
from winslow.resources.amount import Amount, Weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Vote:
    subject: str
    ballot: Ballot


@dataclass(frozen=True)
class Close:
    subject: str
    winner: str | None


def duties(
    table: ElectionTable,
    me: str,
    executes: bool,
    free: Amount,
    multipliers: Weights,
    live: set[str],
    now: float,
    grace: float,
    labels: Mapping[str, str] | None = None,
) -> list[Vote | Close]:
    """A node whose `labels` miss an election's node selector votes that it does not fit, so the
    election still closes as soon as every live node voted."""
    actions: list[Vote | Close] = []
    for subject, election in list(table.open.items()):
        ballots = dict(election.ballots)
        age = now - election.observed
        if executes and me not in ballots and age <= election.duration + grace:
            ballots[me] = ballot(free, election.request, multipliers, labels, election.selector)
            actions.append(Vote(subject, ballots[me]))
        if election.starter == me and (live <= set(ballots) or age >= election.duration):
            actions.append(Close(subject, winner(ballots)))
    return actions


def perform(
    events: EventLog,
    me: str,
    executes: bool,
    free: Amount,
    multipliers: Weights,
    live: set[str],
    grace: float,
    labels: Mapping[str, str] | None = None,
) -> bool:
    """Publish this node's duties; True when anything was published."""
    acted = False
    now = events.monotonic()
    for duty in duties(events.view().elections, me, executes, free, multipliers, live, now, grace, labels):
        try:
            if isinstance(duty, Vote):
                events.publish(Command.ELECTION_PARTICIPATE, duty.subject, ballot=duty.ballot)
            else:
                events.publish(Command.ELECTION_STOP, duty.subject, winner=duty.winner)
                election = events.view().elections.results.get(duty.subject)
                ballots = len(election.ballots) if election else 0
                if duty.winner:
                    log.info("election for %s: %s won (%d ballot(s))", duty.subject, duty.winner, ballots)
                else:
                    log.info("election for %s: no node fits (%d ballot(s))", duty.subject, ballots)
            acted = True
        except Rejected:
            continue
    return acted
