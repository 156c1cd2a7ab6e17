"""File transfer through the REST API over loopback, beside `cp` and a bare socket, in the same run.

A real `winslow node` (observer, `--no-execute`) serves a temp share on the same file system as
the baseline copies. One file (1 GiB; `--quick` 256 MiB) is copied 3 times each way:

  baselines
    cp               `cp SRC DST` (no fsync, like a download)
    cp + fsync       `cp`, then fsync of the copy: the durability an upload gives before its rename
    tcp, no HTTP     the file sent with sendfile over a bare loopback socket and written to a new
                     file by a 1 MiB recv/write loop: what any network copy costs on this machine
  the API, with winsctl's transport for file bodies (api.winsctl.bulk)
    PUT              upload, timed until the 201 (the file is fsynced and renamed into place)
    PUT + sha256     the same with X-Sha256: the node hashes while it writes and checks before rename
    GET              download into a new file (no fsync)
  end to end
    winsctl cp up    `winsctl cp FILE resources/...` as a user runs it (a new process; X-Sha256)
    winsctl cp down  `winsctl cp resources/... FILE`
    curl up / down   the same with curl, where installed (curl reads 64 KiB at a time)

`sync` runs before each copy so none pays another's write-back; the page cache is not dropped and
every copy is deleted after use, so each one writes into memory the previous one just freed. On a
VM that is the largest noise: pages the host took back must be handed out again, and a download
of 1 GiB took 0.5 s or 1.5 to 3 s depending on that alone, with the difference all in kernel time.
Each kind of copy therefore runs its 5 times in a row, so that it meets the memory its own
previous run freed, not whatever another kind of copy left; and since interference only ever slows
a copy down, MiB/s and the ratios come from the best run (as timeit does), the median beside it.
Ratios above 1 mean faster than the baseline. `winsctl cp up` hashes the file while it sends it,
and the node hashes it again as it arrives: on one machine those two share its cores.

Usage: python bench/files.py [--quick] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
import yaml
from _util import median, table

from tests.harness import NodeProcess
from winslow.api.winsctl.bulk import BulkTransport

REPS = 5
CHUNK = 1 << 20
URL = "/api/v1/files/resources/bench.bin"


def make_file(path: Path, size: int) -> str:
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for i in range(size // CHUNK):
            chunk = i.to_bytes(8, "little") + block[8:]  # no two blocks alike
            fh.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def start_node(base: Path) -> tuple[NodeProcess, str]:
    """A node on a fresh share: it makes the admin user and writes its token to our config file,
    where the winsctl runs below find it too."""
    config = base / "config.yaml"
    os.environ["WINSLOW_CONFIG"] = str(config)
    node = NodeProcess(base / "share", "bench", "--no-execute", "--log-level", "WARNING").start()
    return node, str(yaml.safe_load(config.read_text())["token"])


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def bare_tcp(src: Path, dst: Path) -> None:
    """sendfile into a loopback socket; a recv_into/write loop out of it into a new file."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = socket.create_connection(server.getsockname())
        receiver, _ = server.accept()

    def send() -> None:
        with src.open("rb") as fh, sender:
            sender.sendfile(fh)

    thread = threading.Thread(target=send)
    thread.start()
    buffer = memoryview(bytearray(CHUNK))
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with receiver:
        while got := receiver.recv_into(buffer):
            os.write(fd, buffer[:got])
    os.close(fd)
    thread.join()


def check_put(reply: httpx.Response, sha: str | None) -> None:
    if reply.status_code != 201 or (sha is not None and reply.json().get("sha256") != sha):
        raise SystemExit(f"upload failed: {reply.status_code} {reply.text}")


def download(http: httpx.Client, dst: Path, size: int) -> None:
    with http.stream("GET", URL) as reply, dst.open("wb") as fh:
        for chunk in reply.iter_raw():
            fh.write(chunk)
    if dst.stat().st_size != size:
        raise SystemExit(f"download got {dst.stat().st_size} of {size} bytes")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB (< 1 min)")
    ap.add_argument(
        "--dir", type=Path, default=Path("/var/tmp"), help="file system to use (default /var/tmp)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (share, node-bench.log)")
    args = ap.parse_args()
    size = (256 if args.quick else 1024) << 20
    base = Path(tempfile.mkdtemp(prefix="winslow-bench-files-", dir=args.dir))
    node = None
    times: dict[str, list[float]] = {}
    try:
        src, copy = base / "source.bin", base / "copy.bin"
        on_share = base / "share" / "resources" / "bench.bin"
        sha = make_file(src, size)
        node, token = start_node(base)
        url = node.url
        auth = f"Authorization: Bearer {token}"
        winsctl = [sys.executable, "-m", "winslow.api.winsctl", "cp", "-q"]

        def cp() -> None:
            subprocess.run(["cp", str(src), str(copy)], check=True)

        def cp_fsync() -> None:
            cp()
            fsync(copy)

        timeout = httpx.Timeout(60.0, read=600.0, write=600.0)
        http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=BulkTransport(),
        )
        length = {"Content-Length": str(size)}
        steps: list[tuple[str, Callable[[], object], Path]] = [
            ("cp", cp, copy),
            ("cp + fsync", cp_fsync, copy),
            ("tcp, no HTTP", lambda: bare_tcp(src, copy), copy),
            ("PUT", lambda: check_put(http.put(URL, content=chunks(src), headers=length), None), on_share),
            (
                "PUT + sha256",
                lambda: check_put(
                    http.put(URL, content=chunks(src), headers={**length, "X-Sha256": sha}), sha
                ),
                on_share,
            ),
            ("GET", lambda: download(http, copy, size), copy),
            (
                "winsctl cp up",
                lambda: subprocess.run([*winsctl, str(src), "resources/bench.bin"], check=True),
                on_share,
            ),
            (
                "winsctl cp down",
                lambda: subprocess.run([*winsctl, "resources/bench.bin", str(copy)], check=True),
                copy,
            ),
        ]
        if shutil.which("curl"):
            curl = ["curl", "-sSf", "-H", auth, "-H", "Expect:"]
            steps += [
                (
                    "curl up",
                    lambda: subprocess.run([*curl, "-o", "/dev/null", "-T", str(src), url + URL], check=True),
                    on_share,
                ),
                ("curl down", lambda: subprocess.run([*curl, "-o", str(copy), url + URL], check=True), copy),
            ]
        for name, step, made in steps:
            for _ in range(REPS):
                if name.endswith("down") or name == "GET":  # a download needs the file on the share
                    shutil.copyfile(src, on_share)
                os.sync()
                start = time.perf_counter()
                step()
                times.setdefault(name, []).append(time.perf_counter() - start)
                for path in (made, on_share, copy):
                    path.unlink(missing_ok=True)
        http.close()
    finally:
        if node is not None:
            node.stop()
        if args.keep:
            print(f"[kept {base}]", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    mib = size / (1 << 20)
    cp_s, tcp_s = min(times["cp"]), min(times["tcp, no HTTP"])
    rows = [
        [name, min(runs), median(runs), mib / min(runs), cp_s / min(runs), tcp_s / min(runs)]
        for name, runs in times.items()
    ]
    print(
        table(
            f"file transfer over loopback vs cp, {size >> 20} MiB on {args.dir}, best and median of {REPS}",
            ["copy", "best s", "median s", "MiB/s", "x cp", "x tcp"],
            rows,
        )
    )
    for name, runs in times.items():
        print(f"  {name}: runs (s): " + " ".join(f"{x:.2f}" for x in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
