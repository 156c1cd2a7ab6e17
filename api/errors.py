"""Errors as JSON with a message a user can act on; bad input never becomes a 5xx."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from winslow.resources.errors import ConflictError, ManifestError, NotFoundError
from winslow.resources.manifest import field_path

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error whose JSON carries fields beside `detail` that a client acts on (an upload's offset)."""

    def __init__(
        self,
        status: int,
        detail: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra, self.headers = status, detail, extra or {}, headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"detail": self.detail, **self.extra}, status_code=self.status, headers=self.headers
        )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        what = f"{request.method} {request.url.path}: internal error ({type(exc).__name__}: {exc})"
        return JSONResponse({"detail": f"{what}; the node's log has the details, please report it"}, 500)

    @app.exception_handler(ManifestError)
    async def _manifest(_: Request, exc: ManifestError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "problems": [{"field": f, "message": m} for f, m in exc.problems]},
            status_code=422,
        )

    @app.exception_handler(NotFoundError)
    async def _missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": field_path(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()]
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(
            {"detail": f"{request.method} {request.url.path}: {detail}", "problems": problems},
            status_code=422,
        )
