"""Uploads checked piece by piece (X-Piece-Sha256): how the web UI checksums files of tens of GB."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import ClientDisconnect

from tests.api.conftest import Api
from winslow.api.server import uploads

F = "/api/v1/files"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_piece(client: httpx.Client, url: str, data: bytes, start: int, stop: int, digest: str | None = None):
    headers = {
        "Content-Range": f"bytes {start}-{stop - 1}/{len(data)}",
        "X-Piece-Sha256": digest or sha(data[start:stop]),
    }
    return client.put(url, content=data[start:stop], headers=headers)


def test_pieces_with_their_own_checksums_make_the_file(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/video.bin"
    data = os.urandom(3 << 20)
    cuts = [0, 1 << 20, 2 << 20, len(data)]
    for start, stop in itertools.pairwise(cuts):
        reply = put_piece(client, url, data, start, stop)
        assert reply.status_code == (201 if stop == len(data) else 202), reply.text
    assert reply.json()["complete"] and "sha256" not in reply.json()
    assert (api.layout.resources / "video.bin").read_bytes() == data


def test_a_piece_that_does_not_match_is_cut_off_and_said_where_to_go_on(api: Api) -> None:
    client, url = api.as_("carol"), f"{F}/resources/video.bin"
    data = os.urandom(300_000)
    assert put_piece(client, url, data, 0, 100_000).status_code == 202
    reply = put_piece(client, url, data, 100_000, 200_000, digest=sha(b"something else"))
    assert reply.status_code == 422
    assert "X-Piece-Sha256" in reply.json()["detail"] and reply.json()["offset"] == 100_000
    assert reply.headers["Upload-Offset"] == "100000"
    assert client.head(url, params={"upload": "true"}).headers["Upload-Offset"] == "100000"
    assert put_piece(client, url, data, 100_000, 300_000).status_code == 201
    assert (api.layout.resources / "video.bin").read_bytes() == data


def test_a_whole_file_with_a_piece_checksum_and_no_range(api: Api) -> None:
    client = api.as_("carol")
    data = b"hello"
    reply = client.put(f"{F}/resources/a.txt", content=data, headers={"X-Piece-Sha256": sha(data)})
    assert reply.status_code == 201
    bad = client.put(f"{F}/resources/b.txt", content=data, headers={"X-Piece-Sha256": sha(b"x")})
    assert bad.status_code == 422
    assert not (api.layout.resources / "b.txt").exists()


def test_both_checksums_at_once_are_refused(api: Api) -> None:
    reply = api.as_("carol").put(
        f"{F}/resources/a.txt", content=b"a", headers={"X-Piece-Sha256": sha(b"a"), "X-Sha256": sha(b"a")}
    )
    assert reply.status_code == 400 and "not both" in reply.json()["detail"]


def test_a_piece_cut_short_leaves_the_upload_where_the_piece_began(api: Api) -> None:
    """Only checked bytes stay: a resume then sends the whole piece again."""
    parent = os.open(api.layout.resources, os.O_RDONLY | os.O_DIRECTORY)
    data = os.urandom(3 * uploads.BUFFER)
    first = uploads.BUFFER

    async def body() -> AsyncIterator[bytes]:
        yield data[first : first + uploads.BUFFER + 10]
        raise ClientDisconnect

    async def scenario() -> tuple[object, int]:
        from winslow.api.server.ranges import content_range

        piece = content_range(f"bytes {first}-{len(data) - 1}/{len(data)}")
        result = await uploads.receive(body(), parent, "v.bin", piece, None, piece_sha256=sha(data[first:]))
        return result, await uploads.offset(parent, "v.bin")

    assert put_piece(api.as_("carol"), f"{F}/resources/v.bin", data, 0, first).status_code == 202
    try:
        result, offset = asyncio.run(scenario())
    finally:
        os.close(parent)
    assert result is None and offset == first
    assert put_piece(api.as_("carol"), f"{F}/resources/v.bin", data, first, len(data)).status_code == 201
    assert (api.layout.resources / "v.bin").read_bytes() == data


def test_pieces_over_the_node_socket_path(seeded: Api, served: str) -> None:
    """The fast path (the body read from the socket by a thread) checks pieces the same way."""
    token = seeded.tokens["carol"]
    data = os.urandom(9 << 20)
    with httpx.Client(base_url=served, headers={"Authorization": f"Bearer {token}"}) as client:
        url = f"{F}/resources/fast.bin"
        assert put_piece(client, url, data, 0, 4 << 20).status_code == 202
        assert put_piece(client, url, data, 4 << 20, len(data), digest=sha(b"no")).status_code == 422
        assert client.head(url, params={"upload": "true"}).headers["Upload-Offset"] == str(4 << 20)
        assert put_piece(client, url, data, 4 << 20, len(data)).status_code == 201
    assert (seeded.layout.resources / "fast.bin").read_bytes() == data


@pytest.mark.parametrize("value", ["abc", "g" * 64])
def test_a_malformed_piece_checksum_is_422(api: Api, value: str) -> None:
    reply = api.as_("carol").put(f"{F}/resources/a.txt", content=b"a", headers={"X-Piece-Sha256": value})
    assert reply.status_code == 422
