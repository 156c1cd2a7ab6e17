"""`winsctl cp`: streaming, resumable transfers to and from resources/ and workspaces/."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from winslow.api.winsctl.client import REMOTE_ROOTS, Client, CliError, api_detail
from winslow.api.winsctl.render import human_bytes

CHUNK = 1 << 20  # bounded memory for files of tens of GB
OVERLAP_MIN = 8 << 20  # from this size on a file is hashed while it is sent, not before


def is_remote(path: str) -> bool:
    return path.split("/", 1)[0] in REMOTE_ROOTS


FILES = "/api/v1/files/"


def files_url(remote: str) -> str:
    return FILES + quote(remote.strip("/"), safe="/")


def remote_entry(client: Client, remote: str) -> dict[str, Any] | None:
    """The server says file or directory in `X-Winslow-Type`; a server without it, in the parent's listing."""
    remote = remote.strip("/")
    if remote in REMOTE_ROOTS:
        return {"name": remote, "type": "directory"}
    parent, _, leaf = remote.rpartition("/")
    head = head_request(client, files_url(remote))
    if head.status_code == 404:
        return None
    if head.headers.get("X-Winslow-Type"):
        return {"name": leaf, "type": head.headers["X-Winslow-Type"]}
    response = client.request("GET", files_url(parent), allow=(404,))
    if response.status_code == 404 or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    return next(
        (e for e in listing_entries(response.json()) if e.get("name") == leaf and not is_upload_entry(e)),
        None,
    )


def unfinished_upload(client: Client, remote: str) -> dict[str, Any] | None:
    """The parent listing's entry for what an aborted upload left of `remote`, if anything: it has
    no path of its own (HEAD says 404), yet `rm` must reach it and `ls` show it."""
    parent, _, leaf = remote.strip("/").rpartition("/")
    if not parent or head_request(client, files_url(parent)).headers.get("X-Winslow-Type") != "directory":
        return None  # asked first: a GET of a file would download it
    response = client.request("GET", files_url(parent), allow=(404,))
    if response.status_code == 404 or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    found = (e for e in listing_entries(response.json()) if e.get("name") == leaf and is_upload_entry(e))
    return next(found, None)


def head_request(client: Client, url: str, *, busy: str | None = None, **kw: Any) -> httpx.Response:
    """A HEAD error has no body to explain it: a failed one is asked again as GET, which raises
    with it; a 409 to a question about an upload means another one holds the file (`busy`)."""
    response = client.request("HEAD", url, allow=(400, 401, 403, 404, 405, 409), **kw)
    if response.status_code == 409 and busy is not None:
        raise CliError(busy)
    if response.status_code not in (404, 405) and not response.is_success:
        with client.stream("GET", url, **kw):
            pass
    return response


def listing_entries(listing: Any) -> list[dict[str, Any]]:
    """`{"path", "entries": [...]}`; a bare list from early servers is accepted too."""
    entries = listing.get("entries") if isinstance(listing, dict) else listing
    return [e for e in entries or [] if isinstance(e, dict)] if isinstance(entries, list) else []


def is_dir_entry(entry: dict[str, Any] | None) -> bool:
    return entry is not None and entry.get("type") in ("dir", "directory")


def is_upload_entry(entry: dict[str, Any] | None) -> bool:
    """An unfinished upload's bytes so far (the server lists `.NAME.upload` as NAME of this type)."""
    return entry is not None and entry.get("type") == "upload"


def make_progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet or not sys.stdout.isatty(),
    )


def digest_of(path: Path, stop: int, progress: Progress) -> Any:
    """The sha256 of the file's first `stop` bytes."""
    digest = hashlib.sha256()
    task = progress.add_task(f"hashing {path.name}", total=stop)
    for chunk in read(path, 0, stop):
        digest.update(chunk)
        progress.advance(task, len(chunk))
    progress.remove_task(task)
    return digest


