"""`/metrics` in Prometheus's text format. It needs a token like every route; Prometheus sends
one with `authorization: {credentials_file: ...}` (see grafana/prometheus.yml)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from winslow.api.server import answers
from winslow.api.server.auth import CurrentUser
from winslow.api.server.deps import Ctx

router = APIRouter(tags=["metrics"], responses=answers.ERRORS)


@router.get(
    "/metrics",
    summary="Node and cluster metrics for Prometheus",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(ctx: Ctx, _: CurrentUser) -> Response:
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
