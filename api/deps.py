"""What route handlers share: the node's handles and the caller, injected through FastAPI's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from winslow.api.users import User, UserDirectory, UsersFileError
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Locks

bearer = HTTPBearer(
    auto_error=False,
    description="`winslow user add NAME --share DIR` prints a token; send `Authorization: Bearer TOKEN`",
)


@dataclass
class ApiContext:
    layout: ShareLayout
    events: EventLog
    node: str
    clock: Callable[[], float]
    grace_seconds: float = 5.0
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    users: UserDirectory = field(init=False)
    locks: Locks = field(init=False)

    def __post_init__(self) -> None:
        self.users = UserDirectory(self.layout.users_file)
        self.locks = Locks(self.events, lease_seconds=30.0, grace_seconds=self.grace_seconds)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def current_user(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer), ctx: ApiContext = Depends(context)
) -> User:
    """401 unless the request carries a token that settings/users.yaml knows."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "no token: send `Authorization: Bearer TOKEN` (winsctl: --token, WINSLOW_TOKEN or `token:` "
            "in its config file; an admin creates one with `winslow user add NAME --share DIR`)",
            headers=challenge,
        )
    try:
        user = ctx.users.authenticate(credentials.credentials)
    except UsersFileError as exc:
        raise HTTPException(503, f"cannot check tokens: {exc}; an admin must fix the file") from None
    if user is None:
        raise HTTPException(
            401,
            "the token is not valid on this share; ask an admin for one (winslow user add NAME --share DIR)",
            headers=challenge,
        )
    return user


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.admin:
        raise HTTPException(403, f"only admins may do this, and {user.name!r} is not one")
    return user
