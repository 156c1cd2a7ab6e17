"""Cluster settings under `settings/`: admins only, because they reach every project's stages."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import StringConstraints

from winslow.api.server import answers, spec_changes
from winslow.api.server.auth import AdminUser, admin_user
from winslow.api.server.deps import Ctx
from winslow.resources.store import atomic_write, dump_yaml

router = APIRouter(
    prefix="/api/v1/settings", tags=["settings"], dependencies=[Depends(admin_user)], responses=answers.ERRORS
)

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255)]


@router.get("/env", summary="The environment every stage gets (settings/env.yaml)")
def get_env(ctx: Ctx) -> dict[str, str]:
    try:
        return ctx.layout.global_env()
    except (ValueError, yaml.YAMLError) as exc:
        raise HTTPException(409, f"{exc}; fix the file by hand or replace it with PUT") from None


@router.put("/env", summary="Replace the environment every stage gets; it applies to new StageRuns")
def put_env(
    ctx: Ctx,
    user: AdminUser,
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=65536)]] = Body(...),
) -> dict[str, str]:
    """Under a lock, with the caller's rights read again under it: an admin demoted meanwhile
    (settings/users.yaml) writes nothing."""
    with spec_changes.locked(ctx, "Settings", "env"):
        if not any(u.name == user.name and u.admin for u in ctx.users.all()):
            raise HTTPException(403, f"only admins may do this, and {user.name!r} is no longer one")
        atomic_write(ctx.layout.env_file, dump_yaml(dict(env)))
    return dict(env)


@router.get("/users", summary="Users and their groups (never their tokens)", response_model=answers.UserList)
def users(ctx: Ctx) -> dict[str, Any]:
    return {"items": [user.wire() for user in ctx.users.all()]}
