"""What the quotas that cover a project hold now, and whether a new run fits in them: pure.

Use is counted from the log's records of active runs across all projects (the requests they
reserved), never from node reports: the log is what every node agrees on. A run's owner is
recorded with it when it is created, so a quota of a user or a group is counted without reading
any project's file. The node that creates a run counts again under each covering quota's lock
(reconcilers/project/apply.py), so two nodes that decided at the same instant cannot both start
past a quota: the second counts the first's run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from winslow.controller.records import RunRecord
from winslow.resources.amount import Amount
from winslow.resources.quota import Quota

Groups = Mapping[str, frozenset[str]]
"""Each user's groups (settings/users.yaml)."""


@dataclass(frozen=True)
class QuotaUse:
    quota: Quota
    used: Amount
    by: tuple[str, ...]
    """The active runs it counts, by name."""

    def refuses(self, request: Amount) -> str | None:
        """Why a run asking `request` does not fit, in words naming the quota and who holds it."""
        over = self.quota.spec.hard.exceeded(self.used.plus(request))
        if not over:
            return None
        hard = self.quota.spec.hard
        what = ", ".join(f"{r} {self.used.describe(r)} of {hard.limit(r)}" for r in over)
        holders = ", ".join(self.by[:5]) + (f" and {len(self.by) - 5} more" if len(self.by) > 5 else "")
        return f"quota {self.quota.metadata.name}: {what} in use" + (f" by {holders}" if holders else "")


def owner_groups(groups: Groups, owner: str | None) -> frozenset[str]:
    return groups.get(owner, frozenset()) if owner else frozenset()


def covering(quotas: Iterable[Quota], project: str, owner: str | None, groups: Groups) -> list[Quota]:
    return [q for q in quotas if q.spec.covers(project, owner, owner_groups(groups, owner))]


def uses(quotas: Iterable[Quota], active: Iterable[RunRecord], groups: Groups) -> tuple[QuotaUse, ...]:
    """What each quota holds now: the requests of the active runs it covers."""
    runs = [r for r in active if r.phase.active]
    found = []
    for quota in quotas:
        mine = [r for r in runs if quota.spec.covers(r.project, r.owner, owner_groups(groups, r.owner))]
        used = Amount()
        for run in mine:
            used = used.plus(run.request)
        found.append(QuotaUse(quota, used, tuple(r.name for r in mine)))
    return tuple(found)


def refusal(held: Iterable[QuotaUse], request: Amount) -> str | None:
    """The first quota a run asking `request` would exceed, in words; None when all have room."""
    return next((why for use in held if (why := use.refuses(request)) is not None), None)
