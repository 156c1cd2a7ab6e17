"""Sign-in for browsers: the token goes into an HttpOnly, SameSite=Strict cookie that the API
accepts beside `Authorization: Bearer` (api.deps.current_user), with a CSRF cookie whose value
scripts of this origin echo in a header on every state-changing request."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from winslow.api.deps import CSRF_COOKIE, SESSION_COOKIE, ApiContext, authenticate, context

router = APIRouter(prefix="/api/v1/session", tags=["session"])
MAX_AGE = 7 * 24 * 3600


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


@router.post("", summary="Sign in a browser: sets the session and CSRF cookies")
def sign_in(
    body: SignIn, request: Request, response: Response, ctx: ApiContext = Depends(context)
) -> dict[str, Any]:
    same_origin(request)
    user = authenticate(ctx, body.token.strip())
    if body.user and body.user.strip() != user.name:
        raise HTTPException(401, "this token belongs to another user; check the user name or the token")
    secure = request.url.scheme == "https"
    common: dict[str, Any] = {"max_age": MAX_AGE, "path": "/", "samesite": "strict", "secure": secure}
    response.set_cookie(SESSION_COOKIE, body.token.strip(), httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, **common)
    return user.wire()


@router.delete("", summary="Sign out: removes the cookies")
def sign_out(request: Request, response: Response) -> dict[str, str]:
    same_origin(request)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict", secure=request.url.scheme == "https")
    return {"signedOut": "true"}
