"""The caller as the API sees them: lets a client or the web UI show who it acts as."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from winslow.api.server import answers
from winslow.api.server.auth import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["users"], responses=answers.ERRORS)


@router.get(
    "/whoami",
    summary="The user this token or session belongs to, and which of the two it was",
    response_model=answers.WhoAmI,
)
def whoami(request: Request, user: CurrentUser) -> dict[str, Any]:
    return {**user.wire(), "authenticatedBy": getattr(request.state, "auth", "token")}
