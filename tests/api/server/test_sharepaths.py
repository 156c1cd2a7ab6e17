"""Path safety: traversal and symbolic links never reach outside resources/ or a project's workspace.

Every attack runs with every method, as admin (who may do the most), and must be refused with a
4xx while nothing anywhere changes: not the share, not the folder outside it.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest
from fastapi import HTTPException

from tests.api.conftest import Api
from tests.harness import project
from winslow.api.server import sharepaths
from winslow.api.server.errors import SHARE_ERRORS
from winslow.resources.folders import open_dir

F = "/api/v1/files"
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]


def snapshot(*roots: Path) -> dict[str, object]:
    """Every entry with its kind and content: any write anywhere shows up as a difference."""
    seen: dict[str, object] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                if path.is_symlink():
                    seen[str(path)] = ("link", os.readlink(path))
                elif path.is_file():
                    seen[str(path)] = path.read_bytes()
                else:
                    seen[str(path)] = "dir"
    return seen


@pytest.fixture
def trap(seeded: Api, tmp_path: Path) -> Api:
    """Links a stage could have planted in its workspace, and an outside folder they point to."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    seeded.as_("carol").post("/api/v1/projects", json=project("q", "demo"))
    q_input = seeded.layout.project_input("q")
    q_input.mkdir(parents=True)
    (q_input / "q.txt").write_text("q's data")
    out = seeded.layout.project_output("p")
    out.mkdir(parents=True)
    (out / "outside").symlink_to(outside)
    (out / "secret.txt").symlink_to(outside / "secret.txt")
    (out / "other").symlink_to(seeded.layout.project_dir("q"))
    (out / "settings").symlink_to(seeded.layout.settings)
    (out / "etc").symlink_to("/etc")
    (out / "mine").symlink_to("../input")  # stays inside p: allowed
    return seeded


ATTACKS = [
    "workspaces/p/output/outside/secret.txt",
    "workspaces/p/output/outside/new.txt",
    "workspaces/p/output/outside/new.txt?upload=true",
    "workspaces/p/output/outside",
    "workspaces/p/output/secret.txt",
    "workspaces/p/output/other/input/q.txt",
    "workspaces/p/output/other/input/new.txt",
    "workspaces/p/output/settings/users.yaml",
    "workspaces/p/output/etc/passwd",
    "workspaces/p/output/etc/winslow-was-here",
    "workspaces/p/output/etc",
    "resources/%2e%2e/settings/users.yaml",
    "resources/%2E%2E/%2E%2E/etc/passwd",
    "resources/%252e%252e/settings/users.yaml",
    "resources/%25252e%25252e/settings",
    "workspaces/p/input/%2e%2e/%2e%2e/q/input/q.txt",
    "workspaces/p/%2e%2e%2fq/input/q.txt",
    "resources/a%2f..%2f..%2fsettings",
    "/etc/passwd",
    "%2fetc/passwd",
    "resources/..%5csettings",
    "resources/a%5c..%5c..%5csettings",
    "resources/a%00b",
    "settings/users.yaml",
    "run/events",
    "workspaces/..",
    "workspaces/P/input",
]


LINKS = {"workspaces/p/output/outside", "workspaces/p/output/secret.txt", "workspaces/p/output/etc"}


@pytest.mark.parametrize(
    ("method", "path"),
    # DELETE of a link removes the link itself, which is allowed (tested below)
    [(m, p) for p in ATTACKS for m in METHODS if not (m == "DELETE" and p in LINKS)],
)
def test_attacks_are_refused_and_write_nothing(trap: Api, tmp_path: Path, method: str, path: str) -> None:
    before = snapshot(tmp_path)
    reply = trap.as_("admin").request(method, f"{F}/{path}", content=b"pwned" if method == "PUT" else None)
    assert 400 <= reply.status_code < 500, f"{method} {path}: {reply.status_code} {reply.text}"
    if method != "HEAD":
        assert reply.json()["detail"]
    assert snapshot(tmp_path) == before


