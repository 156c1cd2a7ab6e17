"""winsctl against a fake API (httpx.MockTransport): wording, error handling and resumable transfers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from winslow.api import winsctl
from winslow.api.winsctl import commands, files

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real config file, environment or sleeps leak into a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("WINSLOW_CONFIG", raising=False)
    monkeypatch.delenv("WINSLOW_SERVER", raising=False)
    monkeypatch.delenv("WINSLOW_TOKEN", raising=False)
    monkeypatch.setattr(commands, "RECONNECT_DELAY", 0.0)


class Fake:
    """Routes (METHOD, PATH) to canned responses and remembers every request."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.servers: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"detail": f"no route {request.method} {request.url.path}"})
        return answer(request) if callable(answer) else answer

    def factory(self, server: str, token: str | None) -> winsctl.Client:
        self.servers.append((server, token))
        return winsctl.Client(server, token, transport=httpx.MockTransport(self))


def run(fake: Fake, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = winsctl.main(argv, client_factory=fake.factory)
    out, err = capsys.readouterr()
    return code, out, err


def as_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "winslow/v1", "kind": "List", "items": list(items)}


def stagerun(name: str, phase: str = "Succeeded", **status: Any) -> dict[str, Any]:
    project, _, stage = name.split(".")
    return {
        "apiVersion": "winslow/v1",
        "kind": "StageRun",
        "metadata": {"name": name, "creationTimestamp": "2024-05-01T10:00:00+00:00"},
        "spec": {"project": project, "stage": stage, "image": "busybox", "attempt": 1},
        "status": {"phase": phase, "node": "ws1", "trigger": "auto", **status},
    }


