"""Errors as JSON with a message a user can act on; bad input never becomes a 5xx.

No answer repeats what a file on the share holds: an unexpected error is named by its type
only (its message could quote another project's file), and a file that cannot be read is
named by path, line and field (resources.errors.InvalidFileError).
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from winslow.resources.errors import ConflictError, InvalidFileError, ManifestError, NotFoundError
from winslow.resources.manifest import USER_KINDS
from winslow.resources.wording import field_path

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


SHARE_ERRORS = {  # resources.errors.SHARE_UNWRITABLE, as HTTP answers: the one table of them
    errno.ENOSPC: (507, "the share is full (no space left on device); free space and try again"),
    errno.EDQUOT: (507, "the share's quota is exhausted; free space and try again"),
    errno.EROFS: (503, "the share is read-only right now; try again when it is writable"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        share = SHARE_ERRORS.get(exc.errno or 0) if isinstance(exc, OSError) else None
        if share is not None:
            log.warning("%s: the share refused a write: %s", where, exc)
            status, what = share
            return JSONResponse({"detail": f"{where}: {what}"}, status, headers={"Retry-After": "10"})
        log.exception("%s failed", where)
        what = f"{where}: internal error ({type(exc).__name__})"
        return JSONResponse({"detail": f"{what}; the node's log has the details, please report it"}, 500)

    @app.exception_handler(InvalidFileError)
    async def _unreadable(_: Request, exc: InvalidFileError) -> JSONResponse:
        """A user's manifest that is broken is theirs to fix (422); a file that nodes write and
        that cannot be read right now (half seen on a network share) is worth a retry (503)."""
        problems = [
            {"field": f, "message": m, "line": line}
            for (f, m), line in zip(exc.problems, exc.lines, strict=True)
        ]
        user_file = exc.source.startswith(tuple(f"{k.lower()}s/" for k in USER_KINDS))
        detail = f"{exc.reason}; fix the file" if user_file else f"{exc.reason}; try again in a moment"
        return JSONResponse(
            {"detail": detail, "problems": problems},
            status_code=422 if user_file else 503,
            headers=None if user_file else {"Retry-After": "5"},
        )

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