def test_a_link_in_a_listing_that_leads_outside_is_left_out(trap: Api) -> None:
    entries = trap.as_("alice").get(f"{F}/workspaces/p/output").json()["entries"]
    assert [(e["name"], e["type"]) for e in entries] == [("mine", "directory")]


def test_a_link_that_stays_inside_the_project_works(trap: Api) -> None:
    reply = trap.as_("alice").get(f"{F}/workspaces/p/output/mine/clip.mp4")
    assert (reply.status_code, reply.content) == (200, b"0123456789")


def test_deleting_a_link_removes_the_link_never_its_target(trap: Api, tmp_path: Path) -> None:
    assert trap.as_("alice").delete(f"{F}/workspaces/p/output/outside").status_code == 200
    assert not (trap.layout.project_output("p") / "outside").exists()
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"
    assert trap.as_("alice").delete(f"{F}/workspaces/p/output/other").status_code == 200
    assert (trap.layout.project_input("q") / "q.txt").read_text() == "q's data"


def test_a_project_workspace_that_is_a_link_is_refused(trap: Api, tmp_path: Path) -> None:
    target = trap.layout.project_dir("p")
    os.rename(target, tmp_path / "moved")
    target.symlink_to(tmp_path / "moved")
    reply = trap.as_("alice").get(f"{F}/workspaces/p/input/clip.mp4")
    assert reply.status_code == 403


def test_a_link_swapped_in_after_the_check_is_not_followed(trap: Api) -> None:
    """The race a stage could try: the directory checked is replaced by a link before the open."""
    top = os.path.realpath(trap.layout.workspaces)
    with pytest.raises(OSError) as exc:
        open_dir(top, ("p", "output", "outside"))
    assert exc.value.errno in (errno.ELOOP, errno.ENOTDIR)


def test_upload_offset_never_reads_through_a_link(trap: Api, tmp_path: Path) -> None:
    (trap.layout.resources / ".v.bin.upload").symlink_to(tmp_path / "outside" / "secret.txt")
    reply = trap.as_("carol").head(f"{F}/resources/v.bin?upload=true")
    assert reply.status_code == 403
    put = trap.as_("carol").put(
        f"{F}/resources/v.bin", content=b"x", headers={"Content-Range": "bytes 0-0/2"}
    )
    assert put.status_code == 403
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"


@pytest.mark.parametrize(
    "raw", ["resources/../settings/users.yaml", "workspaces/p/../../settings/users.yaml"]
)
def test_literal_dot_dot_on_the_wire_is_refused(trap: Api, served: str, raw: str) -> None:
    """httpx normalises `..` away, so this one is sent byte for byte, as `curl --path-as-is` would."""
    host, port = served.removeprefix("http://").split(":")
    token = trap.tokens["admin"]
    request = (
        f"GET {F}/{raw} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"users:" not in answer


@pytest.mark.parametrize(
    "raw",
    ["../x", "resources/..", "resources/./x", "/resources/x", "resources\\x", "resources/a\x00", "", "x/y"],
)
def test_parse_refuses_paths_that_could_mean_another_place(raw: str) -> None:
    with pytest.raises(HTTPException) as exc:
        sharepaths.parse(raw)
    assert exc.value.status_code == 400


def test_parse_keeps_ordinary_names_as_they_are() -> None:
    assert sharepaths.parse("resources//videos/a b%41.mp4/").parts == ("resources", "videos", "a b%41.mp4")
    assert sharepaths.parse("workspaces/p/input").project == "p"


@pytest.mark.parametrize(("code", "status"), [(errno.ENOSPC, 507), (errno.EDQUOT, 507), (errno.EROFS, 503)])
def test_a_share_that_takes_no_writes_answers_as_everywhere_else(code: int, status: int) -> None:
    """One table (api.errors.SHARE_ERRORS): a read-only share was 403 here and 503 elsewhere."""
    with pytest.raises(HTTPException) as raised, sharepaths.translated(sharepaths.parse("resources/x")):
        raise OSError(code, os.strerror(code))
    assert raised.value.status_code == status == SHARE_ERRORS[code][0]
    assert raised.value.headers == {"Retry-After": "10"}
