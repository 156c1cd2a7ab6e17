"""Sign-in for browsers: the token is checked once and a session made (api.sessions); its id, never
the token, goes into an HttpOnly, SameSite=Strict cookie that the API accepts beside
`Authorization: Bearer` (api.auth.current_user). A second cookie holds the session's CSRF value,
which scripts of this origin echo in a header on every state-changing request. Signing out ends
the session on the share, so the cookie is worthless from then on, on every node."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from winslow.api.identity.sessions import csrf_value
from winslow.api.server import answers
from winslow.api.server.auth import CSRF_COOKIE, SESSION_COOKIE, identify
from winslow.api.server.deps import Ctx

router = APIRouter(prefix="/api/v1/session", tags=["session"], responses=answers.ERRORS)
log = logging.getLogger(__name__)


class SignIn(BaseModel):
    token: str = Field(min_length=1, max_length=512, description="the token `winslow user add` printed")
    user: str | None = Field(default=None, max_length=63, description="if given, must own the token")


def same_origin(request: Request) -> None:
    """Refuses a sign-in posted by another site's page (login CSRF): browsers always send Origin
    with a cross-site POST."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise HTTPException(403, f"sign-in from {origin} refused: open the UI at {request.base_url} itself")


def _unwritable(exc: OSError, what: str) -> HTTPException:
    return HTTPException(
        503, f"cannot {what}: the share cannot be written ({exc.strerror or type(exc).__name__}); try again"
    )


@router.post(
    "",
    summary="Sign in a browser: starts a session and sets its cookie and CSRF cookie",
    response_model=answers.UserView,
)
def sign_in(body: SignIn, request: Request, response: Response, ctx: Ctx) -> dict[str, Any]:
    same_origin(request)
    user, token_id = identify(ctx, body.token.strip())
    if body.user and body.user.strip() != user.name:
        raise HTTPException(401, "this token belongs to another user; check the user name or the token")
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        try:
            ctx.sessions.end(previous)
        except OSError as exc:  # it still expires; the new session is what matters now
            log.warning("could not end a replaced session: %s", exc.strerror or exc)
    try:
        session_id = ctx.sessions.create(user.name, token_id)
    except OSError as exc:
        raise _unwritable(exc, "start a session") from None
    secure = request.url.scheme == "https"
    common: dict[str, Any] = {
        "max_age": int(ctx.sessions.max_seconds),
        "path": "/",
        "samesite": "strict",
        "secure": secure,
    }
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf_value(session_id), httponly=False, **common)
    return user.wire()


@router.delete(
    "",
    summary="Sign out: ends the session on every node and removes the cookies",
    response_model=answers.SignedOut,
)
def sign_out(request: Request, response: Response, ctx: Ctx) -> dict[str, str]:
    """Cross-site pages cannot sign anyone out: the SameSite=Strict cookie is not sent with their
    requests. When the share cannot be written the cookies stay, so that signing out can be tried
    again; dropping them would leave a session that a copy of the cookie could still use."""
    same_origin(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            ctx.sessions.end(session_id)
        except OSError as exc:
            raise _unwritable(exc, "end the session") from None
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict", secure=request.url.scheme == "https")
    return {"signedOut": "true"}
