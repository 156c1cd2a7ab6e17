"""The caller as the API sees them: lets a client or the web UI show who it acts as."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from winslow.api.deps import current_user
from winslow.api.users import User

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/whoami", summary="The user this token or session belongs to, and which of the two it was")
def whoami(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    return {**user.wire(), "authenticatedBy": getattr(request.state, "auth", "token")}