@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("pipeline", "pipelines"),
        ("pl", "pipelines"),
        ("Projects", "projects"),
        ("proj", "projects"),
        ("pj", "projects"),
        ("sr", "stageruns"),
        ("run", "stageruns"),
        ("runs", "stageruns"),
        ("no", "nodes"),
        ("node", "nodes"),
    ],
)
def test_kind_aliases_reach_the_plural_route(
    alias: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = Fake({("GET", f"/api/v1/{kind}"): httpx.Response(200, json=as_list())})
    code, _, _ = run(fake, ["get", alias], capsys)
    assert code == 0
    assert [r.url.path for r in fake.requests] == [f"/api/v1/{kind}"]


def test_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        winsctl.main(["get", "widgets"], client_factory=Fake({}).factory)
    assert exc.value.code == 2
    assert "unknown kind 'widgets'" in capsys.readouterr().err


def write_manifests(folder: Path) -> None:
    folder.mkdir()
    (folder / "a-pipeline.yaml").write_text("kind: Pipeline\nmetadata: {name: video}\n")
    (folder / "b-projects.yml").write_text(
        "kind: Project\nmetadata: {name: ulm}\n---\nkind: Project\nmetadata: {name: bonn}\n"
    )
    (folder / "notes.txt").write_text("not a manifest")


def test_apply_sends_one_request_and_uses_kubectl_wording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = [
        {"kind": "Pipeline", "name": "video", "result": "created", "diff": "+kind: Pipeline\n"},
        {"kind": "Project", "name": "ulm", "result": "updated", "diff": "-a\n+b\n"},
        {"kind": "Project", "name": "bonn", "result": "unchanged", "diff": ""},
    ]
    fake = Fake({("POST", "/api/v1/apply"): httpx.Response(200, json={"dryRun": False, "results": results})})
    write_manifests(tmp_path / "m")
    code, out, _ = run(fake, ["apply", "-f", str(tmp_path / "m")], capsys)
    assert code == 0
    assert len(fake.requests) == 1
    body = json.loads(fake.requests[0].content)
    assert [d["metadata"]["name"] for d in body["documents"]] == ["video", "ulm", "bonn"]
    assert body["source"] == str(tmp_path / "m")
    assert body["dryRun"] is False
    assert out.splitlines() == ["pipeline/video created", "project/ulm configured", "project/bonn unchanged"]


def test_apply_dry_run_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = [{"kind": "Pipeline", "name": "video", "result": "updated", "diff": "-old\n+new\n"}]
    fake = Fake({("POST", "/api/v1/apply"): httpx.Response(200, json={"dryRun": True, "results": results})})
    manifest = tmp_path / "p.yaml"
    manifest.write_text("kind: Pipeline\nmetadata: {name: video}\n")
    code, out, _ = run(fake, ["apply", "-f", str(manifest), "--dry-run", "--diff"], capsys)
    assert code == 1, "as kubectl diff: 1 when there are differences"
    assert json.loads(fake.requests[0].content)["source"] == str(manifest)
    assert json.loads(fake.requests[0].content)["dryRun"] is True
    assert out.splitlines() == ["pipeline/video configured (dry run)", "-old", "+new"]


def test_apply_422_prints_detail_naming_the_file_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "m"
    detail = f'{folder}[document 2]: spec.pipeline: pipeline "nope" does not exist'
    fake = Fake({("POST", "/api/v1/apply"): httpx.Response(422, json={"detail": detail, "problems": []})})
    write_manifests(folder)
    code, out, err = run(fake, ["apply", "-f", str(folder)], capsys)
    assert code == 1
    assert out == ""
    assert (
        err
        == f'error: {folder / "b-projects.yml"}[document 1]: spec.pipeline: pipeline "nope" does not exist\n'
    )
    assert "Traceback" not in err


def test_apply_yaml_syntax_error_names_file_and_line_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pipeline\nmetadata:\n  name: [unclosed\n")
    fake = Fake({})
    code, _, err = run(fake, ["apply", "-f", str(bad)], capsys)
    assert code == 1
    assert fake.requests == []
    assert err.startswith(f"error: {bad}:4:")


def test_get_json_passes_the_list_through(capsys: pytest.CaptureFixture[str]) -> None:
    listing = as_list(
        {"kind": "Pipeline", "metadata": {"name": "video"}, "spec": {"stages": [{"name": "a"}]}}
    )
    fake = Fake({("GET", "/api/v1/pipelines"): httpx.Response(200, json=listing)})
    code, out, _ = run(fake, ["get", "pipelines", "-o", "json"], capsys)
    assert code == 0
    assert json.loads(out) == listing
    assert out == json.dumps(listing, indent=2) + "\n"


def test_get_yaml_keeps_the_api_order(capsys: pytest.CaptureFixture[str]) -> None:
    obj = {"kind": "Project", "metadata": {"name": "ulm"}, "spec": {"pipeline": "video"}}
    fake = Fake({("GET", "/api/v1/projects/ulm"): httpx.Response(200, json=obj)})
    code, out, _ = run(fake, ["get", "pj", "ulm", "-o", "yaml"], capsys)
    assert code == 0
    assert out.splitlines()[:2] == ["kind: Project", "metadata:"]


def test_stagerun_table_is_aligned_and_filters_by_project(capsys: pytest.CaptureFixture[str]) -> None:
    runs = as_list(stagerun("ulm.1.extract", exitCode=0), stagerun("ulm.2.render", "Running"))
    fake = Fake({("GET", "/api/v1/stageruns"): httpx.Response(200, json=runs)})
    code, out, _ = run(fake, ["get", "sr", "--project", "ulm"], capsys)
    assert code == 0
    assert fake.requests[0].url.params["project"] == "ulm"
    header, first, second = out.splitlines()
    assert header.split() == ["NAME", "PROJECT", "STAGE", "PHASE", "NODE", "TRIGGER", "EXIT", "AGE"]
    assert first.split()[:7] == ["ulm.1.extract", "ulm", "extract", "Succeeded", "ws1", "auto", "0"]
    assert second.split()[:7] == ["ulm.2.render", "ulm", "render", "Running", "ws1", "auto", "-"]
    assert header.index("PHASE") == first.index("Succeeded") == second.index("Running")


def test_projects_wide_adds_reason_and_nodes_table(capsys: pytest.CaptureFixture[str]) -> None:
    project = {
        "metadata": {"name": "ulm"},
        "spec": {"pipeline": "video"},
        "status": {"phase": "Waiting", "currentStage": "track", "reason": "waiting for confirmation"},
    }
    node = {
        "metadata": {"name": "ws1"},
        "status": {
            "capacity": {"cpu": 16, "memory": 64 * 2**30, "gpu": 2},
            "reservations": {"cpu": 4, "memory": 8 * 2**30, "gpu": 1},
            "executes": True,
        },
    }
    fake = Fake(
        {
            ("GET", "/api/v1/projects"): httpx.Response(200, json=as_list(project)),
            ("GET", "/api/v1/nodes"): httpx.Response(200, json=as_list(node)),
        }
    )
    _, out, _ = run(fake, ["get", "projects", "-o", "wide"], capsys)
    assert out.splitlines()[0].split() == ["NAME", "PIPELINE", "PHASE", "STAGE", "AGE", "TAGS", "REASON"]
    assert out.splitlines()[1].endswith("waiting for confirmation")
    _, out, _ = run(fake, ["get", "nodes"], capsys)
    assert out.splitlines()[0].split() == [
        "NAME",
        "STATUS",
        "EXECUTES",
        "CPU",
        "MEMORY",
        "GPU",
        "RESERVED",
        "HEARTBEAT",
    ]
    assert out.splitlines()[1].split()[:6] == ["ws1", "Ready", "true", "16", "64.0Gi", "2"]


class DropsAfter(httpx.SyncByteStream):
    """A log stream whose connection dies after the first chunk."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk

    def __iter__(self) -> Iterator[bytes]:
        yield self.chunk
        raise httpx.ReadError("connection reset by peer")


def test_logs_follow_reconnects_at_the_received_offset(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    offsets: list[str] = []

    def log(request: httpx.Request) -> httpx.Response:
        offsets.append(request.url.params["offset"])
        assert request.url.params["follow"] == "true"
        if len(offsets) == 1:
            return httpx.Response(200, stream=DropsAfter(b"hello "))
        if len(offsets) == 2:
            raise httpx.ConnectError("connection refused")  # the node is restarting
        return httpx.Response(200, content=b"world\n")

    fake = Fake({("GET", "/api/v1/stageruns/ulm.1.render/log"): log})
    code = winsctl.main(["logs", "-f", "ulm.1.render"], client_factory=fake.factory)
    out, err = capsysbinary.readouterr()
    assert (code, out, err) == (0, b"hello world\n", b"")
    assert offsets == ["0", "6", "6"]


def test_logs_of_a_project_shows_its_latest_run(capsys: pytest.CaptureFixture[str]) -> None:
    runs = as_list(stagerun("ulm.1.extract"), stagerun("ulm.2.render"))
    fake = Fake(
        {
            ("GET", "/api/v1/stageruns"): httpx.Response(200, json=runs),
            ("GET", "/api/v1/stageruns/ulm.2.render/log"): httpx.Response(200, content=b"rendered\n"),
        }
    )
    code, out, _ = run(fake, ["logs", "ulm"], capsys)
    assert (code, out) == (0, "rendered\n")
    assert fake.requests[1].url.params["follow"] == "false"


def test_cp_upload_resumes_with_content_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(files, "CHUNK", 3)  # several chunks, never the whole file at once
    data = b"0123456789"
    source = tmp_path / "clip.mp4"
    source.write_bytes(data)
    url = "/api/v1/files/resources/videos/clip.mp4"
    fake = Fake(
        {
            ("HEAD", "/api/v1/files/resources/videos"): httpx.Response(
                200, headers={"X-Winslow-Type": "directory"}
            ),
            ("HEAD", url): httpx.Response(200, headers={"Upload-Offset": "4"}),
            ("PUT", url): httpx.Response(201, json={"size": 10}),
        }
    )
    code, out, err = run(fake, ["cp", str(source), "resources/videos", "--quiet"], capsys)
    assert (code, out, err) == (0, "", "")
    head, put = fake.requests[1], fake.requests[2]
    assert head.url.params["upload"] == "true"
    assert put.headers["Content-Range"] == "bytes 4-9/10"
    assert put.headers["Content-Length"] == "6"
    assert "Transfer-Encoding" not in put.headers
    assert put.headers["X-Sha256"] == hashlib.sha256(data).hexdigest()
    assert put.content == b"456789"


def test_cp_sends_a_large_file_as_a_piece_then_its_last_byte_with_the_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(files, "OVERLAP_MIN", 5)
    monkeypatch.setattr(files, "CHUNK", 3)
    data = b"0123456789"
    source = tmp_path / "clip.mp4"
    source.write_bytes(data)
    url = "/api/v1/files/resources/clip.mp4"
    fake = Fake(
        {
            ("HEAD", url): httpx.Response(200, headers={"Upload-Offset": "4"}),
            ("PUT", url): httpx.Response(202, json={"complete": False}),
        }
    )
    code, _, err = run(fake, ["cp", str(source), "resources/clip.mp4", "-q"], capsys)
    assert (code, err) == (0, "")
    piece, last = fake.requests[-2:]
    assert piece.headers["Content-Range"] == "bytes 4-8/10"
    assert piece.content == b"45678"
    assert "X-Sha256" not in piece.headers
    assert last.headers["Content-Range"] == "bytes 9-9/10"
    assert last.content == b"9"
    assert last.headers["X-Sha256"] == hashlib.sha256(data).hexdigest()


def test_cp_upload_from_scratch_sends_no_content_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"abc")
    url = "/api/v1/files/resources/clip.mp4"
    fake = Fake({("HEAD", url): httpx.Response(404), ("PUT", url): httpx.Response(201)})
    code, _, _ = run(fake, ["cp", str(source), "resources/", "-q"], capsys)
    assert code == 0
    put = fake.requests[-1]
    assert "Content-Range" not in put.headers
    assert put.content == b"abc"


def test_cp_download_resumes_the_part_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = b"0123456789"
    (tmp_path / ".clip.mp4.part").write_bytes(data[:3])

    def download(request: httpx.Request) -> httpx.Response:
        assert request.headers["Range"] == "bytes=3-"
        headers = {"Content-Range": "bytes 3-9/10", "X-Sha256": hashlib.sha256(data).hexdigest()}
        return httpx.Response(206, content=data[3:], headers=headers)

    fake = Fake(
        {
            ("HEAD", "/api/v1/files/resources/clip.mp4"): httpx.Response(
                200, headers={"X-Winslow-Type": "file"}
            ),
            ("GET", "/api/v1/files/resources/clip.mp4"): download,
        }
    )
    code, _, err = run(fake, ["cp", "resources/clip.mp4", str(tmp_path), "-q"], capsys)
    assert (code, err) == (0, "")
    assert (tmp_path / "clip.mp4").read_bytes() == data
    assert not (tmp_path / ".clip.mp4.part").exists()


def test_connection_refused_names_the_server_and_how_to_set_it(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    code, _, err = run(Fake({("GET", "/api/v1/nodes"): refuse}), ["get", "nodes"], capsys)
    assert code == 1
    assert err.startswith("error: cannot reach the Winslow API at http://127.0.0.1:8080")
    assert "--server" in err and "WINSLOW_SERVER" in err


def test_global_options_after_the_verb_and_token_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config" / "winslow" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("server: http://ws2:8080\ntoken: s3cret\n")
    fake = Fake({("GET", "/api/v1/pipelines"): httpx.Response(200, json=as_list())})
    run(fake, ["get", "pl"], capsys)
    run(fake, ["get", "pl", "--server", "http://ws9:1", "--token", "t"], capsys)
    assert fake.servers == [("http://ws2:8080", "s3cret"), ("http://ws9:1", "t")]
    assert fake.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_actions_print_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    fake = Fake(
        {
            ("POST", "/api/v1/projects/ulm/resume"): httpx.Response(200, json={}),
            ("POST", "/api/v1/projects/ulm/env"): httpx.Response(200, json={}),
            ("POST", "/api/v1/stageruns/ulm.2.render/kill"): httpx.Response(
                200, json={"killed": ["ulm.2.render"]}
            ),
        }
    )
    assert (
        run(fake, ["resume", "ulm", "--from", "render"], capsys)[1]
        == "project/ulm resumed from stage render\n"
    )
    assert json.loads(fake.requests[-1].content) == {"from": "render"}
    assert (
        run(fake, ["set", "env", "ulm", "A=1", "B-", "--unset", "C"], capsys)[1]
        == "project/ulm env updated\n"
    )
    assert json.loads(fake.requests[-1].content) == {"set": {"A": "1"}, "unset": ["C", "B"]}
    assert run(fake, ["kill", "ulm.2.render"], capsys)[1] == "stagerun/ulm.2.render killed\n"


def test_watch_prints_only_rows_that_change(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(commands, "POLL_INTERVAL", 0.0)
    phases = iter(["Running", "Running", "Running", "Succeeded"])

    def listing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=as_list(stagerun("ulm.1.render", next(phases, "Succeeded"))))

    fake = Fake({("GET", "/api/v1/stageruns"): listing})
    code, out, _ = run(fake, ["get", "sr", "-w", "--timeout", "0.05"], capsys)
    assert code == 0
    assert len(fake.requests) > 4
    assert [line.split()[3] for line in out.splitlines()] == ["PHASE", "Running", "Succeeded"]


class Chunks(httpx.SyncByteStream):
    """A log stream that arrives in these chunks, split wherever the test says."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


HOSTILE = (
    b"\x1b]0;pwned\x07title\n",  # set the window title, ended by BEL
    b"\x1b[2",  # clear the screen, split across chunks
    b"J clear \xc2",  # the C1 CSI (U+009B) split in the middle of its UTF-8 bytes
    b"\x9b31m c1 caf\xc3",
    b"\xa9 \x7f tab\tend\r\n\xff",  # DEL, CR, and a byte that is not UTF-8
    b"\x00\xe2\x82",  # NUL, then a character cut off by the end of the log
)
INERT = "^[]0;pwned^Gtitle\n^[[2J clear M-^[31m c1 café ^? tab\tend\r\n\ufffd^@\ufffd"


@pytest.mark.parametrize("follow", [False, True])
def test_logs_show_control_characters_inert_even_split_across_chunks(
    capsysbinary: pytest.CaptureFixture[bytes], follow: bool
) -> None:
    fake = Fake(
        {
            ("GET", "/api/v1/stageruns/ulm.1.render/log"): lambda _: httpx.Response(
                200, stream=Chunks(*HOSTILE)
            )
        }
    )
    argv = ["logs", *(["-f"] if follow else []), "ulm.1.render"]
    code = winsctl.main(argv, client_factory=fake.factory)
    out, err = capsysbinary.readouterr()
    assert (code, out.decode(), err) == (0, INERT, b"")
    assert not any(0x80 <= ord(c) < 0xA0 or (ord(c) < 0x20 and c not in "\n\t\r") for c in out.decode())


def test_logs_raw_writes_the_bytes_as_they_are(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    fake = Fake(
        {
            ("GET", "/api/v1/stageruns/ulm.1.render/log"): lambda _: httpx.Response(
                200, stream=Chunks(*HOSTILE)
            )
        }
    )
    code = winsctl.main(["logs", "--raw", "ulm.1.render"], client_factory=fake.factory)
    assert (code, capsysbinary.readouterr().out) == (0, b"".join(HOSTILE))


def test_logs_filter_a_character_split_by_a_reconnect(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    offsets: list[str] = []

    def log(request: httpx.Request) -> httpx.Response:
        offsets.append(request.url.params["offset"])
        if len(offsets) == 1:
            return httpx.Response(200, stream=DropsAfter(b"caf\xc3"))
        return httpx.Response(200, content=b"\xa9\x1b[2J\n")

    fake = Fake({("GET", "/api/v1/stageruns/ulm.1.render/log"): log})
    code = winsctl.main(["logs", "-f", "ulm.1.render"], client_factory=fake.factory)
    assert (code, capsysbinary.readouterr().out.decode()) == (0, "café^[[2J\n")
    assert offsets == ["0", "4"]


def listing(*entries: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"path": "resources", "entries": list(entries)})


DIRECTORY = httpx.Response(200, headers={"X-Winslow-Type": "directory"})
LEFTOVER = {"name": "v.bin", "type": "upload", "size": 12 * 2**20, "mtime": "2026-01-01T00:00:00+00:00"}


def test_ls_shows_an_unfinished_upload_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    clip = {"name": "clip.mp4", "type": "file", "size": 10, "mtime": "2026-01-01T00:00:00+00:00"}
    fake = Fake(
        {
            ("HEAD", "/api/v1/files/resources"): DIRECTORY,
            ("GET", "/api/v1/files/resources"): listing(clip, LEFTOVER),
        }
    )
    code, out, _ = run(fake, ["ls", "resources"], capsys)
    assert (code, out) == (0, "clip.mp4\nv.bin (unfinished upload, 12.0Mi)\n")
    code, out, _ = run(fake, ["ls", "-l", "resources"], capsys)
    assert code == 0
    last = out.splitlines()[-1].split()
    assert (last[0], last[1], last[-3:]) == ("u", "12.0Mi", ["v.bin", "(unfinished", "upload)"])


def test_rm_reaches_an_unfinished_upload_that_has_no_path_of_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = Fake(
        {
            ("HEAD", "/api/v1/files/resources/v.bin"): httpx.Response(404),
            ("HEAD", "/api/v1/files/resources"): DIRECTORY,
            ("GET", "/api/v1/files/resources"): listing(LEFTOVER),
            ("DELETE", "/api/v1/files/resources/v.bin"): httpx.Response(
                200, json={"deleted": "resources/v.bin"}
            ),
        }
    )
    code, out, _ = run(fake, ["rm", "resources/v.bin"], capsys)
    assert (code, out) == (0, "resources/v.bin: unfinished upload deleted\n")
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].url.params["upload"] == "true"


def test_cp_r_downloads_no_unfinished_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = Fake({("GET", "/api/v1/files/resources"): listing(LEFTOVER)})
    assert list(files.remote_tree(fake.factory("http://x", None), "resources", tmp_path / "out")) == []
