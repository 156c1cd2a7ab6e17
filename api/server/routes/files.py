"""The file tree: `resources/` (every user's pool) and `workspaces/<project>/` (its project's people).

GET lists a directory as JSON or streams a file (honouring `Range`), PUT uploads resumably
(api.uploads), POST creates a directory, DELETE removes a file or a whole directory. Every
response about a path says what it is in `X-Winslow-Type`, so a client never guesses from the
body. Paths are checked by api.sharepaths; nothing outside the two trees is ever reached.
"""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import suppress
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from winslow.api.identity.users import User
from winslow.api.server import answers, fastpath, inert, ranges, sharepaths, uploads
from winslow.api.server.access import Visibility, check_project
from winslow.api.server.auth import CurrentUser, current_user
from winslow.api.server.deps import ApiContext, Ctx
from winslow.api.server.sharepaths import Located, TreePath, translated
from winslow.resources.folders import open_dir

router = APIRouter(
    prefix="/api/v1/files", tags=["files"], dependencies=[Depends(current_user)], responses=answers.ERRORS
)
CHUNK = 1 << 20
TreePathParam = Annotated[str, Path(description="resources/... or workspaces/PROJECT/...")]
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
FILE_CONTENT = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
"""A download: of the file's own type (api.inert)."""


def checked(path: str, ctx: ApiContext, user: User) -> TreePath:
    tp = sharepaths.parse(path)
    if tp.project is not None:
        check_project(ctx, user, tp.project, must_exist=False)
    return tp


def open_target(loc: Located) -> tuple[int, os.stat_result]:
    """The target opened without following links (O_NONBLOCK: a FIFO a stage made never hangs us)."""
    if not loc.rel:
        fd = open_dir(loc.top, ())
    else:
        parent = open_dir(loc.top, loc.rel[:-1])
        try:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(loc.rel[-1], flags, dir_fd=parent)
        finally:
            os.close(parent)
    st = os.fstat(fd)
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        os.close(fd)
        raise HTTPException(409, f"{loc.rel[-1]} is neither a file nor a directory (a pipe, a socket?)")
    return fd, st


def kind_of(st: os.stat_result) -> str:
    return "directory" if stat.S_ISDIR(st.st_mode) else "file"


