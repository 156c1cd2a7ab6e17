"""What route handlers share: the node's handles, injected through FastAPI's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from controller.eventlog import EventLog
from controller.layout import ShareLayout


@dataclass
class ApiContext:
    layout: ShareLayout
    events: EventLog
    node: str
    clock: Callable[[], float]


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
