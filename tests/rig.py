"""A share that behaves like NFS: each node on its own caching network mount of one directory.

An sshd on 127.0.0.1 (its own config, keys and port, started once per test session) serves the
backing directory over SFTP; every node gets its own sshfs mount of it, with the kernel caching
attributes, names and "no such file" answers for `attr_timeout`, `entry_timeout` and
`negative_timeout` seconds and sshfs caching directory listings and attributes for
`dcache_timeout` seconds, so that one node sees another's writes late, as NFS clients do.
Tests read the backing directory itself: the truth, as the NFS server has it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHES = {
    "local": None,
    "sshfs-long": 10,  # seconds of attribute, name, negative and listing caching
    "sshfs-short": 1,
}


def available() -> str | None:
    """None when the rig can run here, else why not."""
    for tool in ("sshfs", "fusermount3", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install sshfs openssh-server)"
    if not Path("/usr/sbin/sshd").exists():
        return "/usr/sbin/sshd is missing (apt-get install openssh-server)"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    """An sshd of the tests' own, for the current user, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.key = folder / "id_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sshd:
        self.folder.mkdir(parents=True, exist_ok=True)
        host_key = self.folder / "host_ed25519"
        for key in (self.key, host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (self.folder / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "PidFile none",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        log = (self.folder / "sshd.log").open("ab")
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.folder / 'sshd.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Rig:
    """Where each node finds the share: the backing folder itself, or a mount of its own."""

    kind: str
    backing: Path
    sshd: Sshd | None = None
    mounts: dict[str, Path] = field(default_factory=dict)

    @property
    def cache(self) -> int | None:
        return CACHES[self.kind]

    def share_for(self, node: str) -> Path:
        if self.cache is None:
            return self.backing
        if node not in self.mounts:
            self.mounts[node] = self._mount(node)
        return self.mounts[node]

    def _mount(self, node: str) -> Path:
        assert self.sshd is not None and self.cache is not None
        self.backing.mkdir(parents=True, exist_ok=True)
        target = self.backing.parent / f"mnt-{node}"
        target.mkdir(exist_ok=True)
        t = self.cache
        options = ",".join(
            [
                f"port={self.sshd.port}",
                f"IdentityFile={self.sshd.key}",
                "StrictHostKeyChecking=no",
                "UserKnownHostsFile=/dev/null",
                "LogLevel=ERROR",
                f"attr_timeout={t}",
                f"entry_timeout={t}",
                f"negative_timeout={t}",
                f"dcache_timeout={t}",
            ]
        )
        user = os.environ.get("USER") or "root"
        subprocess.run(
            ["sshfs", "-o", options, f"{user}@127.0.0.1:{self.backing}", str(target)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return target

    def unmount_all(self) -> None:
        for target in self.mounts.values():
            subprocess.run(["fusermount3", "-u", "-z", str(target)], capture_output=True, check=False)
        self.mounts.clear()