def unfinished(entry: os.DirEntry[str]) -> list[dict[str, Any]]:
    """An aborted upload's partial file, as an entry of its own type under the name it was meant to
    have, so whoever may see the folder sees and can delete it (DELETE of that name removes it).
    Never through a link: only a regular file is one."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode):
        return []
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
    return [{"name": uploads.upload_of(entry.name), "type": "upload", "size": st.st_size, "mtime": mtime}]


def entries(fd: int, loc: Located, tp: TreePath, visible: Visibility) -> list[dict[str, Any]]:
    """Links leading outside the fence and projects the user may not see are left out; unfinished
    uploads are `unfinished` entries."""
    found = []
    with os.scandir(fd) as it:
        for entry in it:
            if tp.parts == ("workspaces",) and (uploads.is_partial(entry.name) or not visible(entry.name)):
                continue
            if uploads.is_partial(entry.name):
                found += unfinished(entry)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    path = os.path.join(loc.real, entry.name)
                    if not sharepaths.inside(loc, path):
                        continue
                    st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
                size = st.st_size if stat.S_ISREG(st.st_mode) else 0
                found.append({"name": entry.name, "type": kind_of(st), "size": size, "mtime": mtime})
    return sorted(found, key=lambda e: e["name"])


def file_headers(tp: TreePath, st: os.stat_result, inline: bool = False) -> dict[str, str]:
    """A download unless asked inline and of a type that cannot script (api.inert)."""
    return {
        "X-Winslow-Type": "file",
        "Accept-Ranges": "bytes",
        "Content-Length": str(st.st_size),
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Content-Type": inert.content_type(tp.name),
        "Content-Disposition": inert.disposition(tp.name, inline),
    }


def download(fd: int, st: os.stat_result, tp: TreePath, range_header: str | None, inline: bool) -> Response:
    headers = file_headers(tp, st, inline)
    try:
        part = ranges.requested(range_header, st.st_size)
    except ranges.Unsatisfiable:
        os.close(fd)
        return JSONResponse(
            {"detail": f"{tp.text} has {st.st_size} bytes; the range {range_header!r} starts beyond them"},
            status_code=416,
            headers={"Content-Range": f"bytes */{st.st_size}", "X-Winslow-Type": "file"},
        )
    if part is None:
        return fastpath.FileResponse(fd, 0, st.st_size, 200, headers, CHUNK)
    headers["Content-Range"] = part.header()
    return fastpath.FileResponse(fd, part.start, part.length, 206, headers, CHUNK)


@router.get(
    "/{path:path}",
    summary="List a directory (JSON) or download a file (Range for a part)",
    response_model=answers.Directory,
    responses={
        200: {"description": "the directory's entries, or the whole file", "content": FILE_CONTENT},
        206: {"description": "the requested range", "content": FILE_CONTENT},
        416: {"description": "range not satisfiable", "model": answers.ErrorAnswer},
    },
)
def get_path(
    path: TreePathParam,
    ctx: Ctx,
    user: CurrentUser,
    range_header: str | None = Header(None, alias="Range", description="bytes=START-END, START- or -N"),
    inline: bool = Query(
        False,
        description="show an image, video, sound or text file in the browser; other types always download",
    ),
) -> Response:
    tp = checked(path, ctx, user)
    with translated(tp):
        loc = sharepaths.locate(ctx.layout.root, tp)
        fd, st = open_target(loc)
        if stat.S_ISREG(st.st_mode):
            return download(fd, st, tp, range_header, inline)
        try:
            listed = entries(fd, loc, tp, Visibility(ctx, user))
        finally:
            os.close(fd)
    return JSONResponse({"path": tp.text, "entries": listed}, headers={"X-Winslow-Type": "directory"})


@router.head(
    "/{path:path}",
    summary="What a path is (X-Winslow-Type, Content-Length); upload=true: Upload-Offset of a partial upload",
    response_class=Response,
    responses={200: {"description": "the headers; no body"}},
)
async def head_path(
    path: TreePathParam,
    ctx: Ctx,
    user: CurrentUser,
    upload: bool = Query(False, description="answer how many bytes of an unfinished upload arrived"),
) -> Response:
    tp = checked(path, ctx, user)
    with translated(tp):
        if upload:
            return Response(
                headers={"Upload-Offset": str(await upload_offset(ctx, tp)), "Cache-Control": "no-store"}
            )
        fd, st = open_target(sharepaths.locate(ctx.layout.root, tp))
        os.close(fd)
    if stat.S_ISDIR(st.st_mode):
        return Response(headers={"X-Winslow-Type": "directory"})
    return Response(headers=file_headers(tp, st))


async def upload_offset(ctx: ApiContext, tp: TreePath) -> int:
    if tp.is_anchor:
        return 0
    loc = sharepaths.locate(ctx.layout.root, tp, write=True)
    try:
        parent = open_dir(loc.top, loc.rel[:-1])
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        return await uploads.offset(parent, loc.rel[-1])
    finally:
        os.close(parent)


@router.put(
    "/{path:path}",
    status_code=201,
    summary="Upload a file (streamed; resumable with Content-Range; checked by X-Sha256 or X-Piece-Sha256)",
    description="201 when the file is complete and in place, 202 when a Content-Range piece arrived and "
    "more is expected. Missing parent directories are created.",
    openapi_extra=BINARY_BODY,
    response_model=answers.Uploaded,
    responses={
        202: {"description": "piece stored; the upload continues at `offset`", "model": answers.Uploaded}
    },
)
async def put_path(
    path: TreePathParam,
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    content_range: str | None = Header(None, description="bytes START-END/TOTAL, to continue an upload"),
    x_sha256: str | None = Header(None, pattern=r"^[0-9a-fA-F]{64}$", description="sha256 of the whole file"),
    x_piece_sha256: str | None = Header(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="sha256 of this request's body: the piece is kept only whole and matching (else 422 "
        "and the upload stays at the piece's start); for clients that hash piece by piece",
    ),
) -> Response:
    tp = checked(path, ctx, user)
    if tp.is_anchor:
        raise HTTPException(400, f"{tp.text} is a folder of the share; upload into it, e.g. {tp.text}/FILE")
    try:
        piece = ranges.content_range(content_range) if content_range is not None else None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if x_sha256 is not None and x_piece_sha256 is not None:
        raise HTTPException(400, "send X-Sha256 (the whole file) or X-Piece-Sha256 (this piece), not both")
    length = request.headers.get("content-length")
    if piece is not None and length is not None and length != str(piece.length):
        raise HTTPException(400, f"Content-Length {length} differs from Content-Range {piece.header()}")
    with translated(tp):
        loc = sharepaths.locate(ctx.layout.root, tp, write=True)
        parent = open_dir(loc.top, loc.rel[:-1], create=True)
        try:
            refuse_non_file(parent, tp)
            result = await uploads.receive(
                request.stream(),
                parent,
                tp.name,
                piece,
                x_sha256,
                fastpath.of(request.scope),
                piece_sha256=x_piece_sha256,
            )
        finally:
            os.close(parent)
    if result is None:
        return Response(status_code=400)  # the client left; it resumes from HEAD ?upload=true
    headers = {} if result["complete"] else {"Upload-Offset": str(result["offset"])}
    return JSONResponse(
        {"path": tp.text, **result}, status_code=201 if result["complete"] else 202, headers=headers
    )


def refuse_non_file(parent: int, tp: TreePath) -> None:
    try:
        st = os.stat(tp.name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise HTTPException(403, f"{tp.text} is a symbolic link; the API does not write through links")
    if not stat.S_ISREG(st.st_mode):
        raise HTTPException(409, f"{tp.text} exists and is not a file; delete it first")


@router.post(
    "/{path:path}",
    status_code=201,
    summary="Create a directory, with any missing parents",
    response_model=answers.Folder,
)
def make_dir(path: TreePathParam, ctx: Ctx, user: CurrentUser) -> dict[str, str]:
    tp = checked(path, ctx, user)
    with translated(tp):
        loc = sharepaths.locate(ctx.layout.root, tp, write=True)
        os.close(open_dir(loc.top, loc.rel, create=True))
    return {"path": tp.text, "type": "directory"}


@router.delete(
    "/{path:path}",
    summary="Delete a file, or a directory with everything in it",
    response_model=answers.Deleted,
)
def delete_path(
    path: TreePathParam,
    ctx: Ctx,
    user: CurrentUser,
    upload: bool = Query(False, description="remove only what an unfinished upload of it left"),
) -> dict[str, str]:
    """A link is removed itself, never what it points to; an unfinished upload of the file goes too.
    With `upload=true` only that leftover goes, and a finished file of the same name stays."""
    tp = checked(path, ctx, user)
    if tp.is_anchor:
        raise HTTPException(400, f"{tp.text} is a folder of the share and stays; delete what is inside it")
    with translated(tp):
        loc = sharepaths.locate(ctx.layout.root, tp, write=True)
        parent = open_dir(loc.top, loc.rel[:-1])
        try:
            dropped = False
            with suppress(FileNotFoundError):
                os.unlink(uploads.partial_name(tp.name), dir_fd=parent)
                dropped = True
            if upload:
                if not dropped:
                    raise HTTPException(404, f"{tp.text}: no unfinished upload of it to delete")
                return {"deleted": f"{tp.text} (unfinished upload)"}
            try:
                st = os.stat(tp.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                if dropped:
                    return {"deleted": tp.text}
                raise
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(tp.name, dir_fd=parent)
            else:
                os.unlink(tp.name, dir_fd=parent)
        finally:
            os.close(parent)
    return {"deleted": tp.text}
