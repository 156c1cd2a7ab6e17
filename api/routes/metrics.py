"""`/metrics` in Prometheus's text format. It needs a token like every route; Prometheus sends
one with `authorization: {credentials_file: ...}` (see grafana/prometheus.yml)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from winslow.api.deps import ApiContext, context, current_user
from winslow.api.users import User

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Node and cluster metrics for Prometheus")
def metrics(ctx: ApiContext = Depends(context), _: User = Depends(current_user)) -> Response:
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