def upload_file(client: Client, path: Path, remote: str, progress: Progress) -> str:
    """Continues an unfinished upload of the same name where the server has one.

    A large file is hashed while it is sent: all but its last byte go as one piece, and the last
    byte follows with X-Sha256, which the server checks (with the digest it kept of the piece)
    before the file appears. A small file is hashed first and sent whole.
    """
    size = path.stat().st_size
    url = files_url(remote)
    busy = (
        f"{remote}: upload in progress: another upload of this file (another cp, or the web UI) is "
        "still sending it; run the same cp again once it has finished"
    )
    head = head_request(client, url, busy=busy, params={"upload": "true"})
    offset = int(head.headers.get("Upload-Offset", "0") or 0) if head.is_success else 0
    if not 0 < offset < size:
        offset = 0  # nothing to continue, or an unfinished upload of a different (longer) file
    task = progress.add_task(path.name, total=size, completed=offset)

    def advancing(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            progress.advance(task, len(chunk))
            yield chunk

    if size < OVERLAP_MIN or offset == size - 1:
        sha = digest_of(path, size, progress).hexdigest()
        put_piece(client, url, (offset, size, size), sha, advancing(read(path, offset, size)), busy)
    else:
        digest = digest_of(path, offset, progress)  # of what the server has already
        body = hashed(advancing(read(path, offset, size - 1)), digest)
        put_piece(client, url, (offset, size - 1, size), None, body, busy)
        last = b"".join(read(path, size - 1, size))
        digest.update(last)
        put_piece(client, url, (size - 1, size, size), digest.hexdigest(), advancing(iter([last])), busy)
    resumed = f", resumed at {human_bytes(offset)}" if offset else ""
    return f"{path} -> {remote.strip('/')} ({human_bytes(size)}{resumed})"


def read(path: Path, start: int, stop: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        while start < stop and (chunk := fh.read(min(CHUNK, stop - start))):
            start += len(chunk)
            yield chunk


def hashed(chunks: Iterator[bytes], digest: Any) -> Iterator[bytes]:
    """The chunks, hashed by a second thread while they are sent; complete once exhausted."""
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="winsctl-hash") as hasher:
        for chunk in chunks:
            pending.append(hasher.submit(digest.update, chunk))
            while len(pending) > 2:  # at most three chunks in memory
                pending.popleft().result()
            yield chunk
        for job in pending:
            job.result()


def put_piece(
    client: Client,
    url: str,
    part: tuple[int, int, int],
    sha: str | None,
    content: Iterator[bytes],
    busy: str = "upload in progress: another upload of this file is still sending it",
) -> None:
    """Bytes [start, stop) of a file of `size` bytes: `part` is (start, stop, size)."""
    start, stop, size = part
    headers = {"Content-Length": str(stop - start)}
    if sha is not None:
        headers["X-Sha256"] = sha
    if start or stop < size:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    timeout = httpx.Timeout(30.0, write=None, read=300.0)  # the server fsyncs before answering
    reply = client.request(
        "PUT", url, content=content, headers=headers, timeout=timeout, bulk=True, allow=(409,)
    )
    if reply.status_code == 409:
        detail = api_detail(reply)
        raise CliError(busy if "in progress" in detail else f"{unquote(url.removeprefix(FILES))}: {detail}")


def download_file(client: Client, remote: str, target: Path, progress: Progress) -> str:
    part = target.with_name(f".{target.name}.part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", files_url(remote), headers=headers, allow=(416,), bulk=True) as response:
        if response.status_code == 416:  # the part is as long as the file, or longer: start over
            part.unlink()
            return download_file(client, remote, target, progress)
        if response.status_code != 206:
            have = 0
        total = have + int(response.headers.get("Content-Length", "0") or 0)
        match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
        total = int(match.group(1)) if match else total
        task = progress.add_task(target.name, total=total or None, completed=have)
        with part.open("ab" if have else "wb") as fh:
            for chunk in response.iter_bytes():
                fh.write(chunk)
                progress.advance(task, len(chunk))
        expected = response.headers.get("X-Sha256")
    if total and part.stat().st_size != total:
        raise CliError(
            f"{remote}: got {part.stat().st_size} of {total} bytes; run the same cp again to resume"
        )
    if expected and digest_of(part, part.stat().st_size, progress).hexdigest() != expected.lower():
        part.unlink()
        raise CliError(f"{remote}: checksum mismatch after download; the partial file was removed")
    os.replace(part, target)
    return f"{remote.strip('/')} -> {target} ({human_bytes(total or target.stat().st_size)})"


def cmd_cp(client: Client, args: argparse.Namespace) -> int:
    if is_remote(args.src) == is_remote(args.dst):
        raise CliError(
            "cp copies between this machine and the server: exactly one of SRC and DST must "
            "start with resources/ or workspaces/"
        )
    done: list[str] = []
    with make_progress(args.quiet) as progress:
        if is_remote(args.dst):
            src = Path(args.src)
            if not src.exists():
                raise CliError(f"{src}: no such file or directory")
            if src.is_dir() and not args.recursive:
                raise CliError(f"{src} is a directory; use -r to copy it")
            dst = args.dst.strip("/")
            if args.dst.endswith("/") or is_dir_entry(remote_entry(client, dst)):
                dst = f"{dst}/{src.name}"
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for path in files:
                remote = dst if path == src else f"{dst}/{path.relative_to(src).as_posix()}"
                done.append(upload_file(client, path, remote, progress))
        else:
            src = args.src.strip("/")
            entry = remote_entry(client, src)
            if entry is None:
                raise CliError(f"{src}: not found on {client.server}")
            dst = Path(args.dst)
            target = dst / src.rsplit("/", 1)[-1] if dst.is_dir() else dst
            if not is_dir_entry(entry):
                done.append(download_file(client, src, target, progress))
            elif not args.recursive:
                raise CliError(f"{src} is a directory; use -r to copy it")
            else:
                for remote, local in remote_tree(client, src, target):
                    local.parent.mkdir(parents=True, exist_ok=True)
                    done.append(download_file(client, remote, local, progress))
    if not args.quiet:
        print("\n".join(done))
    return 0


def remote_tree(client: Client, remote: str, local: Path) -> Iterator[tuple[str, Path]]:
    local.mkdir(parents=True, exist_ok=True)
    for entry in listing_entries(client.json("GET", files_url(remote))):
        child, path = f"{remote}/{entry['name']}", local / entry["name"]
        if is_dir_entry(entry):
            yield from remote_tree(client, child, path)
        elif not is_upload_entry(entry):  # half a file: nothing to download yet
            yield child, path


# ---------------------------------------------------------------- parser
