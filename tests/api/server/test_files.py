"""The file tree: listings, downloads with Range, resumable uploads, directories and deletion."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
import pytest
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from tests.api.conftest import Api
from winslow.api.server import uploads
from winslow.api.server.ranges import content_range

F = "/api/v1/files"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_directory_lists_as_json_and_says_so_in_a_header(seeded: Api) -> None:
    reply = seeded.as_("alice").get(f"{F}/workspaces/p/input")
    assert reply.status_code == 200
    assert reply.headers["X-Winslow-Type"] == "directory"
    body = reply.json()
    assert body["path"] == "workspaces/p/input"
    assert [(e["name"], e["type"], e["size"]) for e in body["entries"]] == [("clip.mp4", "file", 10)]
    assert body["entries"][0]["mtime"].endswith("+00:00")


def test_a_file_downloads_whole_with_its_type_and_length(seeded: Api) -> None:
    reply = seeded.as_("alice").get(f"{F}/workspaces/p/input/clip.mp4")
    assert reply.status_code == 200
    assert reply.content == b"0123456789"
    assert reply.headers["X-Winslow-Type"] == "file"
    assert reply.headers["Content-Length"] == "10"
    assert reply.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range_header"),
    [
        ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=0-0", 206, b"0", "bytes 0-0/10"),
        ("bytes=10-", 416, None, "bytes */10"),
        ("bytes=-0", 416, None, "bytes */10"),
        ("bytes=0-1,4-5", 200, b"0123456789", None),  # several ranges: the whole file (RFC 9110)
        ("bytes=5-2", 200, b"0123456789", None),  # invalid: ignored
        ("pages=1-2", 200, b"0123456789", None),
    ],
)
def test_range_requests_get_exactly_the_bytes_asked_for(
    seeded: Api, header: str, status: int, body: bytes | None, content_range_header: str | None
) -> None:
    reply = seeded.as_("bob").get(f"{F}/workspaces/p/input/clip.mp4", headers={"Range": header})
    assert reply.status_code == status
    assert reply.headers.get("Content-Range") == content_range_header
    if body is not None:
        assert reply.content == body
        assert reply.headers["Content-Length"] == str(len(body))
    else:
        assert "10 bytes" in reply.json()["detail"]


def test_head_tells_file_from_directory(seeded: Api) -> None:
    client = seeded.as_("alice")
    assert client.head(f"{F}/resources").headers["X-Winslow-Type"] == "directory"
    file = client.head(f"{F}/resources/pool.bin")
    assert (file.headers["X-Winslow-Type"], file.headers["Content-Length"]) == ("file", "4")
    assert client.head(f"{F}/resources/missing").status_code == 404


def test_an_upload_lands_whole_with_parents_created(api: Api) -> None:
    data = os.urandom(3 * uploads.BUFFER + 123)  # several buffers, and a short last one
    reply = api.as_("carol").put(
        f"{F}/resources/videos/2024/a.mp4", content=data, headers={"X-Sha256": sha(data)}
    )
    assert reply.status_code == 201, reply.text
    assert reply.json() == {
        "path": "resources/videos/2024/a.mp4",
        "complete": True,
        "size": len(data),
        "sha256": sha(data),
    }
    assert (api.layout.resources / "videos" / "2024" / "a.mp4").read_bytes() == data
    assert os.listdir(api.layout.resources / "videos" / "2024") == ["a.mp4"]


def test_an_upload_streams_a_body_of_unknown_length(api: Api) -> None:
    def body() -> Iterator[bytes]:
        yield from (bytes([i]) * 70_000 for i in range(40))

    reply = api.as_("carol").put(f"{F}/resources/chunked.bin", content=body())
    assert reply.status_code == 201, reply.text
    assert (api.layout.resources / "chunked.bin").read_bytes() == b"".join(body())
    assert "sha256" not in reply.json()  # nothing asked for, nothing spent


def test_a_wrong_checksum_discards_the_upload_and_replaces_nothing(seeded: Api) -> None:
    reply = seeded.as_("alice").put(
        f"{F}/resources/pool.bin", content=b"evil", headers={"X-Sha256": sha(b"good")}
    )
    assert reply.status_code == 422
    assert "discarded" in reply.json()["detail"]
    assert (seeded.layout.resources / "pool.bin").read_bytes() == b"pool"
    assert sorted(os.listdir(seeded.layout.resources)) == ["pool.bin"]


def test_an_upload_continues_in_pieces_and_appears_only_when_complete(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/big.bin"
    data = b"abcdefghij"
    first = client.put(url, content=data[:4], headers={"Content-Range": "bytes 0-3/10"})
    assert first.status_code == 202
    assert first.json()["offset"] == 4 and first.headers["Upload-Offset"] == "4"
    assert client.head(url, params={"upload": "true"}).headers["Upload-Offset"] == "4"
    assert client.head(url).status_code == 404
    listed = client.get(f"{F}/resources").json()["entries"]
    assert [(e["name"], e["type"], e["size"]) for e in listed] == [("big.bin", "upload", 4)]
    rest = client.put(url, content=data[4:], headers={"Content-Range": "bytes 4-9/10", "X-Sha256": sha(data)})
    assert rest.status_code == 201, rest.text
    assert rest.json()["sha256"] == sha(data)
    assert (api.layout.resources / "big.bin").read_bytes() == data
    assert client.head(url, params={"upload": "true"}).headers["Upload-Offset"] == "0"


def never_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object) -> None:
        raise AssertionError("the server read back what it had hashed already")

    monkeypatch.setattr(uploads._Sink, "hash_prefix", fail)


def test_the_piece_that_completes_a_file_is_checked_with_the_digest_kept_of_the_pieces_before(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, url = api.as_("carol"), f"{F}/resources/big.bin"
    data = os.urandom(3 << 20)
    never_read_back(monkeypatch)
    for start, stop in ((0, 1 << 20), (1 << 20, len(data) - 1)):
        reply = client.put(
            url, content=data[start:stop], headers={"Content-Range": f"bytes {start}-{stop - 1}/{len(data)}"}
        )
        assert reply.status_code == 202
    headers = {"Content-Range": f"bytes {len(data) - 1}-{len(data) - 1}/{len(data)}", "X-Sha256": sha(data)}
    assert client.put(url, content=data[-1:], headers=headers).status_code == 201
    assert (api.layout.resources / "big.bin").read_bytes() == data


def test_a_partial_upload_changed_between_pieces_is_read_back_and_caught(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/big.bin"
    data = b"abcdefghij"
    client.put(url, content=data[:9], headers={"Content-Range": "bytes 0-8/10"})
    partial = api.layout.resources / ".big.bin.upload"
    before = partial.stat().st_mtime_ns
    partial.write_bytes(b"ABCDEFGHI")  # same length: only the content and mtime tell
    os.utime(partial, ns=(before, before - 10**9))  # not within the clock tick of the first piece
    headers = {"Content-Range": "bytes 9-9/10", "X-Sha256": sha(data)}
    reply = client.put(url, content=data[9:], headers=headers)
    assert reply.status_code == 422
    assert sha(b"ABCDEFGHIj") in reply.json()["detail"]
    assert not (api.layout.resources / "big.bin").exists()


def test_a_piece_from_byte_0_starts_over_whatever_was_there(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/big.bin"
    (api.layout.resources / ".big.bin.upload").write_bytes(b"a longer, older version of the file")
    reply = client.put(url, content=b"new", headers={"Content-Range": "bytes 0-2/5"})
    assert reply.status_code == 202
    assert (api.layout.resources / ".big.bin.upload").read_bytes() == b"new"


def test_a_piece_after_a_partial_longer_than_its_file_says_to_start_over(api: Api) -> None:
    (api.layout.resources / ".big.bin.upload").write_bytes(b"x" * 20)
    headers = {"Content-Range": "bytes 9-9/10"}
    reply = api.as_("carol").put(f"{F}/resources/big.bin", content=b"j", headers=headers)
    assert reply.status_code == 409
    assert "start over from byte 0" in reply.json()["detail"]


def test_a_piece_at_the_wrong_offset_is_409_with_the_right_one(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/big.bin"
    client.put(url, content=b"abcd", headers={"Content-Range": "bytes 0-3/10"})
    reply = client.put(url, content=b"ghij", headers={"Content-Range": "bytes 6-9/10"})
    assert reply.status_code == 409
    assert reply.json()["offset"] == 4 and reply.headers["Upload-Offset"] == "4"
    assert "bytes 4-9/10" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("header", "body"),
    [("bytes 0-3", b"abcd"), ("bytes 5-3/10", b"abc"), ("bytes 0-9/5", b"abc"), ("bytes 0-3/10", b"abcdef")],
)
def test_a_bad_content_range_is_400_and_writes_nothing(api: Api, header: str, body: bytes) -> None:
    reply = api.as_("carol").put(f"{F}/resources/x.bin", content=body, headers={"Content-Range": header})
    assert reply.status_code == 400, reply.text
    assert not (api.layout.resources / "x.bin").exists()


def test_an_interrupted_upload_keeps_what_arrived_for_a_resume(api: Api) -> None:
    """The server side of a dropped connection: every byte received is on disk, nothing is renamed."""
    parent = os.open(api.layout.resources, os.O_RDONLY | os.O_DIRECTORY)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (uploads.BUFFER // 2 + 1)
        raise ClientDisconnect

    async def scenario() -> tuple[object, int]:
        result = await uploads.receive(body(), parent, "v.bin", None, None)
        return result, await uploads.offset(parent, "v.bin")

    try:
        result, offset = asyncio.run(scenario())
    finally:
        os.close(parent)
    assert result is None
    assert offset == 3 * (uploads.BUFFER // 2 + 1)
    assert not (api.layout.resources / "v.bin").exists()
    assert api.as_("carol").head(f"{F}/resources/v.bin?upload=true").headers["Upload-Offset"] == str(offset)
    rest = b"y" * 5
    total = offset + len(rest)
    reply = api.as_("carol").put(
        f"{F}/resources/v.bin", content=rest, headers={"Content-Range": f"bytes {offset}-{total - 1}/{total}"}
    )
    assert reply.status_code == 201
    assert (api.layout.resources / "v.bin").stat().st_size == total


def test_a_cancelled_upload_still_writes_what_it_handed_over_in_place_and_lets_go(tmp_path: Path) -> None:
    """The node stopping cancels a request whose write waits for a busy thread pool (the ASGI path:
    TLS, chunked bodies): the write still runs, at its own offset, and closes its descriptor."""
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    quarter = uploads.BUFFER // 4

    async def body() -> AsyncIterator[bytes]:
        for tag in b"AB":
            for _ in range(4):
                yield bytes([tag]) * quarter
        await asyncio.sleep(3600)  # the client goes quiet

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        busy = asyncio.gather(loop.run_in_executor(None, time.sleep, 0.5), run_in_threadpool(time.sleep, 0.5))
        upload = asyncio.ensure_future(uploads.receive(body(), parent, "f.bin", None, None))
        await asyncio.sleep(0.2)  # A's write is queued behind the busy thread
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        await busy

    before = len(os.listdir("/proc/self/fd"))
    try:
        asyncio.run(scenario())
    finally:
        os.close(parent)
    data = (tmp_path / ".f.bin.upload").read_bytes()
    assert data == (b"A" * 4 * quarter + b"B" * 4 * quarter)[: len(data)]
    assert len(data) >= 4 * quarter
    assert len(os.listdir("/proc/self/fd")) <= before
    with (tmp_path / ".f.bin.upload").open("rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds the lock any more


def test_a_second_upload_of_the_same_file_waits_then_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    monkeypatch.setattr(uploads, "LOCK_WAIT", 0.1)
    (api.layout.resources / ".busy.bin.upload").write_bytes(b"12")
    fd = os.open(api.layout.resources / ".busy.bin.upload", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        reply = api.as_("carol").put(f"{F}/resources/busy.bin", content=b"abc")
    finally:
        os.close(fd)
    assert reply.status_code == 409
    assert "in progress" in reply.json()["detail"]


def test_directories_are_made_listed_and_deleted_recursively(api: Api) -> None:
    client = api.as_("carol")
    assert client.post(f"{F}/resources/a/b/c").status_code == 201
    assert client.post(f"{F}/resources/a/b/c").status_code == 201  # mkdir -p: again is fine
    client.put(f"{F}/resources/a/b/c/f.txt", content=b"f")
    entries = client.get(f"{F}/resources/a").json()["entries"]
    assert [(e["name"], e["type"]) for e in entries] == [("b", "directory")]
    assert client.delete(f"{F}/resources/a").json() == {"deleted": "resources/a"}
    assert not (api.layout.resources / "a").exists()
    assert client.delete(f"{F}/resources/a").status_code == 404


def test_deleting_a_file_also_drops_its_unfinished_upload(api: Api) -> None:
    client = api.as_("carol")
    client.put(f"{F}/resources/v.bin", content=b"ab", headers={"Content-Range": "bytes 0-1/9"})
    assert client.delete(f"{F}/resources/v.bin").status_code == 200
    assert os.listdir(api.layout.resources) == []


def test_an_unfinished_upload_is_listed_to_who_may_see_the_folder_and_can_be_deleted(seeded: Api) -> None:
    url = f"{F}/workspaces/p/input/video.mp4"
    seeded.as_("alice").put(url, content=b"abc", headers={"Content-Range": "bytes 0-2/9"})
    for who in ("alice", "bob", "admin"):
        entries = seeded.as_(who).get(f"{F}/workspaces/p/input").json()["entries"]
        assert [(e["name"], e["type"], e["size"]) for e in entries] == [
            ("clip.mp4", "file", 10),
            ("video.mp4", "upload", 3),
        ]
        assert entries[1]["mtime"].endswith("+00:00")
    assert seeded.as_("carol").get(f"{F}/workspaces/p/input").status_code == 404
    assert seeded.as_("carol").delete(url).status_code == 404
    assert seeded.as_("bob").delete(url).json() == {"deleted": "workspaces/p/input/video.mp4"}
    assert os.listdir(seeded.layout.project_input("p")) == ["clip.mp4"]
    assert seeded.as_("bob").delete(url).status_code == 404


def test_deleting_a_leftover_keeps_the_finished_file_of_its_name(api: Api) -> None:
    url = f"{F}/resources/v.bin"
    assert api.as_("alice").put(url, content=b"done").status_code == 201
    api.as_("alice").put(url, content=b"abc", headers={"Content-Range": "bytes 0-2/9"})
    assert api.as_("bob").delete(f"{url}?upload=true").json() == {
        "deleted": "resources/v.bin (unfinished upload)"
    }
    assert api.as_("bob").get(url).content == b"done"
    assert api.as_("bob").delete(f"{url}?upload=true").status_code == 404


def test_only_a_regular_file_named_like_a_partial_upload_is_listed_as_one(api: Api) -> None:
    (api.layout.resources / ".upload").write_bytes(b"not a partial: it names no file")
    (api.layout.resources / ".gone.upload").symlink_to("/etc/passwd")
    (api.layout.resources / ".dir.upload").mkdir()
    entries = api.as_("carol").get(f"{F}/resources").json()["entries"]
    assert [(e["name"], e["type"]) for e in entries] == [(".upload", "file")]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("path", ["resources", "workspaces", "workspaces/p"])
def test_the_folders_of_the_share_are_never_replaced_or_removed(seeded: Api, method: str, path: str) -> None:
    reply = seeded.as_("admin").request(method, f"{F}/{path}", content=b"x" if method == "PUT" else None)
    assert reply.status_code == 400
    assert (seeded.layout.root / path).is_dir()


def test_a_file_where_a_directory_is_and_back_are_conflicts(seeded: Api) -> None:
    client = seeded.as_("alice")
    assert client.put(f"{F}/workspaces/p/input", content=b"x").status_code == 409
    assert client.put(f"{F}/workspaces/p/output/d/x", content=b"x").status_code == 201
    assert client.put(f"{F}/workspaces/p/output/d", content=b"x").status_code == 409
    assert client.post(f"{F}/workspaces/p/output/d/x").status_code == 409
    assert client.put(f"{F}/workspaces/p/output/d/x/y", content=b"x").status_code == 409


def test_errors_are_json_with_an_actionable_message(api: Api) -> None:
    reply = api.as_("carol").get(f"{F}/elsewhere/x")
    assert reply.status_code == 400
    assert "resources/" in reply.json()["detail"]
    missing = api.as_("carol").get(f"{F}/resources/nope.bin")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "resources/nope.bin: no such file or directory"


def test_content_range_parsing() -> None:
    assert content_range("bytes 4-9/10").header() == "bytes 4-9/10"
    with pytest.raises(ValueError, match="START <= END < TOTAL"):
        content_range("bytes 9-4/10")
