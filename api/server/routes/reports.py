"""Reports over the share's history: the thesis's utilisation table (7.1) and heat maps (7.2-7.5).

A user's report counts only the projects they may see; an admin's counts every project.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query

from winslow.api.server import answers
from winslow.api.server.access import Visibility
from winslow.api.server.auth import CurrentUser, current_user
from winslow.api.server.deps import Ctx
from winslow.controller import utilisation
from winslow.controller.utilisation import Weight, WorkingHours

router = APIRouter(
    prefix="/api/v1/reports", tags=["reports"], dependencies=[Depends(current_user)], responses=answers.ERRORS
)


def working_hours(work_hours: str, work_days: str, tz: str | None) -> WorkingHours:
    try:
        start, end = utilisation.parse_hours(work_hours)
        return WorkingHours(start, end, utilisation.parse_days(work_days), utilisation.parse_zone(tz))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get(
    "/utilisation",
    summary="Compute hours: total, started automatically or by a user, inside or outside working hours",
    description="Table 7.1 of the thesis and the weekday x hour maps of its figures 7.2-7.5, from the "
    "StageRuns on the share (running ones count until now). Dates are whole days in `tz`.",
    response_model=answers.UtilisationReport,
)
def utilisation_report(
    ctx: Ctx,
    user: CurrentUser,
    start: str | None = Query(None, alias="from", description="YYYY-MM-DD or an ISO date-time"),
    end: str | None = Query(None, alias="to", description="YYYY-MM-DD (inclusive) or an ISO date-time"),
    work_hours: str = Query("8-18", alias="workHours", description="START-END, local hours"),
    work_days: str = Query("Mon-Fri", alias="workDays", description="e.g. Mon-Fri or Mon,Tue,Thu"),
    tz: str | None = Query(None, description="IANA time zone; default: the node's local time"),
    weight: Weight = Query(Weight.NONE, description="count stage-hours, or requested GPU- or CPU-hours"),
) -> dict[str, Any]:
    hours = working_hours(work_hours, work_days, tz)
    try:
        since = utilisation.parse_moment(start, hours.tz) if start else None
        until = utilisation.parse_moment(end, hours.tz, end=True) if end else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, f"to ({end}) must come after from ({start})")
    visible = Visibility(ctx, user)
    ctx.events.poll()
    runs = [r for r in ctx.events.view().runs.runs.values() if visible(r.project)]
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    return utilisation.report(runs, now=now, start=since, end=until, hours=hours, weight=weight).wire()
