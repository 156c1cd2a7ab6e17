"""What route handlers share: the node's handles and the caller, injected through FastAPI's dependencies."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from winslow.api.users import User, UserDirectory, UsersFileError
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases

SESSION_COOKIE = "winslow_session"
CSRF_COOKIE = "winslow_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
    leases: Leases = field(init=False)

    def __post_init__(self) -> None:
        self.users = UserDirectory(self.layout.users_file)
        self.leases = Leases(self.events, lease_seconds=30.0, grace_seconds=self.grace_seconds)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def session_token(request: Request) -> str | None:
    """The token of a browser's sign-in cookie; a state-changing request with it must also carry the
    CSRF cookie's value in a header (double submit), which another site's page cannot read or send."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        sent, expected = request.headers.get(CSRF_HEADER, ""), request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise HTTPException(
                403,
                f"{request.method} {request.url.path}: signed in by cookie, but the {CSRF_HEADER} header "
                f"does not match the {CSRF_COOKIE} cookie; a page of another site cannot act for you "
                "(scripts send the cookie's value in the header, or use `Authorization: Bearer TOKEN`)",
            )
    return token


def current_user(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ctx: ApiContext = Depends(context),
) -> User:
    """401 unless the request carries a token that settings/users.yaml knows: in `Authorization:
    Bearer`, or in the cookie the web UI's sign-in sets."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token: str | None = credentials.credentials
    else:
        token = session_token(request)
    if token is None:
        raise HTTPException(
            401,
            "no token: send `Authorization: Bearer TOKEN` (winsctl: --token, WINSLOW_TOKEN or `token:` "
            "in its config file; an admin creates one with `winslow user add NAME --share DIR`), "
            "or sign in to the web UI at /",
            headers=challenge,
        )
    return authenticate(ctx, token, challenge)


def authenticate(ctx: ApiContext, token: str, challenge: dict[str, str] | None = None) -> User:
    try:
        user = ctx.users.authenticate(token)
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
