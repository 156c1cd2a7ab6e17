"""What route handlers share: the node's handles, injected through FastAPI's dependencies
(the caller: api/server/auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from winslow.api.identity.sessions import SessionStore
from winslow.api.identity.users import UserDirectory
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases


@dataclass
class ApiContext:
    """`leases` is the node's own (one per node): a lock the API takes is judged by the node's
    timings, and its event log is the node's."""

    layout: ShareLayout
    leases: Leases
    node: str
    clock: Callable[[], float]
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    users: UserDirectory = field(init=False)
    sessions: SessionStore = field(init=False)

    def __post_init__(self) -> None:
        self.users = UserDirectory(self.layout.users_file)
        self.sessions = SessionStore(self.layout.sessions, self.clock)

    @property
    def events(self) -> EventLog:
        return self.leases.events


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
