"""Errors as JSON with a message a user can act on; bad input never becomes a 5xx."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from resources.errors import ConflictError, ManifestError, NotFoundError
from resources.manifest import field_path


def install(app: FastAPI) -> None:
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
