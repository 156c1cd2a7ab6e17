"""The FastAPI application every node serves.

It assembles the rooms of `api/`: the HTTP server's routes (api.server), the web UI and the API's
reference page (api.ui). Every route under /api/v1 needs a token (api.server.auth.current_user);
`/healthz`, the OpenAPI document with its reference page, and the web UI's files (`/`, `/ui/...`)
stay open, so load balancers and browsers can reach them. The UI's data comes from the same
token-checked API. Every other response is inert in a browser (api.server.inert).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from winslow.api.server import answers, errors
from winslow.api.server.deps import ApiContext
from winslow.api.server.inert import Inert
from winslow.api.server.routes import (
    actions,
    disk,
    files,
    manifests,
    metrics,
    nodes,
    queue,
    reports,
    settings,
    stageruns,
    triggers,
    whoami,
)
from winslow.api.ui import apidocs, assets, session


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Winslow",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(Inert)
    app.state.ctx = ctx
    errors.install(app)

    @app.get("/healthz", tags=["health"], summary="200 once the node is ready", response_model=answers.Health)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "node": ctx.node}

    for module in (
        manifests,
        actions,
        triggers,
        stageruns,
        nodes,
        files,
        settings,
        whoami,
        metrics,
        reports,
        disk,
        queue,
    ):
        app.include_router(module.router)
    app.include_router(triggers.trigger_router)  # a trigger token's one route: no user, no session
    app.include_router(session.router)
    apidocs.install(app)
    assets.install(app)
    return app
