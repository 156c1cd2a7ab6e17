"""Who is asking: a user's token (`Authorization: Bearer`) or the session the web UI's sign-in
made, with its CSRF check; `CurrentUser` and `AdminUser` for route handlers."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from winslow.api.identity.sessions import csrf_value
from winslow.api.identity.triggers import PREFIX as TRIGGER_PREFIX
from winslow.api.identity.users import User, UsersFileError
from winslow.api.server.deps import ApiContext, Ctx

SESSION_COOKIE = "winslow_session"
CSRF_COOKIE = "winslow_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(
    auto_error=False,
    description="`winslow user add NAME --share DIR` prints a token; send `Authorization: Bearer TOKEN`",
)


NO_SESSION = (
    "your sign-in has ended (signed out, expired, or its token was revoked); sign in again with your token"
)


def session_user(ctx: ApiContext, request: Request, session_id: str, challenge: dict[str, str]) -> User:
    """The user of a browser's session, checked on the share on every request (no cache: a session
    ended on any node is refused at once). A state-changing request must also carry the session's
    CSRF value in a header (double submit), which another site's page can neither read nor send;
    the value is derived from the session id, so a CSRF cookie planted with a matching header
    does not pass."""
    session = ctx.sessions.find(session_id)
    try:
        user = ctx.users.holder(session.user, session.token) if session is not None else None
    except UsersFileError as exc:
        raise HTTPException(503, f"cannot check sessions: {exc}; an admin must fix the file") from None
    if user is None:
        raise HTTPException(401, NO_SESSION, headers=challenge)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_value(session_id).encode()):
            raise HTTPException(
                403,
                f"{request.method} {request.url.path}: signed in by cookie, but the {CSRF_HEADER} header "
                f"does not carry this session's {CSRF_COOKIE} value; a page of another site cannot act "
                "for you (scripts send the cookie's value in the header, or use `Authorization: Bearer "
                "TOKEN`)",
            )
    return user


def current_user(
    request: Request,
    ctx: Ctx,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> User:
    """401 unless the request carries a token that settings/users.yaml knows in `Authorization:
    Bearer`, or the cookie of a live session the web UI's sign-in made. `request.state.auth` says
    which (for whoami)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = authenticate(ctx, credentials.credentials, challenge)
        request.state.auth = "token"
        return user
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise HTTPException(
            401,
            "no token: send `Authorization: Bearer TOKEN` (winsctl: --token, WINSLOW_TOKEN or `token:` "
            "in its config file; an admin creates one with `winslow user add NAME --share DIR`), "
            "or sign in to the web UI at /",
            headers=challenge,
        )
    user = session_user(ctx, request, session_id, challenge)
    request.state.auth = "session"
    return user


def identify(ctx: ApiContext, token: str, challenge: dict[str, str] | None = None) -> tuple[User, str]:
    """The token's user and the token's id (a session remembers it, and ends with the token)."""
    try:
        found = ctx.users.identify(token)
    except UsersFileError as exc:
        raise HTTPException(503, f"cannot check tokens: {exc}; an admin must fix the file") from None
    if found is None and token.startswith(TRIGGER_PREFIX):
        raise HTTPException(
            401,
            "this is a project's trigger token: it opens only POST /api/v1/projects/PROJECT/trigger; "
            "everything else takes a user's token (winslow user add NAME --share DIR)",
            headers=challenge,
        )
    if found is None:
        raise HTTPException(
            401,
            "the token is not valid on this share; ask an admin for one (winslow user add NAME --share DIR)",
            headers=challenge,
        )
    return found


def authenticate(ctx: ApiContext, token: str, challenge: dict[str, str] | None = None) -> User:
    return identify(ctx, token, challenge)[0]


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.admin:
        raise HTTPException(403, f"only admins may do this, and {user.name!r} is not one")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
