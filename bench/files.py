"""File transfer through the REST API: upload and download over loopback beside `cp` of the same file.

A real `winslow node` (observer, `--no-execute`) serves a temp share on the same file system as
the baseline copies. One file (1 GiB; `--quick` 256 MiB) is copied 3 times each way:
  cp           `cp SRC DST` (no fsync, like the download)
  cp + fsync   `cp`, then fsync of the copy: the durability an upload gives (it fsyncs before rename)
  upload       PUT /api/v1/files/resources/... streamed from the file with X-Sha256 (what winsctl
               sends; the node hashes while it writes), timed until the 201
  download     GET of the uploaded file streamed into a local file (no fsync)
  curl ...     the same upload and download with curl, where installed: the node's own speed,
               without the Python client's share of the 2 cores of a small machine
`sync` runs before each copy so none pays another's write-back; the page cache is not dropped, and
every copy is deleted after use, so each one writes into memory the previous one just freed (on a
VM, pages the host must first hand back cost several times more: writing 1 GiB anew was measured
at 0.4 to 5.5 GB/s depending on that alone).
Ratios above 1 mean the API is faster than the baseline.

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
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
import yaml
from _util import ROOT, median, table

REPS = 3
CHUNK = 1 << 20


def make_file(path: Path, size: int) -> str:
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for i in range(size // CHUNK):
            chunk = i.to_bytes(8, "little") + block[8:]  # no two blocks alike
            fh.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def start_node(base: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """A node on a fresh share: it makes the admin user and writes its token to our config file."""
    config = base / "config.yaml"
    port = free_port()
    env = {**os.environ, "WINSLOW_CONFIG": str(config)}
    cmd = [sys.executable, "-m", "api.node_cli", "node", "--share", str(base / "share"), "--name", "bench"]
    cmd += ["--port", str(port), "--no-execute", "--log-level", "WARNING"]
    log = (base / "node.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, str(yaml.safe_load(config.read_text())["token"])
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the node did not start: {(base / 'node.log').read_text()[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def time_cp(src: Path, dst: Path, fsync: bool) -> float:
    os.sync()
    t = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - t
    dst.unlink()
    return elapsed


def time_curl(url: str, token: str, *args: str) -> float:
    """The same transfer with a C client, so the figure is the node's, not the Python client's."""
    os.sync()
    t = time.perf_counter()
    subprocess.run(["curl", "-sSf", "-H", f"Authorization: Bearer {token}", *args, url], check=True)
    return time.perf_counter() - t


def time_upload(http: httpx.Client, src: Path, sha: str) -> float:
    os.sync()
    size = src.stat().st_size
    headers = {"X-Sha256": sha, "Content-Length": str(size)}
    t = time.perf_counter()
    reply = http.put("/api/v1/files/resources/bench.bin", content=chunks(src), headers=headers)
    elapsed = time.perf_counter() - t
    if reply.status_code != 201 or reply.json().get("sha256") != sha:
        raise SystemExit(f"upload failed: {reply.status_code} {reply.text}")
    return elapsed


def time_download(http: httpx.Client, dst: Path, size: int) -> float:
    os.sync()
    t = time.perf_counter()
    with http.stream("GET", "/api/v1/files/resources/bench.bin") as reply, dst.open("wb") as fh:
        for chunk in reply.iter_raw(CHUNK):
            fh.write(chunk)
    elapsed = time.perf_counter() - t
    if dst.stat().st_size != size:
        raise SystemExit(f"download got {dst.stat().st_size} of {size} bytes")
    dst.unlink()
    http.delete("/api/v1/files/resources/bench.bin")  # every copy starts with the same free memory
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB (< 30 s)")
    ap.add_argument(
        "--dir", type=Path, default=Path("/var/tmp"), help="file system to use (default /var/tmp)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (share, node.log)")
    args = ap.parse_args()
    size = (256 if args.quick else 1024) << 20
    base = Path(tempfile.mkdtemp(prefix="winslow-bench-files-", dir=args.dir))
    proc = None
    times: dict[str, list[float]] = {"cp": [], "cp + fsync": [], "upload": [], "download": []}
    try:
        src = base / "source.bin"
        sha = make_file(src, size)
        proc, url, token = start_node(base)
        timeout = httpx.Timeout(60.0, read=600.0, write=600.0)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        ) as http:
            for _ in range(REPS):
                times["cp"].append(time_cp(src, base / "copy.bin", fsync=False))
                times["cp + fsync"].append(time_cp(src, base / "copy.bin", fsync=True))
                times["upload"].append(time_upload(http, src, sha))
                times["download"].append(time_download(http, base / "download.bin", size))
                if shutil.which("curl"):
                    file_url, copy = f"{url}/api/v1/files/resources/curl.bin", base / "curl.bin"
                    sent = time_curl(
                        file_url, token, "-o", "/dev/null", "-T", str(src), "-H", f"X-Sha256: {sha}"
                    )
                    times.setdefault("curl upload", []).append(sent)
                    times.setdefault("curl download", []).append(time_curl(file_url, token, "-o", str(copy)))
                    copy.unlink()
                    http.delete("/api/v1/files/resources/curl.bin")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        if args.keep:
            print(f"[kept {base}]", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    mib = size / (1 << 20)
    cp, cp_sync = median(times["cp"]), median(times["cp + fsync"])
    rows = [
        [name, median(runs), mib / median(runs), cp / median(runs), cp_sync / median(runs)]
        for name, runs in times.items()
    ]
    print(
        table(
            f"file transfer over loopback vs cp, {size >> 20} MiB on {args.dir}, median of {REPS}",
            ["copy", "s", "MiB/s", "x cp", "x cp+fsync"],
            rows,
        )
    )
    for name, runs in times.items():
        print(f"  {name}: runs (s): " + " ".join(f"{x:.2f}" for x in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
