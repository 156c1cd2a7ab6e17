"""Real `winslow node` processes: a 2 GiB upload in bounded memory, interrupted and resumed; the
quick start's admin token; HTTPS."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from tests.harness import NodeProcess, free_port, wait_for
from winslow.api import winsctl
from winslow.api.identity import users
from winslow.api.winsctl import clientconfig

MIB = 1 << 20
SIZE = 2 << 30
MEMORY_LIMIT = 200 * 10**6
BLOCK = os.urandom(MIB)


def chunk(i: int) -> bytes:
    """MiB number i of the test file: unique per MiB, computed on demand (never 2 GiB in memory)."""
    return i.to_bytes(8, "little") + BLOCK[8:]


def data(start: int, stop: int) -> Iterator[bytes]:
    """Bytes [start, stop) of the test file."""
    while start < stop:
        index, skip = divmod(start, MIB)
        piece = chunk(index)[skip : skip + stop - start]
        start += len(piece)
        yield piece


class Interrupted(Exception):
    pass


def cut_after(stream: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """A client that dies mid-upload: the connection drops after `limit` bytes."""
    sent = 0
    for piece in stream:
        if sent >= limit:
            raise Interrupted
        sent += len(piece)
        yield piece


class PeakMemory(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.stop.wait(0.02)


def token_for(node: NodeProcess) -> str:
    config = clientconfig.load(clientconfig.config_file())
    assert config["server"] == node.url
    return str(config["token"])


@pytest.mark.timeout(300)
def test_a_2gib_upload_streams_in_bounded_memory_is_resumed_and_verified(
    share: Path, nodes: list[NodeProcess]
) -> None:
    node = NodeProcess(share, "files", "--no-execute").start()
    nodes.append(node)
    expected = hashlib.sha256()
    for piece in data(0, SIZE):
        expected.update(piece)
    url = "/api/v1/files/resources/videos/drone.mp4"
    headers = {"Authorization": f"Bearer {token_for(node)}", "X-Sha256": expected.hexdigest()}
    memory = PeakMemory(node.proc.pid if node.proc else 0)
    memory.start()
    timeout = httpx.Timeout(60.0, read=300.0, write=300.0)
    with httpx.Client(base_url=node.url, headers=headers, timeout=timeout) as client:
        with pytest.raises(Interrupted):
            client.put(
                url, content=cut_after(data(0, SIZE), SIZE // 2), headers={"Content-Length": str(SIZE)}
            )
        offset = int(client.head(url, params={"upload": "true"}).headers["Upload-Offset"])
        assert 0 < offset <= SIZE // 2 + MIB
        assert client.head(url).status_code == 404  # not visible while unfinished

        resume = {"Content-Range": f"bytes {offset}-{SIZE - 1}/{SIZE}", "Content-Length": str(SIZE - offset)}
        reply = client.put(url, content=data(offset, SIZE), headers=resume)
        assert reply.status_code == 201, reply.text
        assert reply.json() == {
            "path": "resources/videos/drone.mp4",
            "complete": True,
            "size": SIZE,
            "sha256": expected.hexdigest(),
        }
        for start, stop in (
            (0, 99),
            (SIZE // 2 - 5, SIZE // 2 + 5),
            (offset - 3, offset + 3),
            (SIZE - 7, SIZE - 1),
        ):
            part = client.get(url, headers={"Range": f"bytes={start}-{stop}"})
            assert part.status_code == 206
            assert part.headers["Content-Range"] == f"bytes {start}-{stop}/{SIZE}"
            assert part.content == b"".join(data(start, stop + 1))
    memory.stop.set()
    memory.join()
    print(f"node RSS peaked at {memory.peak / 1e6:.0f} MB; resumed at byte {offset}")
    assert 0 < memory.peak < MEMORY_LIMIT, f"node RSS peaked at {memory.peak / 1e6:.0f} MB"
    target = share / "resources" / "videos" / "drone.mp4"
    assert target.stat().st_size == SIZE
    assert os.listdir(target.parent) == ["drone.mp4"]
    target.unlink()  # 2 GiB would otherwise outlive the test in pytest's kept temp folders


def test_the_first_node_on_a_share_makes_an_admin_whose_token_winsctl_uses(
    share: Path, nodes: list[NodeProcess]
) -> None:
    node = NodeProcess(share, "first", "--no-execute").start()
    nodes.append(node)
    token = token_for(node)
    assert users.UserDirectory(share / "settings" / "users.yaml").authenticate(token) == users.User(
        "admin", True
    )
    who = subprocess.run(
        [sys.executable, "-m", "winslow.api.winsctl", "--server", node.url, "get", "nodes"],
        capture_output=True,
        text=True,
    )
    assert who.returncode == 0, who.stderr
    assert httpx.get(f"{node.url}/api/v1/nodes").status_code == 401
    second = NodeProcess(share, "second", "--no-execute").start()
    nodes.append(second)
    assert token_for(node) == token  # the share had users already: the config file is left alone


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_a_node_given_a_certificate_serves_https_and_files_travel_over_it(
    tmp_path: Path, share: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]
    subprocess.run([*make, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "winslow.api.node.cli",
        "node",
        "--share",
        str(share),
        "--name",
        "tls",
        "--no-execute",
    ]
    command += ["--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"https://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{url}/healthz", verify=False).status_code == 200, 30, "HTTPS /healthz")
        config = yaml.safe_load(clientconfig.config_file().read_text())
        assert config["server"] == url
        reply = httpx.get(
            f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {config['token']}"}, verify=False
        )
        assert reply.json()["name"] == "admin"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # winsctl verifies the node's certificate
        data = os.urandom(3 * MIB + 5)
        (tmp_path / "clip.bin").write_bytes(data)
        assert winsctl.main(["cp", "-q", str(tmp_path / "clip.bin"), "resources/clip.bin"]) == 0
        assert winsctl.main(["cp", "-q", "resources/clip.bin", str(tmp_path / "back.bin")]) == 0
        assert (tmp_path / "back.bin").read_bytes() == data
    finally:
        proc.terminate()
        proc.wait(15)
