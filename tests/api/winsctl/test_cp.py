"""`winsctl cp` against the real file routes (one app behind uvicorn): client and server agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.api.conftest import Api
from winslow.api import winsctl
from winslow.api.server import uploads
from winslow.api.winsctl import bulk, files
from winslow.api.winsctl.client import Client, CliError


def cp(served: str, token: str, *args: str) -> int:
    return winsctl.main(["--server", served, "--token", token, "cp", "-q", *args])


def test_a_tree_goes_up_and_comes_back_the_same(seeded: Api, served: str, tmp_path: Path) -> None:
    token = seeded.tokens["alice"]
    local = tmp_path / "clips"
    (local / "day1").mkdir(parents=True)
    (local / "day1" / "a.mp4").write_bytes(os.urandom(3 << 20))
    (local / "b.txt").write_text("b")
    assert cp(served, token, "-r", str(local), "workspaces/p/input/") == 0
    assert (seeded.layout.project_input("p") / "clips" / "day1" / "a.mp4").read_bytes() == (
        local / "day1" / "a.mp4"
    ).read_bytes()
    back = tmp_path / "back"
    back.mkdir()
    assert cp(served, token, "-r", "workspaces/p/input/clips", str(back)) == 0
    assert (back / "clips" / "day1" / "a.mp4").read_bytes() == (local / "day1" / "a.mp4").read_bytes()
    assert (back / "clips" / "b.txt").read_text() == "b"


def test_an_upload_into_a_directory_lands_inside_it(seeded: Api, served: str, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"data")
    assert cp(served, seeded.tokens["bob"], str(source), "workspaces/p/input") == 0
    assert (seeded.layout.project_input("p") / "clip.mp4").read_bytes() == b"data"


def test_an_interrupted_upload_is_resumed_by_running_cp_again(
    seeded: Api, served: str, tmp_path: Path
) -> None:
    data = os.urandom(5 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    (seeded.layout.resources / ".big.bin.upload").write_bytes(data[: 2 << 20])  # what a dropped cp left
    assert cp(served, seeded.tokens["carol"], str(source), "resources/big.bin") == 0
    assert (seeded.layout.resources / "big.bin").read_bytes() == data


def test_cp_of_something_the_user_may_not_see_fails_cleanly(
    seeded: Api, served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cp(served, seeded.tokens["carol"], "workspaces/p/input/clip.mp4", str(tmp_path)) == 1
    assert "workspaces/p/input/clip.mp4: not found" in capsys.readouterr().err  # as if p did not exist
    assert not (tmp_path / "clip.mp4").exists()


def cp_up_arrives_whole(api: Api, served: str, tmp_path: Path, data: bytes, partial: bytes = b"") -> None:
    """`winsctl cp` of `data`, where an earlier cp may have left `partial` on the server."""
    (tmp_path / "big.bin").write_bytes(data)
    if partial:
        (api.layout.resources / ".big.bin.upload").write_bytes(partial)
    assert cp(served, api.tokens["carol"], str(tmp_path / "big.bin"), "resources/big.bin") == 0
    assert (api.layout.resources / "big.bin").read_bytes() == data


def test_a_large_file_is_hashed_while_it_is_sent_and_never_read_back(
    seeded: Api, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: object) -> None:
        raise AssertionError("the server read back what it had hashed already")

    monkeypatch.setattr(uploads._Sink, "hash_prefix", fail)
    cp_up_arrives_whole(seeded, served, tmp_path, os.urandom(files.OVERLAP_MIN + 3))


def test_an_interrupted_large_upload_resumes_with_the_checksum_of_the_whole_file(
    seeded: Api, served: str, tmp_path: Path
) -> None:
    data = os.urandom(files.OVERLAP_MIN + 3)
    cp_up_arrives_whole(seeded, served, tmp_path, data, partial=data[: 5 << 20])  # no digest kept: read back


def test_a_large_upload_starts_over_when_an_older_longer_partial_is_there(
    seeded: Api, served: str, tmp_path: Path
) -> None:
    data = os.urandom(files.OVERLAP_MIN + 3)
    cp_up_arrives_whole(seeded, served, tmp_path, data, partial=os.urandom(len(data) + 10))


def test_a_body_shorter_than_announced_fails_at_once(seeded: Api, served: str) -> None:
    client = Client(served, seeded.tokens["carol"])
    with pytest.raises(CliError, match="did the file change"):
        client.request(
            "PUT",
            "/api/v1/files/resources/short.bin",
            content=iter([b"x" * 50]),
            headers={"Content-Length": "100"},
            bulk=True,
        )
    client.close()


def test_transfers_through_a_proxy_keep_httpx_which_speaks_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert bulk.proxied("http://winslow.example:8080")
    assert not bulk.proxied("http://10.0.0.5:8080")
    assert not bulk.proxied("https://winslow.example:8080")
    assert not isinstance(Client("http://winslow.example:8080").bulk._transport, bulk.BulkTransport)
    assert isinstance(Client("http://10.0.0.5:8080").bulk._transport, bulk.BulkTransport)
